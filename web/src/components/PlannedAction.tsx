import { useState, type ReactNode } from "react";
import { useQueryClient } from "@tanstack/react-query";
import type { Plan } from "../api/types";
import { Button } from "./Button";
import { Dialog } from "./Dialog";
import { ErrorNotice } from "./ErrorNotice";
import { OperationProgress } from "./OperationProgress";
import { PlanView } from "./PlanView";
import { isRecord } from "../lib/isRecord";

/** The operation ids an accepted (202) answer names: `operations[].id` or `operation_id`. */
function operationIdsOf(answer: unknown): string[] {
  if (!isRecord(answer)) return [];
  const listed = Array.isArray(answer.operations)
    ? answer.operations.flatMap((o) => (isRecord(o) && typeof o.id === "string" ? [o.id] : []))
    : [];
  if (listed.length > 0) return listed;
  return typeof answer.operation_id === "string" ? [answer.operation_id] : [];
}

type Step = { at: "closed" } | { at: "planning" } | { at: "planned"; plan: Plan } | { at: "running"; plan: Plan } | { at: "done"; ops: string[]; note: ReactNode };

interface Props {
  /** The button that opens the dialog. */
  label: string;
  title: string;
  variant?: "primary" | "secondary" | "danger";
  disabled?: boolean;
  /** Asks the server for the plan (the same request with ?dry_run=true). */
  plan: () => Promise<Plan>;
  /** Sends the request; answers the 202 body. */
  run: () => Promise<unknown>;
  confirmLabel?: string;
  /** Shown above the plan (what the action means). */
  children?: ReactNode;
  /** When set, the confirm button waits until this text is typed. */
  typeToConfirm?: string;
  /** Shown after the request was accepted, under the operations' progress. */
  after?: (answer: unknown) => ReactNode;
  /** Opens the dialog only when this returns true (the caller's form is valid). */
  canOpen?: () => boolean;
}

/**
 * A change in three steps: the server's plan (dry run), a confirmation, then the progress of the
 * operations it queued. Refusals stay in the dialog, in words.
 */
export function PlannedAction({ label, title, variant = "secondary", disabled, plan, run, confirmLabel = "Confirm", children, typeToConfirm, after, canOpen }: Props) {
  const [step, setStep] = useState<Step>({ at: "closed" });
  const [error, setError] = useState<unknown>(null);
  const [typed, setTyped] = useState("");
  // The dialog keeps the title it opened with: what it names (a version, a setting) may change
  // while the operation runs.
  const [shownTitle, setShownTitle] = useState(title);
  const queryClient = useQueryClient();

  const open = async () => {
    if (canOpen && !canOpen()) return;
    setShownTitle(title);
    setError(null);
    setTyped("");
    setStep({ at: "planning" });
    try {
      setStep({ at: "planned", plan: await plan() });
    } catch (err) {
      setError(err);
    }
  };
  const confirm = async (p: Plan) => {
    setError(null);
    setStep({ at: "running", plan: p });
    try {
      const answer = await run();
      void queryClient.invalidateQueries({ queryKey: ["database"] });
      void queryClient.invalidateQueries({ queryKey: ["operations"] });
      setStep({ at: "done", ops: operationIdsOf(answer), note: after?.(answer) ?? null });
    } catch (err) {
      setError(err);
      setStep({ at: "planned", plan: p });
    }
  };
  const blocked = typeToConfirm !== undefined && typed !== typeToConfirm;
  return (
    <>
      <Button variant={variant} disabled={disabled} onClick={() => void open()}>
        {label}
      </Button>
      <Dialog open={step.at !== "closed"} onOpenChange={(o) => !o && setStep({ at: "closed" })} title={shownTitle}>
        {children ? <div className="dialog-body">{children}</div> : null}
        {step.at === "planning" && !error ? <p role="status">Asking the server for the plan…</p> : null}
        {step.at === "planned" || step.at === "running" ? <PlanView plan={step.plan} /> : null}
        {step.at === "done" ? (
          <div role="status">
            <p>Accepted. {step.ops.length > 0 ? "Progress:" : ""}</p>
            {step.ops.map((id) => (
              <OperationProgress key={id} id={id} />
            ))}
            {step.note}
          </div>
        ) : null}
        {typeToConfirm !== undefined && (step.at === "planned" || step.at === "running") ? (
          <div className="field">
            <label htmlFor="type-to-confirm">Type {typeToConfirm} to confirm</label>
            <input id="type-to-confirm" autoComplete="off" value={typed} onChange={(e) => setTyped(e.target.value)} />
          </div>
        ) : null}
        <ErrorNotice error={error} title="Refused" />
        <div className="dialog-actions">
          {step.at === "done" ? (
            <Button variant="primary" onClick={() => setStep({ at: "closed" })}>
              Close
            </Button>
          ) : (
            <>
              <Button onClick={() => setStep({ at: "closed" })}>Cancel</Button>
              {step.at === "planned" || step.at === "running" ? (
                <Button
                  variant={variant === "danger" ? "danger" : "primary"}
                  busy={step.at === "running"}
                  disabled={blocked}
                  onClick={() => void confirm(step.plan)}
                >
                  {confirmLabel}
                </Button>
              ) : null}
            </>
          )}
        </div>
      </Dialog>
    </>
  );
}
