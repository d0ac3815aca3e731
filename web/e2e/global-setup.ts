// Starts `dbaas serve --demo` on a free port with a fresh data directory, waits until it is
// ready, and creates the test users. Returns the teardown that stops it.
import { spawn } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ADMIN, DEVELOPER, dbaasBinary, serverInfo } from "./server";

async function waitReady(url: string, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    try {
      if ((await fetch(`${url}/health/ready`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`dbaas did not become ready at ${url} within ${ms} ms (see test-results/dbaas.log)`);
}

async function api(url: string, path: string, init: RequestInit & { token?: string } = {}): Promise<unknown> {
  const res = await fetch(`${url}${path}`, {
    ...init,
    headers: { "content-type": "application/json", ...(init.token ? { authorization: `Bearer ${init.token}` } : {}) },
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${init.method ?? "GET"} ${path}: ${res.status} ${text}`);
  return text ? (JSON.parse(text) as unknown) : null;
}

export default async function globalSetup(): Promise<() => Promise<void>> {
  const { port, apiURL } = serverInfo();
  const bin = dbaasBinary();
  if (!existsSync(bin)) throw new Error(`no dbaas binary at ${bin} (set DBAAS_BIN)`);
  const dataDir = mkdtempSync(join(tmpdir(), "dbaas-e2e-"));
  mkdirSync("test-results", { recursive: true });
  const log = createWriteStream("test-results/dbaas.log");
  const child = spawn(bin, ["serve", "--demo"], {
    env: {
      ...process.env,
      DBAAS_LISTEN: `127.0.0.1:${port}`,
      DBAAS_DATA_DIR: dataDir,
      DBAAS_ADMIN_EMAIL: ADMIN.email,
      DBAAS_ADMIN_PASSWORD: ADMIN.password,
      DBAAS_DEMO_PROVISIONING_SECS: process.env.DBAAS_DEMO_PROVISIONING_SECS ?? "2",
      DBAAS_LOGIN_ATTEMPTS_PER_IP: "10000",
      DBAAS_LOGIN_ATTEMPTS_PER_ACCOUNT: "10000",
      DBAAS_RATE_LIMIT_PER_MINUTE: "100000",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await waitReady(apiURL, 60_000);
    const login = (await api(apiURL, "/api/v1/auth/login", {
      method: "POST",
      body: JSON.stringify({ email: ADMIN.email, password: ADMIN.password }),
    })) as { access_token: string };
    await api(apiURL, "/api/v1/users", {
      method: "POST",
      token: login.access_token,
      body: JSON.stringify({
        email: DEVELOPER.email,
        password: DEVELOPER.password,
        full_name: DEVELOPER.fullName,
        bindings: [{ role: "developer", domain: "demo", project: "default" }],
      }),
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return stop;
}
