import { defineConfig, devices } from "@playwright/test";
import { serverInfo } from "./e2e/server";

// The specs run against a real `dbaas serve --demo` that e2e/global-setup.ts starts on a free
// port with its own data directory. By default the console is the one that server serves at `/`
// (web/dist embedded); E2E_VIA_VITE=1 serves web/dist with `vite preview` instead, proxying the API.
const info = serverInfo();

export default defineConfig({
  testDir: "e2e",
  // The figures (e2e/perf.spec.ts) are a benchmark, run with `npm run bench`, not a test.
  testIgnore: process.env.E2E_BENCH === "1" ? [] : ["perf.spec.ts"],
  globalSetup: "./e2e/global-setup.ts",
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 15_000 },
  reporter: [["list"]],
  outputDir: "test-results/artifacts",
  use: {
    baseURL: info.baseURL,
    trace: "retain-on-failure",
    launchOptions: { executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium" },
  },
  projects: [{ name: "chromium", use: { ...devices["Desktop Chrome"], channel: undefined } }],
  ...(process.env.E2E_VIA_VITE === "1"
    ? {
        webServer: {
          command: `npx vite preview --port ${info.vitePort} --strictPort`,
          url: `http://127.0.0.1:${info.vitePort}/`,
          env: { DBAAS_URL: info.apiURL },
          reuseExistingServer: false,
        },
      }
    : {}),
});
