// Dry runs: the same request with ?dry_run=true answers a plan (200) instead of queueing.
import { unwrap } from "./errors";
import type { Plan } from "./types";
import { isRecord } from "../lib/isRecord";

export function isPlan(v: unknown): v is Plan {
  return isRecord(v) && v.dry_run === true && Array.isArray(v.operations) && isRecord(v.quota_delta);
}

/** The plan a dry-run call answers; an answer that is not a plan is an error. */
export async function dryRun(call: Promise<{ data?: unknown; error?: unknown; response: Response }>): Promise<Plan> {
  const answer = await unwrap(call);
  if (!isPlan(answer)) throw new Error("The server answered the dry run without a plan.");
  return answer;
}
