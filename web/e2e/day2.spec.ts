// Day-2 actions end to end against the shared `dbaas serve --demo` (see global-setup.ts): one
// PostgreSQL, created on an older version, has its credentials rotated, is restarted, upgraded,
// gets an upgrade policy, and is restored in place from a backup. The tests run in order.
import { expect, test, type Page } from "@playwright/test";
import { ADMIN } from "./server";
import { databaseStatus, expectAccessible, expectOperationsCompleted, openDatabase, signIn, watchConsole } from "./helpers";

// Each test may wait for an operation or two on a loaded machine.
test.describe.configure({ mode: "serial", timeout: 300_000 });

const EXPECTED = [/Failed to load resource/];
const NAME = "ledger";
/** An older PostgreSQL of the demo catalog, so that newer ones are offered as upgrades. */
const OLD_VERSION = "16.10";
/** Operations run through the simulated cluster; a loaded machine makes them slow. */
const OPERATION_MS = 120_000;

/** Signs in and opens the database's tab once the database is running (actions wait for that). */
async function openRunning(page: Page, tab?: string): Promise<void> {
  await signIn(page, ADMIN);
  await openDatabase(page, NAME);
  await expect(databaseStatus(page)).toHaveText("Running", { timeout: OPERATION_MS });
  if (tab) await page.getByRole("link", { name: tab, exact: true }).click();
}

async function revealPassword(page: Page): Promise<string> {
  await page.getByRole("link", { name: "Connection", exact: true }).click();
  await page.getByRole("button", { name: "Reveal credentials" }).click();
  const password = page.getByLabel("Password", { exact: true });
  await expect(password).not.toHaveValue("");
  return password.inputValue();
}

test(`create PostgreSQL ${OLD_VERSION} to work on`, async ({ page }) => {
  const check = watchConsole(page, EXPECTED);
  await signIn(page, ADMIN);
  await page.getByRole("link", { name: "Create database" }).click();
  await page.getByRole("radio", { name: "PostgreSQL" }).check();
  await page.getByLabel("Name").fill(NAME);
  await page.getByLabel("Version").selectOption(OLD_VERSION);
  await expect(page.getByRole("region", { name: "Plan" })).toContainText(`create Postgres ${NAME}`);
  await page.getByRole("button", { name: "Create database" }).click();
  await expect(page.getByRole("heading", { level: 1, name: NAME })).toBeVisible();
  await expect(page.locator(".page-context")).toContainText(`PostgreSQL ${OLD_VERSION}`);
  await expect(databaseStatus(page)).toHaveText("Running", { timeout: OPERATION_MS });
  check();
});

test("rotate the credentials: the revealed password changes", async ({ page }) => {
  const check = watchConsole(page, EXPECTED);
  await openRunning(page);
  const before = await revealPassword(page);

  await page.getByRole("link", { name: "Settings", exact: true }).click();
  await page.getByRole("button", { name: "Rotate credentials…" }).click();
  const dialog = page.getByRole("dialog", { name: `Rotate the credentials of ${NAME}` });
  await expect(dialog).toContainText("clients using the old one lose access");
  await expect(dialog.getByRole("region", { name: "Plan" })).toContainText("rotate the credentials");
  await dialog.getByRole("button", { name: "Rotate" }).click();
  await expect(dialog.getByText("Accepted.")).toBeVisible();
  await expectOperationsCompleted(dialog, OPERATION_MS);
  await dialog.getByRole("button", { name: "Close" }).click();

  const after = await revealPassword(page);
  expect(after, "the password after the rotation").not.toBe(before);
  check();
});

test("restart: the plan first, then the operation completes", async ({ page }) => {
  const check = watchConsole(page, EXPECTED);
  await openRunning(page, "Settings");
  await page.getByRole("button", { name: "Restart…" }).click();
  const dialog = page.getByRole("dialog", { name: `Restart ${NAME}` });
  await expect(dialog.getByRole("region", { name: "Plan" })).toContainText("restart the pods");
  await expectAccessible(page, "restart plan");
  await dialog.getByRole("button", { name: "Restart" }).click();
  await expect(dialog.getByText("Accepted.")).toBeVisible();
  await expect(dialog.getByText("restart the pods")).toBeVisible();
  await expectOperationsCompleted(dialog, OPERATION_MS);
  await dialog.getByRole("button", { name: "Close" }).click();
  await expect(databaseStatus(page)).toHaveText("Running", { timeout: OPERATION_MS });
  check();
});

test("upgrade to a newer version from the settings", async ({ page }) => {
  const check = watchConsole(page, EXPECTED);
  await openRunning(page, "Settings");
  const version = page.getByRole("region", { name: "Version" });
  await expect(version).toContainText(`Running ${OLD_VERSION}.`);
  const target = await version.getByLabel("Upgrade to").inputValue();
  expect(target).not.toBe(OLD_VERSION);
  await version.getByRole("button", { name: "Upgrade…" }).click();
  const dialog = page.getByRole("dialog", { name: `Upgrade ${NAME} to ${target}` });
  await expect(dialog.getByRole("region", { name: "Plan" })).toContainText("upgrade the version");
  await dialog.getByRole("button", { name: "Upgrade" }).click();
  await expect(dialog.getByText("Accepted.")).toBeVisible();
  await expectOperationsCompleted(dialog, OPERATION_MS);
  await dialog.getByRole("button", { name: "Close" }).click();

  // The page follows the event stream; after a reload the server says the same.
  await expect(page.locator(".page-context")).toContainText(`PostgreSQL ${target}`, { timeout: OPERATION_MS });
  await expect(version).toContainText(`Running ${target}.`);
  await page.reload();
  await expect(page.getByRole("heading", { level: 1, name: NAME })).toBeVisible();
  await expect(page.locator(".page-context")).toContainText(`PostgreSQL ${target}`);
  await page.getByRole("link", { name: "Overview", exact: true }).click();
  await expect(databaseStatus(page)).toHaveText("Running", { timeout: OPERATION_MS });
  check();
});

test("an upgrade policy and maintenance window survive a reload", async ({ page }) => {
  const check = watchConsole(page, EXPECTED);
  await openRunning(page, "Settings");
  const policy = page.getByRole("region", { name: "Upgrade policy and maintenance window" });
  await policy.getByLabel("Automatic upgrades").selectOption("auto_patch");
  await policy.getByLabel("Window start (UTC, HH:MM)").fill("03:30");
  await policy.getByLabel("Window length (minutes)").fill("90");
  await policy.getByRole("checkbox", { name: "sat" }).check();
  await policy.getByRole("checkbox", { name: "sun" }).uncheck();
  await policy.getByRole("button", { name: "Save policy" }).click();
  await expect(policy.getByRole("status")).toHaveText("Saved.");

  await page.reload();
  await expect(page.getByRole("heading", { level: 1, name: NAME })).toBeVisible();
  await expect(policy.getByLabel("Automatic upgrades")).toHaveValue("auto_patch");
  await expect(policy.getByLabel("Window start (UTC, HH:MM)")).toHaveValue("03:30");
  await expect(policy.getByLabel("Window length (minutes)")).toHaveValue("90");
  await expect(policy.getByRole("checkbox", { name: "sat" })).toBeChecked();
  await expect(policy.getByRole("checkbox", { name: "sun" })).not.toBeChecked();
  await expect(policy.getByRole("checkbox", { name: "mon" })).not.toBeChecked();
  check();
});

test("restore in place from a backup", async ({ page }) => {
  const check = watchConsole(page, EXPECTED);
  await openRunning(page, "Backups");
  // A backup of what it is now (on the upgraded version) to restore from.
  await page.getByRole("button", { name: "Back up now" }).click();
  const backup = page.getByRole("dialog", { name: `Back up ${NAME} now` });
  await backup.getByRole("button", { name: "Start backup" }).click();
  await expectOperationsCompleted(backup, OPERATION_MS);
  await backup.getByRole("button", { name: "Close" }).click();
  await expect(page.getByRole("table", { name: "Backups" })).toContainText("Succeeded", { timeout: OPERATION_MS });
  await expect(databaseStatus(page)).toHaveText("Running", { timeout: OPERATION_MS });

  await page.getByRole("radio", { name: /This database, in place/ }).check();
  await expect(page.getByLabel("New database name")).toHaveCount(0);
  await page.getByRole("button", { name: "Restore…" }).click();
  const dialog = page.getByRole("dialog", { name: `Restore ${NAME} in place` });
  await expect(dialog.getByRole("region", { name: "Plan" })).toContainText("restore from a backup");
  await expectAccessible(page, "restore in place plan");
  await dialog.getByRole("button", { name: "Restore" }).click();
  await expect(dialog.getByText("Accepted.")).toBeVisible();
  await expectOperationsCompleted(dialog, OPERATION_MS);
  await expect(dialog.getByRole("link", { name: "Open the new database" })).toHaveCount(0);
  await dialog.getByRole("button", { name: "Close" }).click();
  await expect(databaseStatus(page)).toHaveText("Running", { timeout: OPERATION_MS });
  check();
});
