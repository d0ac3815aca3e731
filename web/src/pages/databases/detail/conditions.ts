import type { StatusCondition } from "../../../api/types";

/** Kubernetes conditions ({type, status, reason, message}) as sentences. */
export function conditionSentences(conditions: readonly StatusCondition[] | undefined): string[] {
  return (conditions ?? []).map((c) => {
    const type = c.type.replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase();
    const why = c.message ? `: ${c.message}` : c.reason ? ` (${c.reason})` : "";
    return `${c.status === "True" ? "Is" : "Is not"} ${type}${why}`;
  });
}
