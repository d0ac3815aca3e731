import type { Quota } from "../../api/types";
import { describeError } from "../../api/errors";
import type { Scope } from "../../app/scope";
import { useQuota } from "./queries";

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

const ROWS: { label: string; used: (q: Quota) => number; max: (q: Quota) => number; unit: string }[] = [
  { label: "Databases", used: (q) => q.used_databases, max: (q) => q.max_databases, unit: "" },
  { label: "CPU", used: (q) => q.used_cpu_cores, max: (q) => q.max_cpu_cores, unit: " cores" },
  { label: "Memory", used: (q) => q.used_memory_gb, max: (q) => q.max_memory_gb, unit: " GB" },
  { label: "Storage", used: (q) => q.used_storage_gb, max: (q) => q.max_storage_gb, unit: " GB" },
  { label: "Backups", used: (q) => q.used_backups, max: (q) => q.max_backups, unit: "" },
];

/** The project's quota usage at a glance. */
export function QuotaSummary({ scope }: { scope: Scope }) {
  const quota = useQuota(scope);
  return (
    <section className="panel" aria-labelledby="quota-title">
      <h2 id="quota-title">Project quota</h2>
      {quota.isError ? <p className="muted">Quota not available: {describeError(quota.error)}</p> : null}
      {quota.data ? (
        <div className="quota">
          {ROWS.map((r) => {
            const used = r.used(quota.data);
            const max = r.max(quota.data);
            return (
              <div key={r.label}>
                <div className="meter-label">
                  <span>{r.label}</span>
                  <span>
                    {fmt(used)} of {fmt(max)}
                    {r.unit}
                  </span>
                </div>
                <progress max={max || 1} value={Math.min(used, max)} aria-label={`${r.label}: ${fmt(used)} of ${fmt(max)}${r.unit} used`} />
              </div>
            );
          })}
        </div>
      ) : null}
    </section>
  );
}
