import { beforeEach, describe, expect, it, vi } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { answer, refusal, renderAt } from "../test/render";
import { QuotaPanel } from "../common/QuotaPanel";
import { MembersPanel } from "./MembersPanel";
import { tenantCreateSchema, toTenantCreate, toTenantUpdate } from "./tenantForm";

const mocks = vi.hoisted(() => ({ GET: vi.fn(), POST: vi.fn(), DELETE: vi.fn() }));
vi.mock("../../../api/client", () => ({ api: mocks }));

const LIMITS = { max_cpu_cores: 10, max_memory_gb: 20, max_storage_gb: 100, max_databases: 10, max_backups: 50 };
const VIEW = { ...LIMITS, used_cpu_cores: 4, used_memory_gb: 8, used_storage_gb: 40, used_databases: 3, used_backups: 1 };

describe("tenant forms", () => {
  it("checks the slug and builds requests without empty optionals", () => {
    expect(tenantCreateSchema.safeParse({ name: "Acme", display_name: "", contact_email: "", metadata: "", plan: "free" }).success).toBe(false);
    const v = tenantCreateSchema.parse({ name: "acme", display_name: " Acme ", contact_email: "", metadata: '{"a":1}', plan: "starter" });
    expect(toTenantCreate(v)).toEqual({ name: "acme", display_name: "Acme", plan: "starter", metadata: { a: 1 } });
    expect(toTenantUpdate(v, false)).toEqual({ display_name: "Acme", metadata: { a: 1 } });
    expect(toTenantUpdate(v, true)).toMatchObject({ plan: "starter" });
  });
});

describe("MembersPanel", () => {
  beforeEach(() => {
    mocks.GET.mockReset().mockImplementation((path: string) =>
      path.endsWith("/members")
        ? answer(200, { members: [{ user_id: "user-2", email: "dev@x.io", full_name: "Dev", role: "developer", domain: "acme", project: "web" }], total: 1 })
        : answer(200, { invitations: [], total: 0 }),
    );
    mocks.POST.mockReset();
  });

  it("invites with a project role and shows the one-time code", async () => {
    const user = userEvent.setup();
    mocks.POST.mockImplementation(() =>
      answer(201, {
        id: "inv-1",
        email: "new@x.io",
        role: "project_admin",
        domain: "acme",
        project: "web",
        status: "pending",
        invited_by: "admin@x.io",
        created_at: "2026-12-04T10:00:00Z",
        expires_at: "2026-12-11T10:00:00Z",
        decided_at: null,
        code: "inv_secret",
        accept_path: "/api/v1/auth/invitations/inv-1/accept",
      }),
    );
    renderAt("/", [{ path: "/", element: <MembersPanel scope={{ domain: "acme", project: "web" }} /> }]);
    expect(await screen.findByRole("table", { name: "Project members" })).toHaveTextContent("dev@x.io");
    const form = screen.getByRole("form", { name: "Invite a member" });
    expect(within(form).getAllByRole("option").map((o) => o.textContent)).toEqual(["Project admin", "Developer (read-only)"]);
    await user.type(within(form).getByLabelText("E-mail"), "new@x.io");
    await user.click(within(form).getByRole("button", { name: "Invite" }));
    expect(await screen.findByLabelText("Invitation code")).toHaveValue("inv_secret");
    expect(mocks.POST).toHaveBeenCalledWith("/api/v1/tenants/{domain}/projects/{project}/members", {
      params: { path: { domain: "acme", project: "web" } },
      body: { email: "new@x.io", role: "project_admin" },
    });
  });

  it("marks the e-mail when the API names it", async () => {
    const user = userEvent.setup();
    mocks.POST.mockImplementation(() => refusal(422, "validation_error", "Invalid request", [{ field: "email", message: "not deliverable" }]));
    renderAt("/", [{ path: "/", element: <MembersPanel scope={{ domain: "acme" }} /> }]);
    const form = screen.getByRole("form", { name: "Invite a member" });
    await user.type(within(form).getByLabelText("E-mail"), "x@y.io");
    await user.click(within(form).getByRole("button", { name: "Invite" }));
    await waitFor(() => expect(within(form).getByLabelText("E-mail")).toHaveAccessibleDescription("not deliverable"));
  });
});

describe("QuotaPanel", () => {
  beforeEach(() => {
    mocks.GET.mockReset().mockImplementation(() => answer(200, VIEW));
  });

  it("shows usage, warns below use, and sends only what changed", async () => {
    const user = userEvent.setup();
    const save = vi.fn().mockResolvedValue(undefined);
    renderAt("/", [{ path: "/", element: <QuotaPanel scope={{ domain: "acme", project: "web" }} limits={LIMITS} editable save={save} /> }]);
    expect(await screen.findByRole("meter", { name: "CPU: 4 of 10 cores, 40%" })).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Edit project quota" }));
    await user.clear(screen.getByLabelText("Maximum CPU cores"));
    await user.type(screen.getByLabelText("Maximum CPU cores"), "2");
    expect(screen.getByText("CPU: 2 cores is below the 4 cores in use")).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Save quota" }));
    expect(save).toHaveBeenCalledWith({ max_cpu_cores: 2 });
    expect(await screen.findByText("The project quota was saved.")).toBeInTheDocument();
  });

  it("offers no form to who may not edit", async () => {
    renderAt("/", [{ path: "/", element: <QuotaPanel scope={{ domain: "acme" }} limits={LIMITS} editable={false} save={vi.fn()} /> }]);
    expect(await screen.findByRole("meter", { name: "Databases: 3 of 10, 30%" })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Edit tenant quota" })).not.toBeInTheDocument();
  });
});
