// The quota form's rules and what a new limit would mean against what is used now.
import { z } from "zod";
import type { QuotaInput, QuotaLimits, QuotaView } from "../types";

const limit = (what: string) => z.number({ error: `Enter the ${what}` }).min(0, "At least 0").max(1_000_000, "At most 1,000,000");
const whole = (what: string) => limit(what).int("A whole number");

export const quotaSchema = z.object({
  max_cpu_cores: limit("CPU cores"),
  max_memory_gb: limit("memory in GB"),
  max_storage_gb: limit("storage in GB"),
  max_databases: whole("number of databases"),
  max_backups: whole("number of backups"),
});

export type QuotaValues = z.infer<typeof quotaSchema>;
export const QUOTA_FIELDS = ["max_cpu_cores", "max_memory_gb", "max_storage_gb", "max_databases", "max_backups"] as const;

export const QUOTA_ROWS = [
  { key: "max_cpu_cores", used: "used_cpu_cores", label: "CPU", unit: " cores", field: "Maximum CPU cores" },
  { key: "max_memory_gb", used: "used_memory_gb", label: "Memory", unit: " GB", field: "Maximum memory (GB)" },
  { key: "max_storage_gb", used: "used_storage_gb", label: "Storage", unit: " GB", field: "Maximum storage (GB)" },
  { key: "max_databases", used: "used_databases", label: "Databases", unit: "", field: "Maximum databases" },
  { key: "max_backups", used: "used_backups", label: "Backups", unit: "", field: "Maximum backups" },
] as const;

export function quotaValues(q: QuotaLimits): QuotaValues {
  return {
    max_cpu_cores: q.max_cpu_cores,
    max_memory_gb: q.max_memory_gb,
    max_storage_gb: q.max_storage_gb,
    max_databases: q.max_databases,
    max_backups: q.max_backups,
  };
}

/** Only the limits that changed, so an untouched one keeps tracking its default. */
export function quotaChanges(before: QuotaLimits, after: QuotaValues): QuotaInput {
  const out: QuotaInput = {};
  for (const k of QUOTA_FIELDS) {
    if (before[k] !== after[k]) (out as Record<string, number>)[k] = after[k];
  }
  return out;
}

/** The limits that would sit below what is already used (allowed, but nothing new fits). */
export function limitsBelowUse(view: QuotaView | undefined, v: Partial<QuotaValues>): string[] {
  if (!view) return [];
  return QUOTA_ROWS.flatMap((r) => {
    const next = v[r.key];
    const used = view[r.used];
    return typeof next === "number" && Number.isFinite(next) && next < used ? [`${r.label}: ${next}${r.unit} is below the ${used}${r.unit} in use`] : [];
  });
}
