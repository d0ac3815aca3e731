import { beforeEach, describe, expect, it, vi } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { answer, refusal, renderAt } from "../test/render";
import ApiKeysPage from "./ApiKeysPage";
import { apiKeySchema, toApiKeyCreate } from "./apiKeyForm";

const mocks = vi.hoisted(() => ({ GET: vi.fn(), POST: vi.fn(), DELETE: vi.fn() }));
vi.mock("../../../api/client", () => ({ api: mocks }));

const KEY = {
  id: "key-1",
  name: "ci-deploy",
  prefix: "dbaas_ab12",
  description: null,
  scopes: ["read"],
  created_at: "2026-12-04T10:00:00Z",
  expires_at: null,
  last_used_at: null,
};

describe("API key form rules", () => {
  it("builds the request; an empty expiry means never", () => {
    const p = apiKeySchema.parse({ name: "ci-deploy", description: " x ", expires_in_days: "30", scopes: ["read", "write"] });
    expect(toApiKeyCreate(p)).toEqual({ name: "ci-deploy", description: "x", expires_in_days: 30, scopes: ["read", "write"] });
    expect(toApiKeyCreate(apiKeySchema.parse({ name: "ci-deploy", description: "", expires_in_days: "", scopes: ["read"] }))).toEqual({
      name: "ci-deploy",
      scopes: ["read"],
    });
    expect(apiKeySchema.safeParse({ name: "ci", description: "", expires_in_days: "400", scopes: [] }).error?.issues.map((i) => i.path[0])).toEqual([
      "name",
      "expires_in_days",
      "scopes",
    ]);
  });
});

describe("ApiKeysPage", () => {
  beforeEach(() => {
    mocks.GET.mockReset().mockImplementation(() => answer(200, { api_keys: [KEY], total: 1 }));
    mocks.POST.mockReset();
    mocks.DELETE.mockReset();
  });

  it("shows a new key once, with the warning, then only its prefix", async () => {
    const user = userEvent.setup();
    mocks.POST.mockImplementation(() => answer(201, { ...KEY, id: "key-2", name: "nightly", key: "dbaas_secret_value", prefix: "dbaas_secr" }));
    renderAt("/admin/api-keys", [{ path: "/admin/api-keys", element: <ApiKeysPage /> }]);
    expect(await screen.findByRole("table", { name: "Your API keys" })).toHaveTextContent("ci-deploy");
    await user.type(screen.getByLabelText("Key name"), "nightly");
    await user.click(screen.getByRole("button", { name: "Create API key" }));
    expect(await screen.findByLabelText("New API key")).toHaveValue("dbaas_secret_value");
    expect(screen.getByText(/it will not be shown again/)).toBeInTheDocument();
    expect(mocks.POST.mock.calls[0]?.[1]).toEqual({ body: { name: "nightly", expires_in_days: 90, scopes: ["read"] } });
    await user.click(screen.getByRole("button", { name: "I have copied it" }));
    expect(screen.queryByLabelText("New API key")).not.toBeInTheDocument();
    expect(document.body.innerHTML).not.toContain("dbaas_secret_value");
  });

  it("revokes after confirmation, and shows a refusal in the dialog", async () => {
    const user = userEvent.setup();
    mocks.DELETE.mockImplementationOnce(() => refusal(429, "rate_limited", "Too many requests")).mockImplementationOnce(() => answer(204, undefined));
    renderAt("/admin/api-keys", [{ path: "/admin/api-keys", element: <ApiKeysPage /> }]);
    await user.click(await screen.findByRole("button", { name: "Revoke ci-deploy" }));
    const dialog = screen.getByRole("dialog", { name: "Revoke the API key ci-deploy" });
    expect(dialog).toHaveTextContent("dbaas_ab12…");
    await user.click(within(dialog).getByRole("button", { name: "Revoke key" }));
    expect(await within(dialog).findByRole("alert")).toHaveTextContent("Too many requests");
    await user.click(within(dialog).getByRole("button", { name: "Revoke key" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    expect(mocks.DELETE).toHaveBeenLastCalledWith("/api/v1/auth/api-keys/{id}", { params: { path: { id: "key-1" } } });
  });
});
