import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter, Route, Routes, useLocation } from "react-router";
import type { Database } from "../../api/types";
import { DatabaseTable } from "./DatabaseTable";

// Counts the rows that render: a badge per row.
const badges = vi.hoisted(() => ({ rendered: 0 }));
vi.mock("../../components/StatusBadge", () => ({
  StatusBadge: ({ status }: { status: string }) => {
    badges.rendered++;
    return <span>{status}</span>;
  },
}));

function database(i: number): Database {
  return {
    id: `db-${String(i).padStart(6, "0")}`,
    name: `db-${i}`,
    engine: "postgres",
    version: "16.10",
    status: "running",
    ready_replicas: 1,
    replicas: 1,
    high_availability: false,
    size: "db.t3.micro",
    storage_gb: 20,
    endpoint: `db-${i}.svc`,
    port: 5432,
  } as Database;
}

const BASE = "/d/demo/p/default/databases";

function Where() {
  return <p data-testid="where">{useLocation().pathname}</p>;
}

function Harness({ databases }: { databases: Database[] }) {
  return (
    <MemoryRouter initialEntries={[BASE]}>
      <Routes>
        <Route path={BASE} element={<DatabaseTable databases={databases} base={BASE} caption={`${databases.length} databases`} />} />
        <Route path="*" element={<Where />} />
      </Routes>
    </MemoryRouter>
  );
}

// jsdom lays nothing out: give every row the height a browser would.
// (The virtualizer also writes the window's scroll position, which jsdom does not implement.)
const height = Object.getOwnPropertyDescriptor(HTMLElement.prototype, "offsetHeight");
beforeAll(() => {
  vi.spyOn(window, "scrollTo").mockImplementation(() => undefined);
  Object.defineProperty(HTMLElement.prototype, "offsetHeight", {
    configurable: true,
    get() {
      return this instanceof HTMLTableRowElement ? 37 : 0;
    },
  });
});
afterAll(() => {
  vi.restoreAllMocks();
  if (height) Object.defineProperty(HTMLElement.prototype, "offsetHeight", height);
});

describe("DatabaseTable", () => {
  const thousand = Array.from({ length: 1000 }, (_, i) => database(i));

  it("announces every row but renders only those near the window", () => {
    render(<Harness databases={thousand} />);
    const table = screen.getByRole("table", { name: "Databases" });
    expect(table).toHaveAttribute("aria-rowcount", "1001");
    const rows = within(table).getAllByRole("row");
    // The header and a window's worth of rows, not a thousand.
    expect(rows.length).toBeGreaterThan(10);
    expect(rows.length).toBeLessThan(100);
    expect(rows[0]).toHaveAttribute("aria-rowindex", "1");
    expect(rows[1]).toHaveAttribute("aria-rowindex", "2");
    expect(within(rows[1] as HTMLElement).getByRole("link", { name: "db-0" })).toHaveAttribute("href", `${BASE}/db-000000`);
    // The rows below the window are one hidden spacer of their estimated height.
    const spacer = table.querySelector("tr.spacer td") as HTMLElement;
    expect(spacer.closest("tr")).toHaveAttribute("aria-hidden", "true");
    expect(parseFloat(spacer.style.height)).toBeGreaterThan(30_000);
  });

  it("re-renders only the row whose database changed", () => {
    const { rerender } = render(<Harness databases={thousand} />);
    const shown = badges.rendered;
    badges.rendered = 0;
    const next = thousand.slice();
    next[3] = { ...(next[3] as Database), status: "updating" };
    rerender(<Harness databases={next} />);
    expect(shown).toBeGreaterThan(10);
    expect(badges.rendered).toBe(1);
    expect(screen.getByRole("row", { name: /^db-3 / })).toHaveTextContent("updating");
  });

  it("follows a row's link with the router", async () => {
    render(<Harness databases={thousand.slice(0, 3)} />);
    expect(screen.getAllByRole("row")).toHaveLength(4);
    expect(document.querySelector("tr.spacer")).toBeNull();
    await userEvent.click(screen.getByRole("link", { name: "db-2" }));
    expect(screen.getByTestId("where")).toHaveTextContent(`${BASE}/db-000002`);
  });
});
