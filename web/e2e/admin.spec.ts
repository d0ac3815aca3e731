// The admin pages end to end against the harness's `dbaas serve --demo` (see global-setup.ts):
// onboard a second simulated cluster, find it in the audit log, an API key's life, and axe on
// every admin page. The tests run in order and share the server.
import { expect, test, type Page } from "@playwright/test";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ADMIN, dbaasBinary } from "./server";
import { expectAccessible, screenshot, signIn, watchConsole } from "./helpers";

test.describe.configure({ mode: "serial" });

// The browser logs every refused request (shown in words on the page) itself.
const EXPECTED = [/Failed to load resource/];
const PROVIDER = "e2e-sim-2";

let sim: ChildProcess | null = null;
let simDir = "";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      s.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

/** Starts `dbaas sim` on a free port; resolves with its kubeconfig once the file is written. */
async function startSim(): Promise<string> {
  simDir = mkdtempSync(join(tmpdir(), "dbaas-e2e-sim-"));
  const kubeconfig = join(simDir, "sim.kubeconfig");
  const port = await freePort();
  sim = spawn(dbaasBinary(), ["sim", "--listen", `127.0.0.1:${port}`, "--kubeconfig-out", kubeconfig], { stdio: "ignore" });
  const until = Date.now() + 30_000;
  while (Date.now() < until) {
    if (sim.exitCode !== null) throw new Error(`dbaas sim exited with ${sim.exitCode}`);
    if (existsSync(kubeconfig)) {
      const text = readFileSync(kubeconfig, "utf8");
      if (/current-context:/.test(text) && /server:/.test(text)) return text;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error("dbaas sim wrote no kubeconfig within 30 s");
}

test.afterAll(async () => {
  if (sim && sim.exitCode === null) {
    const exited = new Promise((r) => sim?.once("exit", r));
    sim.kill("SIGINT");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
    if (sim.exitCode === null) sim.kill("SIGKILL");
  }
  if (simDir) rmSync(simDir, { recursive: true, force: true });
});

async function openAdmin(page: Page, section: string, heading = section): Promise<void> {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Admin" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Administration" })).toBeVisible();
  await page.getByRole("navigation", { name: "Administration" }).getByRole("link", { name: section, exact: true }).click();
  await expect(page.getByRole("heading", { level: 1, name: heading })).toBeVisible();
}

test("an admin onboards a second simulated cluster and sees it healthy", async ({ page }) => {
  const check = watchConsole(page, EXPECTED);
  const kubeconfig = await startSim();
  await signIn(page, ADMIN);
  await openAdmin(page, "Providers");
  await expect(page.getByRole("row", { name: "demo-cluster" })).toContainText("Healthy");

  await page.getByRole("link", { name: "Onboard a provider" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Onboard a provider" })).toBeVisible();
  await page.getByLabel("Name", { exact: true }).fill(PROVIDER);
  await page.getByLabel("Region", { exact: true }).fill("eu-e2e");
  await page.getByLabel("Availability zone").fill("eu-e2e-1b");
  await page.getByLabel("CPU cores").fill("24");
  await page.getByLabel("Memory (GB)").fill("96");
  await page.getByLabel("Storage (GB)").fill("500");
  await page.getByLabel("Priority").fill("50");
  // Upload the file the simulator wrote, as an admin would; the form reads it into the text area.
  await page.getByLabel("Kubeconfig file").setInputFiles({ name: "sim.kubeconfig", mimeType: "text/plain", buffer: Buffer.from(kubeconfig) });
  await expect(page.getByLabel("Kubeconfig", { exact: true })).toHaveValue(kubeconfig);
  await expect(page.getByRole("region", { name: "What onboarding does" })).toContainText("https://127.0.0.1:");
  await expect(page.getByRole("region", { name: "What onboarding does" })).toContainText("19.2 CPU cores");
  await expectAccessible(page, "onboard a provider");
  await page.getByRole("button", { name: "Onboard provider" }).click();

  await expect(page.getByRole("heading", { level: 1, name: "Providers" })).toBeVisible();
  await expect(page.getByRole("status").filter({ hasText: `The provider ${PROVIDER} was onboarded.` })).toBeVisible();
  const row = page.getByRole("row", { name: PROVIDER });
  await expect(row).toContainText("Healthy");
  await expect(row).toContainText("eu-e2e / eu-e2e-1b");
  await expect(row).toContainText("Active");
  await expect(row.getByRole("meter", { name: `CPU of ${PROVIDER}: 0 of 19.2 cores, 0%` })).toBeVisible();
  await expectAccessible(page, "providers");
  await screenshot(page, "admin-01-providers");

  // Maintenance: the consequence first, then the state changes in the list.
  await row.getByRole("button", { name: `Start maintenance on ${PROVIDER}` }).click();
  const dialog = page.getByRole("dialog", { name: `Start maintenance on ${PROVIDER}` });
  await expect(dialog).toContainText("No new database will be placed");
  await dialog.getByRole("button", { name: "Start maintenance" }).click();
  await expect(row).toContainText("Maintenance");
  await row.getByRole("button", { name: `End maintenance on ${PROVIDER}` }).click();
  await page.getByRole("dialog", { name: `End maintenance on ${PROVIDER}` }).getByRole("button", { name: "End maintenance" }).click();
  await expect(row.getByRole("button", { name: `Start maintenance on ${PROVIDER}` })).toBeVisible();
  await expect(row).toContainText("Active");

  // Edit: only what changed is sent; the list shows the new priority.
  await row.getByRole("button", { name: `Edit ${PROVIDER}` }).click();
  const edit = page.getByRole("dialog", { name: `Edit ${PROVIDER}` });
  await edit.getByLabel("Priority").fill("60");
  await expectAccessible(page, "edit provider");
  await edit.getByRole("button", { name: "Save changes" }).click();
  await expect(edit).toHaveCount(0);
  await expect(row.getByRole("cell", { name: "60", exact: true })).toBeVisible();

  // A duplicate name is refused in words, and the form stays filled.
  await page.getByRole("link", { name: "Onboard a provider" }).click();
  await page.getByLabel("Name", { exact: true }).fill(PROVIDER);
  await page.getByLabel("Region", { exact: true }).fill("eu-e2e");
  await page.getByLabel("Kubeconfig", { exact: true }).fill(kubeconfig);
  await page.getByRole("button", { name: "Onboard provider" }).click();
  await expect(page.getByRole("alert").filter({ hasText: "Not onboarded" })).toBeVisible();
  await expect(page.getByLabel("Name", { exact: true })).toHaveValue(PROVIDER);
  check();
});

test("the audit log shows the onboarding, filtered by action", async ({ page }) => {
  const check = watchConsole(page, EXPECTED);
  await signIn(page, ADMIN);
  await openAdmin(page, "Audit log");
  await page.getByLabel("Action").fill("provider.create");
  await page.getByLabel("Outcome").selectOption("success");
  await page.getByRole("button", { name: "Apply filters" }).click();
  await expect(page).toHaveURL(/action=provider\.create/);
  const table = page.getByRole("table", { name: "Audit log entries" });
  await expect(table.locator("caption")).toContainText("matching 2 filters");
  const rows = table.locator("tbody tr");
  await expect(rows.first()).toContainText("provider.create");
  await expect(rows.first()).toContainText(ADMIN.email);
  // Every row the filter lets through is a provider.create.
  for (const text of await rows.allInnerTexts()) expect(text).toContain("provider.create");
  await expectAccessible(page, "audit log");
  await screenshot(page, "admin-02-audit");

  await rows.first().getByRole("button", { name: /^Details of provider\.create/ }).click();
  const dialog = page.getByRole("dialog", { name: "Audit entry: provider.create" });
  await expect(dialog).toContainText("POST /api/v1/providers");
  await expect(dialog).toContainText("success");
  await expectAccessible(page, "audit entry");
  await dialog.getByRole("button", { name: "Close" }).click();

  // A reload keeps the filter (it lives in the URL).
  await page.reload();
  await expect(page.getByLabel("Action")).toHaveValue("provider.create");
  check();
});

test("create an API key, see it once, revoke it", async ({ page }) => {
  const check = watchConsole(page, EXPECTED);
  await signIn(page, ADMIN);
  await openAdmin(page, "API keys");
  await page.getByLabel("Key name").fill("e2e-key");
  await page.getByLabel("Description").fill("created by the e2e suite");
  await page.getByRole("button", { name: "Create API key" }).click();
  const key = page.getByRole("textbox", { name: "New API key" });
  await expect(key).toHaveValue(/^dbaas_/);
  await expect(page.getByText("it will not be shown again")).toBeVisible();
  await expect(page.getByRole("button", { name: "Copy API key" })).toBeVisible();
  const secret = await key.inputValue();
  await expectAccessible(page, "api keys (new key)");

  // The key works against the API while it lives.
  const ok = await page.request.get("/api/v1/auth/me", { headers: { "x-api-key": secret } });
  expect(ok.status()).toBe(200);

  await page.getByRole("button", { name: "I have copied it" }).click();
  await expect(page.getByRole("textbox", { name: "New API key" })).toHaveCount(0);
  expect(await page.content()).not.toContain(secret);
  await page.reload();
  await expect(page.getByRole("table", { name: "Your API keys" })).toContainText("e2e-key");
  expect(await page.content()).not.toContain(secret);

  await page.getByRole("button", { name: "Revoke e2e-key" }).click();
  const dialog = page.getByRole("dialog", { name: "Revoke the API key e2e-key" });
  await expect(dialog).toContainText("refused from now on");
  await dialog.getByRole("button", { name: "Revoke key" }).click();
  await expect(dialog).toHaveCount(0);
  await expect(page.getByRole("cell", { name: /e2e-key/ })).toHaveCount(0);
  const refused = await page.request.get("/api/v1/auth/me", { headers: { "x-api-key": secret } });
  expect(refused.status()).toBe(401);
  check();
});

test("every admin page passes axe", async ({ page }) => {
  const check = watchConsole(page, EXPECTED);
  await signIn(page, ADMIN);
  const pages: [string, string | RegExp][] = [
    ["/admin", "Administration"],
    ["/admin/providers", "Providers"],
    ["/admin/providers/new", "Onboard a provider"],
    ["/admin/tenants", "Tenants"],
    ["/admin/tenants/demo", /^Tenant /],
    ["/admin/tenants/demo/projects/default", "Project default"],
    ["/admin/users", "Users"],
    ["/admin/audit", "Audit log"],
    ["/admin/api-keys", "API keys"],
  ];
  for (const [path, heading] of pages) {
    await page.goto(path);
    await expect(page.getByRole("heading", { level: 1, name: heading })).toBeVisible();
    await expect(page.locator(".loading")).toHaveCount(0);
    await expectAccessible(page, path);
  }
  // The forms that open in place.
  await page.goto("/admin/tenants");
  await page.getByRole("button", { name: "Create tenant" }).click();
  await expect(page.getByRole("form", { name: "Create a tenant" })).toBeVisible();
  await expectAccessible(page, "create tenant");
  await page.goto("/admin/users");
  await page.getByRole("button", { name: "Create user" }).click();
  await expectAccessible(page, "create user");
  await page.goto("/admin/tenants/demo/projects/default");
  await page.getByRole("button", { name: "Edit project quota" }).click();
  await expectAccessible(page, "edit project quota");
  check();
});

test("tenants: create one, give it a project, invite a member, edit its quota", async ({ page }) => {
  const check = watchConsole(page, EXPECTED);
  await signIn(page, ADMIN);
  await openAdmin(page, "Tenants");
  await page.getByRole("button", { name: "Create tenant" }).click();
  await page.getByLabel("Name", { exact: true }).fill("e2e-acme");
  await page.getByLabel("Display name").fill("Acme (e2e)");
  await page.getByLabel("Contact e-mail").fill("ops@acme.example");
  await page.getByRole("button", { name: "Create tenant" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Tenant Acme (e2e)" })).toBeVisible();

  // Metadata must be a JSON object: checked before sending.
  await page.getByLabel("Metadata (JSON object)").fill("[1, 2]");
  await page.getByRole("button", { name: "Save details" }).click();
  await expect(page.getByText("Enter a JSON object")).toBeVisible();
  await page.getByLabel("Metadata (JSON object)").fill('{"team": "payments"}');
  await page.getByRole("button", { name: "Save details" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Saved." })).toBeVisible();

  await page.getByRole("button", { name: "Edit tenant quota" }).click();
  await page.getByLabel("Maximum databases").fill("25");
  await page.getByRole("button", { name: "Save quota" }).click();
  await expect(page.getByRole("status").filter({ hasText: "The tenant quota was saved." })).toBeVisible();
  await expect(page.getByRole("meter", { name: /^Databases: 0 of 25/ })).toBeVisible();

  await page.getByRole("button", { name: "New project" }).click();
  await page.getByLabel("Project name").fill("web");
  await page.getByRole("button", { name: "Create project" }).click();
  await expect(page.getByRole("table", { name: "Projects" })).toContainText("web");

  await page.getByRole("form", { name: "Invite a member" }).getByLabel("E-mail").fill("lead@acme.example");
  await page.getByRole("button", { name: "Invite" }).click();
  await expect(page.getByLabel("Invitation code")).toHaveValue(/^inv_/);
  await expect(page.getByRole("table", { name: "Domain invitations" })).toContainText("lead@acme.example");
  await expectAccessible(page, "tenant page");

  await page.getByRole("link", { name: "web", exact: true }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Project web" })).toBeVisible();
  await page.getByRole("button", { name: "Delete the project web" }).click();
  const dialog = page.getByRole("dialog", { name: "Delete the project web" });
  await expect(dialog.getByRole("button", { name: "Delete project" })).toBeDisabled();
  await dialog.getByLabel("Type web to confirm").fill("web");
  await dialog.getByRole("button", { name: "Delete project" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Tenant Acme (e2e)" })).toBeVisible();
  await expect(page.getByRole("link", { name: "web", exact: true })).toHaveCount(0);
  check();
});

test("a domain admin gets its tenant's pages, and the API's refusals in words", async ({ page }) => {
  const check = watchConsole(page, EXPECTED);
  const domainAdmin = { email: "dadmin@dbaas.local", password: "e2e-domain-admin-password-0123" };
  const login = await page.request.post("/api/v1/auth/login", { data: { email: ADMIN.email, password: ADMIN.password } });
  const { access_token } = (await login.json()) as { access_token: string };
  const created = await page.request.post("/api/v1/users", {
    headers: { authorization: `Bearer ${access_token}` },
    data: { ...domainAdmin, full_name: "Dom Admin", bindings: [{ role: "domain_admin", domain: "demo" }] },
  });
  expect(created.status()).toBe(201);

  await signIn(page, domainAdmin);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Admin" }).click();
  const nav = page.getByRole("navigation", { name: "Administration" });
  await expect(nav.getByRole("link", { name: "Tenants" })).toBeVisible();
  await expect(nav.getByRole("link", { name: "Audit log" })).toBeVisible();
  await expect(nav.getByRole("link", { name: "Providers" })).toHaveCount(0);
  await expect(nav.getByRole("link", { name: "Users" })).toHaveCount(0);
  await expect(page.getByText("You administer the tenant demo")).toBeVisible();

  // The tenant: details editable, plan and quota shown but left to platform admins.
  await nav.getByRole("link", { name: "Tenants" }).click();
  await page.getByRole("link", { name: "demo", exact: true }).click();
  await expect(page.getByRole("heading", { level: 1, name: /^Tenant / })).toBeVisible();
  await expect(page.getByLabel("Plan")).toHaveCount(0);
  await expect(page.getByRole("button", { name: "Edit tenant quota" })).toHaveCount(0);
  await expect(page.getByRole("button", { name: "Delete tenant" })).toHaveCount(0);
  await expectAccessible(page, "tenant page (domain admin)");

  // Its project's quota is the domain admin's to change, within the tenant's: the API says no in words.
  await page.getByRole("link", { name: "default", exact: true }).click();
  await page.getByRole("button", { name: "Edit project quota" }).click();
  await page.getByLabel("Maximum CPU cores").fill("999999");
  await page.getByRole("button", { name: "Save quota" }).click();
  await expect(page.getByRole("alert").filter({ hasText: "Not saved" })).toBeVisible();

  // A platform-only page reached by its address: the API's 403, in words.
  await page.goto("/admin/providers");
  await expect(page.getByRole("alert")).toContainText("The providers could not be listed");
  check();
});
