import type { Plan } from "../api/types";

const OPERATION_WORDS: Record<string, string> = {
  create: "create the database",
  delete: "delete the database and wipe its data",
  scale_horizontal: "change the number of replicas",
  scale_vertical: "change the instance size",
  expand_storage: "expand the storage",
  upgrade_version: "upgrade the version",
  backup: "take a backup",
  restore: "restore from a backup",
  pause: "pause the database (volumes are kept)",
  resume: "resume the database",
  restart: "restart the pods",
  reconfigure: "apply a new configuration",
  rotate_auth: "rotate the credentials",
};

export function operationWords(type: string): string {
  return OPERATION_WORDS[type] ?? type.replace(/_/g, " ");
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | null {
  return typeof v === "string" && v ? v : null;
}

/** One line per Kubernetes object: what happens to which kind and name. */
export function describeObject(o: unknown): string {
  if (!isRecord(o)) return "an object";
  for (const verb of ["patch", "delete"] as const) {
    const t = o[verb];
    if (isRecord(t)) return `${verb} ${str(t.kind) ?? "object"} ${str(t.name) ?? ""}`.trim();
  }
  const meta = isRecord(o.metadata) ? o.metadata : {};
  return `create ${str(o.kind) ?? "object"} ${str(meta.name) ?? str(meta.generateName) ?? ""}`.trim();
}

function signed(n: number, unit: string): string {
  const v = Number.isInteger(n) ? String(n) : n.toFixed(1);
  return `${n > 0 ? "+" : ""}${v}${unit}`;
}

/** A dry run's answer in words: the operations, the Kubernetes objects and the quota change. */
export function PlanView({ plan, title = "This will:" }: { plan: Plan; title?: string }) {
  const types = plan.operations.flatMap((o) => (isRecord(o) && typeof o.type === "string" ? [o.type] : []));
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
