import { beforeEach, describe, expect, it, vi } from "vitest";
import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { answer, refusal, renderAt } from "../test/render";
import ProvidersPage from "./ProvidersPage";

const mocks = vi.hoisted(() => ({ GET: vi.fn(), PATCH: vi.fn(), DELETE: vi.fn() }));
vi.mock("../../../api/client", () => ({ api: mocks }));

const provider = (over: Record<string, unknown> = {}) => ({
  id: "provider-1",
  name: "east-1",
  region: "us-east",
  availability_zone: "us-east-1a",
  cloud_provider: null,
  domain: null,
  resources: {
    cpu: { total_cores: 10, allocated_cores: 2, available_cores: 6, reservation_percent: 80 },
    memory: { total_gb: 40, allocated_gb: 30, available_gb: 2, reservation_percent: 80 },
    storage: { total_gb: 1000, allocated_gb: 0, available_gb: 800, reservation_percent: 80 },
  },
  is_active: true,
  is_maintenance: false,
  priority: 100,
  enable_loadbalancer: false,
  tags: [],
  metadata: {},
  kubedb: { installed: true, version: "v2025.1.1", engines: ["postgres"] },
  connection: { status: "connected", last_checked_at: "2026-12-04T10:00:00Z" },
  created_at: "2026-12-04T10:00:00Z",
  updated_at: "2026-12-04T10:00:00Z",
  ...over,
});

describe("ProvidersPage", () => {
  beforeEach(() => {
    mocks.GET.mockReset().mockImplementation(() =>
      answer(200, {
        providers: [provider(), provider({ id: "provider-2", name: "west-1", connection: { status: "unreachable", last_checked_at: null, error: "timed out" } })],
        total: 2,
        page: 1,
        page_size: 100,
      }),
    );
    mocks.PATCH.mockReset();
    mocks.DELETE.mockReset();
  });

  it("lists region, capacity bars, health and priority", async () => {
    renderAt("/admin/providers", [{ path: "/admin/providers", element: <ProvidersPage /> }]);
    const row = await screen.findByRole("row", { name: "east-1" });
    expect(row).toHaveTextContent("us-east / us-east-1a");
    expect(within(row).getByRole("meter", { name: "CPU of east-1: 2 of 8 cores, 25%" })).toBeInTheDocument();
    expect(within(row).getByRole("meter", { name: "Memory of east-1: 30 of 32 GB, 94% (nearly full)" })).toBeInTheDocument();
    expect(within(row).getByText("Healthy")).toBeInTheDocument();
    const west = screen.getByRole("row", { name: "west-1" });
    expect(within(west).getByText("Unhealthy")).toBeInTheDocument();
    expect(west).toHaveTextContent("timed out");
  });

  it("puts a provider into maintenance after saying what that means", async () => {
    const user = userEvent.setup();
    mocks.PATCH.mockImplementation(() => answer(200, provider({ is_maintenance: true })));
    renderAt("/admin/providers", [{ path: "/admin/providers", element: <ProvidersPage /> }]);
    await user.click(await screen.findByRole("button", { name: "Start maintenance on east-1" }));
    const dialog = screen.getByRole("dialog", { name: "Start maintenance on east-1" });
    expect(dialog).toHaveTextContent("No new database will be placed on east-1");
    expect(dialog).toHaveTextContent("2 CPU cores, 30 GB memory and 0 GB storage");
    await user.click(within(dialog).getByRole("button", { name: "Start maintenance" }));
    expect(mocks.PATCH).toHaveBeenCalledWith("/api/v1/providers/{id}", { params: { path: { id: "provider-1" } }, body: { is_maintenance: true } });
  });

  it("warns that a provider in use cannot be deleted, and shows the 409", async () => {
    const user = userEvent.setup();
    mocks.DELETE.mockImplementation(() => refusal(409, "conflict", "Provider 'east-1' still has 1 live database"));
    renderAt("/admin/providers", [{ path: "/admin/providers", element: <ProvidersPage /> }]);
    await user.click(await screen.findByRole("button", { name: "Delete east-1" }));
    const dialog = screen.getByRole("dialog", { name: "Delete the provider east-1" });
    expect(dialog).toHaveTextContent("the server will refuse the deletion");
    const confirm = within(dialog).getByRole("button", { name: "Delete provider" });
    expect(confirm).toBeDisabled();
    await user.type(within(dialog).getByLabelText("Type east-1 to confirm"), "east-1");
    await user.click(confirm);
    expect(await within(dialog).findByRole("alert")).toHaveTextContent("still has 1 live database");
  });

  it("edits only what changed, and warns when capacity drops below the allocation", async () => {
    const user = userEvent.setup();
    mocks.PATCH.mockImplementation(() => answer(200, provider({ priority: 7 })));
    renderAt("/admin/providers", [{ path: "/admin/providers", element: <ProvidersPage /> }]);
    await user.click(await screen.findByRole("button", { name: "Edit east-1" }));
    const dialog = screen.getByRole("dialog", { name: "Edit east-1" });
    await user.clear(within(dialog).getByLabelText("Memory (GB)"));
    await user.type(within(dialog).getByLabelText("Memory (GB)"), "20");
    expect(within(dialog).getByRole("status")).toHaveTextContent("Memory: 30 GB are allocated");
    await user.clear(within(dialog).getByLabelText("Memory (GB)"));
    await user.type(within(dialog).getByLabelText("Memory (GB)"), "40");
    await user.clear(within(dialog).getByLabelText("Priority"));
    await user.type(within(dialog).getByLabelText("Priority"), "7");
    await user.click(within(dialog).getByRole("button", { name: "Save changes" }));
    expect(mocks.PATCH).toHaveBeenCalledWith("/api/v1/providers/{id}", { params: { path: { id: "provider-1" } }, body: { priority: 7 } });
  });
});
