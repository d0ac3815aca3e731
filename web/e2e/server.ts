// Where the e2e server runs. Free ports are picked once per `playwright test` run and handed on
// through the environment (the config is evaluated again in each worker).
import { execFileSync } from "node:child_process";

export const ADMIN = { email: "admin@dbaas.local", password: "e2e-admin-password-0123" };
export const DEVELOPER = { email: "dev@dbaas.local", password: "e2e-developer-password-0123", fullName: "Dee Veloper" };

function freePort(): number {
  const script =
    "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{process.stdout.write(String(s.address().port));s.close()})";
  return Number(execFileSync(process.execPath, ["-e", script], { encoding: "utf8" }));
}

export function serverInfo() {
  process.env.E2E_DBAAS_PORT ??= String(freePort());
  process.env.E2E_VITE_PORT ??= String(freePort());
  const port = Number(process.env.E2E_DBAAS_PORT);
  const vitePort = Number(process.env.E2E_VITE_PORT);
  const apiURL = `http://127.0.0.1:${port}`;
  const baseURL = process.env.E2E_VIA_VITE === "1" ? `http://127.0.0.1:${vitePort}` : apiURL;
  return { port, vitePort, apiURL, baseURL };
}

export function dbaasBinary(): string {
  return process.env.DBAAS_BIN ?? `${process.env.CARGO_TARGET_DIR ?? "/var/tmp/kubedb-dbaas-target"}/debug/dbaas`;
}
