// A long database list (made up: the route answers 1,000 databases on one page) renders only the
// rows near the window, and stays a table whose every row can be reached.
import { expect, test } from "@playwright/test";
import { ADMIN } from "./server";
import { expectAccessible, fakeDatabaseList, scrollToRow, signIn, watchConsole } from "./helpers";

const EXPECTED = [/Failed to load resource/];

test("a list of 1,000 databases: every row announced, reachable by scrolling and by Tab", async ({ page }) => {
  const check = watchConsole(page, EXPECTED);
  await fakeDatabaseList(page, 1000);
  await signIn(page, ADMIN);
  const table = page.getByRole("table", { name: "Databases" });
  await expect(table).toHaveAttribute("aria-rowcount", "1001");
  await expect(page.getByText("1000 databases")).toBeVisible();
  await expect(table.getByRole("row").nth(1)).toHaveAttribute("aria-rowindex", "2");
  // A window's worth of rows is in the document, not a thousand.
  expect(await table.locator("tbody tr[aria-rowindex]").count()).toBeLessThan(100);
  await expectAccessible(page, "a list of 1,000 databases");

  // Tab from the first row's link walks down the rows, past those rendered at first.
  await page.getByRole("link", { name: "db-0", exact: true }).focus();
  for (let i = 0; i < 60; i++) await page.keyboard.press("Tab");
  await expect(page.getByRole("link", { name: "db-60", exact: true })).toBeFocused();
  await expect(page.getByRole("row", { name: /^db-60 / })).toHaveAttribute("aria-rowindex", "62");
  // Shift+Tab walks back up.
  for (let i = 0; i < 5; i++) await page.keyboard.press("Shift+Tab");
  await expect(page.getByRole("link", { name: "db-55", exact: true })).toBeFocused();

  // The last row, by scrolling; its link opens the database (made up, so it is not found).
  await scrollToRow(page, "db-999");
  await expect(page.getByRole("row", { name: /^db-999 / })).toHaveAttribute("aria-rowindex", "1001");
  await expectAccessible(page, "the end of a list of 1,000 databases");
  await page.getByRole("link", { name: "db-999", exact: true }).click();
  await expect(page).toHaveURL(/\/databases\/db-000999$/);
  check();
});
