import type { Plan } from "../api/types";
import { describeObject, operationWords } from "./words";
import { isRecord } from "../lib/isRecord";

function signed(n: number, unit: string): string {
  const v = Number.isInteger(n) ? String(n) : n.toFixed(1);
  return `${n > 0 ? "+" : ""}${v}${unit}`;
}

/** A dry run's answer in words: the operations, the Kubernetes objects and the quota change. */
export function PlanView({ plan, title = "This will:" }: { plan: Plan; title?: string }) {
  // The document types each operation as an empty object; read it as the unknown it is.
  const types = plan.operations.flatMap((o: unknown) => (isRecord(o) && typeof o.type === "string" ? [o.type] : []));
  const d = plan.quota_delta;
  const delta = [
    d.databases ? signed(d.databases, d.databases === 1 || d.databases === -1 ? " database" : " databases") : null,
    d.cpu_cores ? signed(d.cpu_cores, " CPU cores") : null,
    d.memory_gb ? signed(d.memory_gb, " GB memory") : null,
    d.storage_gb ? signed(d.storage_gb, " GB storage") : null,
  ].filter((x): x is string => x !== null);
  return (
    <div className="plan" role="region" aria-label="Plan">
      <h3>{title}</h3>
      {types.length === 0 ? <p>Nothing needs to change.</p> : (
        <ul>
          {types.map((t, i) => (
            <li key={`${t}-${i}`}>{operationWords(t)}</li>
          ))}
        </ul>
      )}
      {plan.kubernetes_objects.length > 0 ? (
        <p className="muted">
          Kubernetes: {plan.kubernetes_objects.map(describeObject).join("; ")}.
        </p>
      ) : null}
      <p>Quota: {delta.length > 0 ? delta.join(", ") : "no change"}.</p>
    </div>
  );
}
