// How the console words what the API names: operation types, Kubernetes objects, statuses.

import { isRecord } from "../lib/isRecord";

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

/** A status as a label: `in_progress` reads "In progress". */
export function statusLabel(status: string): string {
  const s = status.replace(/_/g, " ");
  return s.charAt(0).toUpperCase() + s.slice(1);
}
