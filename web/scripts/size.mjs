// Prints the JavaScript a first visit loads (the entry script and the chunks index.html preloads),
// raw and gzip-compressed, from dist/. Exits 1 above the 250 KB gzip budget.
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

const BUDGET = 250 * 1024;
const html = readFileSync("dist/index.html", "utf8");
const files = [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.js)"/g)].map((m) => m[1]);
let raw = 0;
let gz = 0;
for (const f of files) {
  const body = readFileSync(`dist/${f}`);
  const z = gzipSync(body, { level: 9 }).length;
  raw += body.length;
  gz += z;
  console.log(`${f}: ${(body.length / 1024).toFixed(1)} KB, ${(z / 1024).toFixed(1)} KB gzipped`);
}
console.log(`first-load JS: ${files.length} files, ${(raw / 1024).toFixed(1)} KB, ${(gz / 1024).toFixed(1)} KB gzipped (budget ${BUDGET / 1024} KB)`);
if (gz > BUDGET) process.exit(1);
