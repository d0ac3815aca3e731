import type { Plan, Quota } from "../api/types";

const RESOURCES = [
  { key: "databases", label: "Databases", unit: "", used: (q: Quota) => q.used_databases, max: (q: Quota) => q.max_databases },
  { key: "cpu_cores", label: "CPU", unit: " cores", used: (q: Quota) => q.used_cpu_cores, max: (q: Quota) => q.max_cpu_cores },
  { key: "memory_gb", label: "Memory", unit: " GB", used: (q: Quota) => q.used_memory_gb, max: (q: Quota) => q.max_memory_gb },
  { key: "storage_gb", label: "Storage", unit: " GB", used: (q: Quota) => q.used_storage_gb, max: (q: Quota) => q.max_storage_gb },
] as const;

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

/** The project's quota after a planned change: what it would use of each limit. */
export function QuotaCheck({ quota, delta }: { quota: Quota; delta: Plan["quota_delta"] }) {
  const rows = RESOURCES.map((r) => {
    const after = r.used(quota) + delta[r.key];
    return { ...r, after, max: r.max(quota), over: after > r.max(quota) };
  });
  const over = rows.filter((r) => r.over);
  return (
    <div className={`notice ${over.length > 0 ? "notice-warn" : "notice-info"}`} aria-live="polite">
      <strong>Quota:</strong>{" "}
      {over.length > 0
        ? `this would exceed the project's ${over.map((r) => r.label.toLowerCase()).join(" and ")} quota.`
        : "fits within the project's quota."}
      <ul>
        {rows.map((r) => (
          <li key={r.key}>
            {r.label}: {fmt(r.after)} of {fmt(r.max)}
            {r.unit} after this
          </li>
        ))}
      </ul>
    </div>
  );
}
