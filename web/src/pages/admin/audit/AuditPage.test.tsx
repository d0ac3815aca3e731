import { beforeEach, describe, expect, it, vi } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { answer, refusal, renderAt } from "../test/render";
import AuditPage from "./AuditPage";

const mocks = vi.hoisted(() => ({ GET: vi.fn() }));
vi.mock("../../../api/client", () => ({ api: mocks }));

const ENTRY = {
  id: "audit-1",
  action: "provider.create",
  resource_type: "provider",
  resource_id: "provider-9",
  domain: null,
  project: null,
  user_id: "user-1",
  user_email: "admin@dbaas.local",
  ip_address: "127.0.0.1",
  user_agent: "test",
  request_method: "POST",
  request_path: "/api/v1/providers",
  status: "success",
  status_code: 201,
  details: { name: "sim-2" },
  timestamp: "2026-12-04T10:00:00Z",
};

describe("AuditPage", () => {
  beforeEach(() => {
    mocks.GET.mockReset().mockImplementation(() => answer(200, { audit_logs: [ENTRY], total: 1, page: 1, page_size: 25 }));
  });

  it("asks the API with the filters from the URL and shows entry details", async () => {
    const user = userEvent.setup();
    renderAt("/admin/audit?action=provider.create&status=success", [{ path: "/admin/audit", element: <AuditPage /> }]);
    const table = await screen.findByRole("table", { name: "Audit log entries" });
    expect(table).toHaveTextContent("1 entry matching 2 filters");
    expect(mocks.GET).toHaveBeenCalledWith("/api/v1/audit-logs", {
      params: { query: { page: 1, page_size: 25, action: "provider.create", status: "success" } },
    });
    expect(screen.getByLabelText("Action")).toHaveValue("provider.create");
    await user.click(within(table).getByRole("button", { name: /^Details of provider.create/ }));
    const dialog = screen.getByRole("dialog", { name: "Audit entry: provider.create" });
    expect(dialog).toHaveTextContent("POST /api/v1/providers");
    expect(dialog).toHaveTextContent('"name": "sim-2"');
  });

  it("applies new filters and refuses a backwards time range", async () => {
    const user = userEvent.setup();
    renderAt("/admin/audit", [{ path: "/admin/audit", element: <AuditPage /> }]);
    await screen.findByRole("table", { name: "Audit log entries" });
    await user.type(screen.getByLabelText("User id"), "user-7");
    await user.selectOptions(screen.getByLabelText("Outcome"), "failure");
    await user.click(screen.getByRole("button", { name: "Apply filters" }));
    await waitFor(() =>
      expect(mocks.GET).toHaveBeenLastCalledWith("/api/v1/audit-logs", {
        params: { query: { page: 1, page_size: 25, user_id: "user-7", status: "failure" } },
      }),
    );
    await user.type(screen.getByLabelText("From"), "2026-12-04T10:00");
    await user.type(screen.getByLabelText("Until"), "2026-12-03T10:00");
    await user.click(screen.getByRole("button", { name: "Apply filters" }));
    expect(await screen.findByText("Must be after “From”")).toBeInTheDocument();
  });

  it("says a 403 in words", async () => {
    mocks.GET.mockImplementation(() => refusal(403, "forbidden", "Audit logs of this domain are for its admins"));
    renderAt("/admin/audit", [{ path: "/admin/audit", element: <AuditPage /> }]);
    expect(await screen.findByRole("alert")).toHaveTextContent("Audit logs of this domain are for its admins");
  });
});
