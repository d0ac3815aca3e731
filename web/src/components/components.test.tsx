import { describe, expect, it, vi } from "vitest";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { ApiProblem } from "../api/errors";
import { ConfirmDialog } from "./ConfirmDialog";
import { ErrorNotice } from "./ErrorNotice";
import { Field } from "./Field";
import { PlanView } from "./PlanView";
import { describeObject } from "./words";
import { PlannedAction } from "./PlannedAction";
import { StatusBadge } from "./StatusBadge";
import type { Plan } from "../api/types";

describe("Field", () => {
  it("ties the label, hint and error to the control", () => {
    render(
      <Field label="Name" hint="3–40 characters" error="Too short">
        {(p) => <input {...p} />}
      </Field>,
    );
    const input = screen.getByLabelText("Name");
    expect(input).toHaveAttribute("aria-invalid", "true");
    expect(input).toHaveAccessibleDescription("3–40 characters Too short");
  });
});

describe("StatusBadge", () => {
  it("words the status", () => {
    render(<StatusBadge status="in_progress" />);
    expect(screen.getByText("In progress")).toHaveClass("badge-busy");
  });
});

describe("ErrorNotice", () => {
  it("shows the API's message and the fields it named", () => {
    render(<ErrorNotice error={new ApiProblem(422, "validation_error", "Invalid request", [{ field: "storage_gb", message: "at least 10" }])} />);
    expect(screen.getByRole("alert")).toHaveTextContent("Invalid request");
    expect(screen.getByRole("alert")).toHaveTextContent("storage_gb: at least 10");
  });
});

describe("PlanView", () => {
  it("says what would happen and what the quota gets", () => {
    const plan = {
      dry_run: true,
      database_id: "db-1",
      changed: [],
      operations: [{ type: "scale_vertical" }, { type: "expand_storage" }],
      kubernetes_objects: [{ kind: "PostgresOpsRequest", metadata: { name: "orders-op-1" } }],
      quota_delta: { cpu_cores: 0.5, memory_gb: 1, storage_gb: 10, databases: 0, backups: 0 },
    } as unknown as Plan;
    render(<PlanView plan={plan} />);
    expect(screen.getByRole("region", { name: "Plan" })).toHaveTextContent("change the instance size");
    expect(screen.getByText(/expand the storage/)).toBeInTheDocument();
    expect(screen.getByText(/\+0.5 CPU cores, \+1 GB memory, \+10 GB storage/)).toBeInTheDocument();
    expect(describeObject({ patch: { kind: "Postgres", name: "orders" } })).toBe("patch Postgres orders");
  });
});

describe("ConfirmDialog", () => {
  it("waits for the typed name, then confirms", async () => {
    const user = userEvent.setup();
    const onConfirm = vi.fn().mockResolvedValue(undefined);
    const onOpenChange = vi.fn();
    render(
      <ConfirmDialog open onOpenChange={onOpenChange} title="Delete orders" confirmLabel="Delete" typeToConfirm="orders" onConfirm={onConfirm}>
        Everything goes.
      </ConfirmDialog>,
    );
    const button = screen.getByRole("button", { name: "Delete" });
    expect(button).toBeDisabled();
    await user.type(screen.getByLabelText("Type orders to confirm"), "orders");
    await user.click(button);
    expect(onConfirm).toHaveBeenCalledOnce();
    expect(onOpenChange).toHaveBeenCalledWith(false);
  });

  it("keeps the refusal in the dialog", async () => {
    const user = userEvent.setup();
    render(
      <ConfirmDialog
        open
        onOpenChange={() => undefined}
        title="Pause"
        confirmLabel="Pause"
        onConfirm={() => Promise.reject(new ApiProblem(400, "invalid_state", "The database is paused already"))}
      />,
    );
    await user.click(screen.getByRole("button", { name: "Pause" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("The database is paused already");
  });
});

describe("PlannedAction", () => {
  it("keeps the title it opened with while what it names changes", async () => {
    const user = userEvent.setup();
    const plan = {
      dry_run: true,
      database_id: "db-1",
      changed: [],
      operations: [{ type: "upgrade_version" }],
      kubernetes_objects: [],
      quota_delta: { cpu_cores: 0, memory_gb: 0, storage_gb: 0, databases: 0, backups: 0 },
    } as unknown as Plan;
    const run = vi.fn().mockResolvedValue({});
    const client = new QueryClient();
    const view = (version: string) => (
      <QueryClientProvider client={client}>
        <PlannedAction label="Upgrade…" title={`Upgrade orders to ${version}`} confirmLabel="Upgrade" plan={() => Promise.resolve(plan)} run={run} />
      </QueryClientProvider>
    );
    const { rerender } = render(view("17.6"));
    await user.click(screen.getByRole("button", { name: "Upgrade…" }));
    expect(await screen.findByRole("dialog", { name: "Upgrade orders to 17.6" })).toHaveTextContent("upgrade the version");
    await user.click(screen.getByRole("button", { name: "Upgrade" }));
    expect(await screen.findByText(/Accepted/)).toBeInTheDocument();
    // The upgrade done, the next version is offered: the open dialog still names the one it ran.
    rerender(view("17.9"));
    expect(screen.getByRole("dialog", { name: "Upgrade orders to 17.6" })).toBeInTheDocument();
    expect(run).toHaveBeenCalledOnce();
  });
});
