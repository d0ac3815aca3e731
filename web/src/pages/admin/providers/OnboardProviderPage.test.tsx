import { beforeEach, describe, expect, it, vi } from "vitest";
import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { answer, refusal, renderAt } from "../test/render";
import OnboardProviderPage from "./OnboardProviderPage";

const mocks = vi.hoisted(() => ({ GET: vi.fn(), POST: vi.fn() }));
vi.mock("../../../api/client", () => ({ api: mocks }));

const KUBECONFIG = "apiVersion: v1\nclusters:\n- cluster:\n    server: https://127.0.0.1:7443\n  name: sim\ncurrent-context: sim\n";

function renderPage() {
  return renderAt("/admin/providers/new", [
    { path: "/admin/providers/new", element: <OnboardProviderPage /> },
    { path: "/admin/providers", element: <h1>Providers list</h1> },
  ]);
}

describe("OnboardProviderPage", () => {
  beforeEach(() => {
    mocks.GET.mockReset().mockImplementation(() => answer(200, { tenants: [{ name: "demo", display_name: "Demo" }], total: 1, page: 1, page_size: 100 }));
    mocks.POST.mockReset();
  });

  it("reads an uploaded kubeconfig into the form and shows where it will connect", async () => {
    const user = userEvent.setup();
    renderPage();
    await user.upload(screen.getByLabelText("Kubeconfig file"), new File([KUBECONFIG], "sim.yaml", { type: "text/plain" }));
    await waitFor(() => expect(screen.getByLabelText("Kubeconfig")).toHaveValue(KUBECONFIG));
    expect(screen.getByRole("region", { name: "What onboarding does" })).toHaveTextContent("https://127.0.0.1:7443");
    expect(screen.getByRole("region", { name: "What onboarding does" })).toHaveTextContent("12.8 CPU cores");
  });

  it("says why a file cannot be used", async () => {
    const user = userEvent.setup();
    renderPage();
    await user.upload(screen.getByLabelText("Kubeconfig file"), new File([""], "empty.yaml"));
    expect(await screen.findByText("“empty.yaml” is empty.")).toBeInTheDocument();
  });

  it("checks the form before sending anything", async () => {
    const user = userEvent.setup();
    renderPage();
    await user.click(screen.getByRole("button", { name: "Onboard provider" }));
    expect(await screen.findByText("Enter the name")).toBeInTheDocument();
    expect(screen.getByLabelText("Region")).toHaveAttribute("aria-invalid", "true");
    expect(screen.getByText("Paste the kubeconfig or choose its file")).toBeInTheDocument();
    expect(mocks.POST).not.toHaveBeenCalled();
  });

  it("sends the request and returns to the list", async () => {
    const user = userEvent.setup();
    mocks.POST.mockImplementation(() => answer(201, { id: "provider-1", name: "sim-2" }));
    renderPage();
    await user.type(screen.getByLabelText("Name"), "sim-2");
    await user.type(screen.getByLabelText("Region"), "eu-west");
    await user.type(screen.getByLabelText("Availability zone"), "eu-west-1a");
    await user.click(screen.getByLabelText("Kubeconfig"));
    await user.paste(KUBECONFIG);
    await user.click(screen.getByRole("button", { name: "Onboard provider" }));
    expect(await screen.findByRole("heading", { name: "Providers list" })).toBeInTheDocument();
    const [path, init] = mocks.POST.mock.calls[0] as [string, { body: Record<string, unknown> }];
    expect(path).toBe("/api/v1/providers");
    expect(init.body).toMatchObject({ name: "sim-2", region: "eu-west", availability_zone: "eu-west-1a", kubeconfig_content: KUBECONFIG, priority: 100 });
    expect(init.body).not.toHaveProperty("domain");
  });

  it("marks the field a 422 names and shows a 400 in words", async () => {
    const user = userEvent.setup();
    mocks.POST.mockImplementationOnce(() =>
      refusal(422, "validation_error", "Invalid request", [{ field: "region", message: "region is reserved" }]),
    ).mockImplementationOnce(() => refusal(400, "bad_request", "The cluster cannot be reached: connection refused"));
    renderPage();
    await user.type(screen.getByLabelText("Name"), "sim-2");
    await user.type(screen.getByLabelText("Region"), "eu-west");
    await user.click(screen.getByLabelText("Kubeconfig"));
    await user.paste(KUBECONFIG);
    await user.click(screen.getByRole("button", { name: "Onboard provider" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("Invalid request");
    expect(screen.getByLabelText("Region")).toHaveAttribute("aria-invalid", "true");
    expect(screen.getByLabelText("Region")).toHaveAccessibleDescription("region is reserved");
    await user.clear(screen.getByLabelText("Region"));
    await user.type(screen.getByLabelText("Region"), "eu-north");
    await user.click(screen.getByRole("button", { name: "Onboard provider" }));
    await waitFor(() => expect(screen.getByRole("alert")).toHaveTextContent("The cluster cannot be reached: connection refused"));
  });
});
