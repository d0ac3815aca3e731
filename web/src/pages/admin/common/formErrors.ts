// Puts the fields a 422 (or 400) answer names onto the form, so the control the API objected to is
// marked and described, not only the summary.
import type { FieldValues, Path, UseFormSetError } from "react-hook-form";
import { ApiProblem } from "../../../api/errors";

/**
 * The form field an API field name refers to: the exact name, else the last segment of a dotted
 * or indexed path (`quota.max_cpu_cores` → `max_cpu_cores`, `bindings[0].role` → `role`), else
 * whatever `aliases` maps it to.
 */
export function formFieldFor<T extends string>(apiField: string, fields: readonly T[], aliases: Partial<Record<string, T>> = {}): T | null {
  const direct = aliases[apiField] ?? (fields as readonly string[]).find((f) => f === apiField);
  if (direct) return direct as T;
  const parts = apiField.split(/[.[\]]+/).filter(Boolean);
  for (let i = parts.length - 1; i >= 0; i--) {
    const p = parts[i] as string;
    const hit = aliases[p] ?? (fields as readonly string[]).find((f) => f === p);
    if (hit) return hit as T;
  }
  return null;
}

/** Marks every form field the error names; answers how many it marked. */
export function applyFieldErrors<V extends FieldValues>(
  err: unknown,
  setError: UseFormSetError<V>,
  fields: readonly Path<V>[],
  aliases: Partial<Record<string, Path<V>>> = {},
): number {
  if (!(err instanceof ApiProblem)) return 0;
  let marked = 0;
  for (const f of err.fields) {
    const target = formFieldFor(f.field, fields, aliases);
    if (target) {
      setError(target, { type: "server", message: f.message });
      marked++;
    }
  }
  return marked;
}
