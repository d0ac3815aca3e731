import { z } from "zod";

/** A textarea holding a JSON object (metadata): empty means `{}`. */
export const jsonObjectText = z.string().refine(
  (s) => {
    if (s.trim() === "") return true;
    try {
      const v: unknown = JSON.parse(s);
      return typeof v === "object" && v !== null && !Array.isArray(v);
    } catch {
      return false;
    }
  },
  { message: 'Enter a JSON object, such as {"team": "payments"}' },
);

/**
 * The object a valid text holds. Typed as the generated type of the API's free-form objects
 * (`type: object`, which openapi-typescript writes as Record<string, never>).
 */
export function parseJsonObject(s: string): Record<string, never> {
  return s.trim() === "" ? {} : (JSON.parse(s) as Record<string, never>);
}

export function showJson(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 0) return "";
  return JSON.stringify(v, null, 2);
}
