// The console end to end against a real `dbaas serve --demo` (see global-setup.ts). The tests
// run in order and share the server: one PostgreSQL goes through its whole life.
import { expect, test } from "@playwright/test";
import { ADMIN, DEVELOPER } from "./server";
import { databaseStatus, expectAccessible, openDatabase, screenshot, signIn, watchConsole } from "./helpers";

test.describe.configure({ mode: "serial" });

// The browser logs every refused request (401 before sign-in, 403/503 shown in words) itself.
const EXPECTED = [/Failed to load resource/];

test("a wrong password is refused in words", async ({ page }) => {
  const check = watchConsole(page, EXPECTED);
  await page.goto("/");
  await expect(page.getByRole("heading", { name: "Sign in to kubedb-dbaas" })).toBeVisible();
  await expectAccessible(page, "sign-in");
  await screenshot(page, "01-sign-in");
  await page.getByLabel("E-mail").fill(ADMIN.email);
  await page.getByLabel("Password").fill("not-the-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toHaveText("Invalid email or password");
  check();
});

test("sign in, and a reload stays signed in", async ({ page }) => {
  const check = watchConsole(page, EXPECTED);
  await signIn(page, ADMIN);
  await expect(page.getByText("Role: Platform admin")).toBeVisible();
  await page.reload();
  await expect(page.getByRole("heading", { level: 1, name: "Databases" })).toBeVisible();
  await expect(page.getByRole("link", { name: "Admin" })).toBeVisible();
  check();
});

test("create a PostgreSQL and watch it reach running without reloading", async ({ page }) => {
  const check = watchConsole(page, EXPECTED);
  await signIn(page, ADMIN);
  await expectAccessible(page, "database list (empty)");
  await page.getByRole("link", { name: "Create database" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Create a database" })).toBeVisible();
  await page.getByRole("radio", { name: "PostgreSQL" }).check();
  await page.getByLabel("Name").fill("orders");
  await expect(page.getByLabel("Version")).not.toHaveValue("");
  await expect(page.getByRole("region", { name: "Plan" })).toContainText("create the database");
  await expect(page.getByRole("region", { name: "Plan" })).toContainText("create Postgres orders");
  await expect(page.getByText("fits within the project's quota")).toBeVisible();
  await expectAccessible(page, "create");
  await screenshot(page, "03-create");
  // A marker on the window survives client-side navigation, not a reload.
  await page.evaluate(() => ((window as unknown as { __noReload?: boolean }).__noReload = true));
  await page.getByRole("button", { name: "Create database" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "orders" })).toBeVisible();
  await expect(databaseStatus(page)).toHaveText("Running", { timeout: 30_000 });
  expect(await page.evaluate(() => (window as unknown as { __noReload?: boolean }).__noReload)).toBe(true);
  await expect(page.getByText(/1 of 1 ready/)).toBeVisible();
  await expectAccessible(page, "database overview");
  await screenshot(page, "04-database-overview");
  await page.getByRole("link", { name: "Databases", exact: true }).first().click();
  await expect(page.getByRole("row", { name: /orders/ })).toContainText("Running");
  await screenshot(page, "02-database-list");
  check();
});

test("reveal credentials", async ({ page }) => {
  const check = watchConsole(page, EXPECTED);
  await signIn(page, ADMIN);
  await openDatabase(page, "orders");
  await page.getByRole("link", { name: "Connection" }).click();
  await expect(page.getByText("recorded in the audit log under your name")).toBeVisible();
  await page.getByRole("button", { name: "Reveal credentials" }).click();
  await expect(page.getByLabel("Password", { exact: true })).not.toHaveValue("");
  await expect(page.getByRole("figure", { name: /psql/ })).toContainText("psql 'postgresql://");
  await expect(page.getByRole("button", { name: "Copy password" })).toBeVisible();
  await expectAccessible(page, "connection");
  await screenshot(page, "05-connection");
  check();
});

test("metrics: live tiles, and history in words without Prometheus", async ({ page }) => {
  const check = watchConsole(page, EXPECTED);
  await signIn(page, ADMIN);
  await openDatabase(page, "orders");
  await page.getByRole("link", { name: "Metrics" }).click();
  await expect(page.getByRole("term").filter({ hasText: "Connections" })).toBeVisible();
  await expect(page.getByText(/Collected .* refreshed every 5 seconds/)).toBeVisible();
  await expect(page.getByText(/History is not available: this installation has no Prometheus/)).toBeVisible();
  await expectAccessible(page, "metrics");
  await screenshot(page, "06-metrics");
  check();
});

test("scale the storage, with the plan first", async ({ page }) => {
  const check = watchConsole(page, EXPECTED);
  await signIn(page, ADMIN);
  await openDatabase(page, "orders");
  await page.getByRole("link", { name: "Settings" }).click();
  await expectAccessible(page, "settings");
  await screenshot(page, "08-settings");
  await page.getByLabel("Storage (GB)").fill("30");
  await page.getByRole("button", { name: "Apply changes…" }).click();
  const dialog = page.getByRole("dialog", { name: "Resize orders" });
  await expect(dialog.getByRole("region", { name: "Plan" })).toContainText("expand the storage");
  await expect(dialog).toContainText("+10 GB storage");
  await expectAccessible(page, "plan dialog");
  await dialog.getByRole("button", { name: "Apply" }).click();
  await expect(dialog.getByText("Accepted.")).toBeVisible();
  await expect(dialog.locator(".op .badge")).toHaveText("Completed", { timeout: 30_000 });
  await dialog.getByRole("button", { name: "Close" }).click();
  await page.getByRole("link", { name: "Overview" }).click();
  await expect(page.getByText("db.t3.micro, 30 GB storage")).toBeVisible({ timeout: 30_000 });
  check();
});

test("pause and resume", async ({ page }) => {
  const check = watchConsole(page, EXPECTED);
  await signIn(page, ADMIN);
  await openDatabase(page, "orders");
  await expect(databaseStatus(page)).toHaveText("Running", { timeout: 30_000 });
  await page.getByRole("link", { name: "Settings" }).click();
  await page.getByRole("button", { name: "Pause…" }).click();
  let dialog = page.getByRole("dialog", { name: "Pause orders" });
  await expect(dialog.getByRole("region", { name: "Plan" })).toContainText("pause the database");
  await dialog.getByRole("button", { name: "Pause" }).click();
  await expect(dialog.getByText("Accepted.")).toBeVisible();
  await dialog.getByRole("button", { name: "Close" }).click();
  await expect(databaseStatus(page)).toHaveText("Paused", { timeout: 30_000 });
  await page.getByRole("button", { name: "Resume…" }).click();
  dialog = page.getByRole("dialog", { name: "Resume orders" });
  await expect(dialog.getByRole("region", { name: "Plan" })).toContainText("resume the database");
  await dialog.getByRole("button", { name: "Resume" }).click();
  await dialog.getByRole("button", { name: "Close" }).click();
  await expect(databaseStatus(page)).toHaveText("Running", { timeout: 30_000 });
  check();
});

test("back up, then restore into a new database", async ({ page }) => {
  const check = watchConsole(page, EXPECTED);
  await signIn(page, ADMIN);
  await openDatabase(page, "orders");
  await page.getByRole("link", { name: "Backups" }).click();
  await page.getByRole("button", { name: "Back up now" }).click();
  const dialog = page.getByRole("dialog", { name: "Back up orders now" });
  await expect(dialog.getByRole("region", { name: "Plan" })).toContainText("take a backup");
  await dialog.getByRole("button", { name: "Start backup" }).click();
  await expect(dialog.locator(".op .badge")).toHaveText("Completed", { timeout: 30_000 });
  await dialog.getByRole("button", { name: "Close" }).click();
  await expect(page.getByRole("table", { name: "Backups" })).toContainText("Succeeded", { timeout: 30_000 });
  await expectAccessible(page, "backups");
  await screenshot(page, "07-backups");

  await page.getByLabel("New database name").fill("orders-copy");
  await page.getByRole("button", { name: "Restore…" }).click();
  const restore = page.getByRole("dialog", { name: "Restore into a new database orders-copy" });
  await expect(restore.getByRole("region", { name: "Plan" })).toBeVisible();
  await restore.getByRole("button", { name: "Restore" }).click();
  await restore.getByRole("link", { name: "Open the new database" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "orders-copy" })).toBeVisible();
  await expect(databaseStatus(page)).toHaveText("Running", { timeout: 60_000 });
  check();
});

test("events timeline", async ({ page }) => {
  const check = watchConsole(page, EXPECTED);
  await signIn(page, ADMIN);
  await openDatabase(page, "orders");
  await page.getByRole("link", { name: "Activity" }).click();
  await expect(page.getByRole("table", { name: "Operations" })).toContainText("pause the database");
  await expect(page.getByRole("list", { name: "Events, newest first" })).not.toBeEmpty();
  await expectAccessible(page, "activity");
  await screenshot(page, "09-activity");
  check();
});

test("a developer sees neither credentials nor actions", async ({ page }) => {
  const check = watchConsole(page, EXPECTED);
  await signIn(page, DEVELOPER);
  await expect(page.getByText("Role: Developer (read-only)")).toBeVisible();
  await expect(page.getByRole("link", { name: "Create database" })).toHaveCount(0);
  await expect(page.getByRole("link", { name: "Admin" })).toHaveCount(0);
  await openDatabase(page, "orders");
  await expect(page.getByRole("link", { name: "Settings" })).toHaveCount(0);
  await page.getByRole("link", { name: "Connection" }).click();
  await expect(page.getByText("credentials are not shown to developers")).toBeVisible();
  await expect(page.getByRole("button", { name: "Reveal credentials" })).toHaveCount(0);
  await page.getByRole("link", { name: "Backups" }).click();
  await expect(page.getByRole("heading", { name: "Backups" })).toBeVisible();
  await expect(page.getByRole("button", { name: "Back up now" })).toHaveCount(0);
  await expect(page.getByRole("button", { name: "Restore…" })).toHaveCount(0);
  await expectAccessible(page, "developer backups");
  await screenshot(page, "10-developer");
  check();
});

test("a quota refusal is shown in words", async ({ page }) => {
  const check = watchConsole(page, EXPECTED);
  await signIn(page, ADMIN);
  await page.getByRole("link", { name: "Create database" }).click();
  await page.getByLabel("Name").fill("too-big");
  await page.getByLabel("Storage (GB)").fill("150");
  // The live check: the server's dry run refuses the plan, in its words, before anything is sent.
  await expect(page.getByRole("alert").filter({ hasText: "The server would refuse this" })).toContainText(
    "project quota exceeded for storage",
  );
  await page.getByRole("button", { name: "Create database" }).click();
  await expect(page.getByRole("alert").filter({ hasText: "The database was not created" })).toContainText("project quota exceeded for storage");
  check();
});

test("every action is reachable by keyboard", async ({ page }) => {
  const check = watchConsole(page, EXPECTED);
  await page.goto("/");
  await page.getByLabel("E-mail").focus();
  await page.keyboard.type(ADMIN.email);
  await page.keyboard.press("Tab");
  await page.keyboard.type(ADMIN.password);
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { level: 1, name: "Databases" })).toBeVisible();
  // Tab to the database's link and follow it.
  const link = page.getByRole("link", { name: "orders", exact: true });
  for (let i = 0; i < 40 && !(await link.evaluate((el) => el === document.activeElement)); i++) await page.keyboard.press("Tab");
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { level: 1, name: "orders" })).toBeVisible();
  const settings = page.getByRole("link", { name: "Settings" });
  for (let i = 0; i < 40 && !(await settings.evaluate((el) => el === document.activeElement)); i++) await page.keyboard.press("Tab");
  await page.keyboard.press("Enter");
  const restart = page.getByRole("button", { name: "Restart…" });
  for (let i = 0; i < 80 && !(await restart.evaluate((el) => el === document.activeElement)); i++) await page.keyboard.press("Tab");
  await page.keyboard.press("Enter");
  const dialog = page.getByRole("dialog", { name: "Restart orders" });
  await expect(dialog.getByRole("region", { name: "Plan" })).toContainText("restart the pods");
  await page.keyboard.press("Escape");
  await expect(dialog).toHaveCount(0);
  check();
});

test("delete with the name typed to confirm", async ({ page }) => {
  const check = watchConsole(page, EXPECTED);
  await signIn(page, ADMIN);
  await openDatabase(page, "orders");
  await page.getByRole("link", { name: "Settings" }).click();
  await page.getByRole("button", { name: "Delete database…" }).click();
  const dialog = page.getByRole("dialog", { name: "Delete orders" });
  await expect(dialog.getByRole("region", { name: "Plan" })).toContainText("delete the database");
  const confirm = dialog.getByRole("button", { name: "Delete" });
  await expect(confirm).toBeDisabled();
  await dialog.getByLabel("Type orders to confirm").fill("orders");
  await confirm.click();
  await expect(dialog.getByText("Accepted.")).toBeVisible();
  await dialog.getByRole("link", { name: "Back to the databases" }).click();
  await expect(page.getByRole("link", { name: "orders", exact: true })).toHaveCount(0, { timeout: 30_000 });
  check();
});

test("the admin area is mounted for platform admins", async ({ page }) => {
  const check = watchConsole(page, EXPECTED);
  await signIn(page, ADMIN);
  await page.getByRole("link", { name: "Admin" }).click();
  await expect(page.getByRole("heading", { level: 1 })).toBeVisible();
  await expectAccessible(page, "admin");
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page.getByRole("heading", { name: "Sign in to kubedb-dbaas" })).toBeVisible();
  await page.reload();
  await expect(page.getByRole("heading", { name: "Sign in to kubedb-dbaas" })).toBeVisible();
  check();
});
