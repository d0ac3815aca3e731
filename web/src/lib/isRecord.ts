/** Whether `v` is a plain JSON object (not null, not an array), so its fields can be read. */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
