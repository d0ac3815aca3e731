import AxeBuilder from "@axe-core/playwright";
import { expect, type Locator, type Page } from "@playwright/test";
import { mkdirSync } from "node:fs";

export const SCREENSHOTS = "test-results/screenshots";

export async function signIn(page: Page, user: { email: string; password: string }): Promise<void> {
  await page.goto("/");
  await page.getByLabel("E-mail").fill(user.email);
  await page.getByLabel("Password").fill(user.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Databases" })).toBeVisible();
}

/** No serious or critical accessibility violation on the page as it is now. */
export async function expectAccessible(page: Page, what: string): Promise<void> {
  const result = await new AxeBuilder({ page }).analyze();
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  expect(
    bad.map((v) => `${v.id} (${v.impact}): ${v.help} – ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`),
    `axe on ${what}`,
  ).toEqual([]);
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: `${SCREENSHOTS}/${name}.png`, fullPage: true });
}

/** Fails the test on any console error or uncaught exception on the page. */
export function watchConsole(page: Page, allow: RegExp[] = []): () => void {
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error" && !allow.some((r) => r.test(m.text()))) errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(e.message));
  return () => expect(errors, "console errors").toEqual([]);
}

/** `n` made-up databases in demo/default, as the list route answers them. */
export function madeUpDatabases(n: number): unknown[] {
  const now = new Date().toISOString();
  return Array.from({ length: n }, (_, i) => ({
    id: `db-${String(i).padStart(6, "0")}`,
    name: `db-${i}`,
    domain: "demo",
    project: "default",
    engine: ["postgres", "mysql", "mongodb", "redis"][i % 4],
    version: "16.10",
    size: "db.t3.micro",
    storage_gb: 20,
    replicas: 1,
    ready_replicas: 1,
    status: "running",
    health_status: "healthy",
    backup_enabled: true,
    backup_schedule: "daily",
    backup_retention_days: 7,
    high_availability: false,
    monitoring_enabled: true,
    deletion_protection: false,
    endpoint: `db-${i}.dbaas-demo-default.svc`,
    port: 5432,
    service_type: "ClusterIP",
    loadbalancer_ip: null,
    labels: {},
    annotations: {},
    provider_id: "provider-1",
    namespace: "dbaas-demo-default",
    kubedb_resource_name: `db-${i}`,
    current: { size: "db.t3.micro", storage_gb: 20, replicas: 1, version: "16.10" },
    upgrade_policy: { mode: "manual" },
    operation_id: null,
    poll_url: null,
    created_at: now,
    updated_at: now,
  }));
}

/** Answers demo/default's database list with `n` made-up databases, all on one page. */
export async function fakeDatabaseList(page: Page, n: number): Promise<void> {
  const body = JSON.stringify({ databases: madeUpDatabases(n), total: n, page: 1, page_size: n });
  await page.route(/\/api\/v1\/domain\/demo\/project\/default\/databases(\?|$)/, (route) =>
    route.fulfill({ status: 200, contentType: "application/json", body }),
  );
}

/** Scrolls the window to its end until the link named `name` is in view (row heights settle as rows are measured). */
export async function scrollToRow(page: Page, name: string): Promise<void> {
  const link = page.getByRole("link", { name, exact: true });
  await expect(async () => {
    await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
    await expect(link).toBeInViewport({ timeout: 1000 });
  }).toPass({ timeout: 20_000 });
}

/** From anywhere in the console: the database list, then the database's page. */
export async function openDatabase(page: Page, name: string): Promise<void> {
  await page.getByRole("link", { name: "Databases", exact: true }).first().click();
  await page.getByRole("link", { name, exact: true }).click();
  await expect(page.getByRole("heading", { level: 1, name })).toBeVisible();
}

/** The status badge under a database page's title. */
export function databaseStatus(page: Page): Locator {
  return page.locator(".page-context .badge");
}

/** Waits until every operation a planned action's dialog follows has completed (failing at once on a failed one). */
export async function expectOperationsCompleted(dialog: Locator, timeout = 120_000): Promise<void> {
  const badges = dialog.locator(".op .badge");
  await expect(badges.first()).toBeVisible({ timeout });
  await expect
    .poll(
      async () => {
        const states = await badges.allTextContents();
        return states.every((s) => s === "Completed") ? "completed" : states.join(", ");
      },
      { timeout, message: "the operations the action queued" },
    )
    .toBe("completed");
}
