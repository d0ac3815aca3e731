import { z } from "zod";
import type { ApiKeyCreate, KeyScope } from "../types";

export const SCOPES = ["read", "write"] as const satisfies readonly KeyScope[];
export const scopesComplete: [Exclude<KeyScope, (typeof SCOPES)[number]>] extends [never] ? true : false = true;

export const SCOPE_WORDS: Record<KeyScope, string> = {
  read: "read: GET requests only",
  write: "write: changes too (never more than your own roles)",
};

export const apiKeySchema = z.object({
  name: z.string().trim().min(3, "At least 3 characters").max(100, "At most 100 characters"),
  description: z.string().trim().max(500, "At most 500 characters"),
  /** "" = never expires */
  expires_in_days: z.union([z.literal(""), z.coerce.number().int("Whole days").min(1, "At least 1 day").max(365, "At most 365 days")]),
  scopes: z.array(z.enum(SCOPES)).min(1, "Choose at least one scope"),
});
export type ApiKeyValues = z.input<typeof apiKeySchema>;
export type ApiKeyParsed = z.output<typeof apiKeySchema>;

export const API_KEY_DEFAULTS: ApiKeyValues = { name: "", description: "", expires_in_days: "90", scopes: ["read"] };

export function toApiKeyCreate(v: ApiKeyParsed): ApiKeyCreate {
  const body: ApiKeyCreate = { name: v.name, scopes: v.scopes };
  if (v.description) body.description = v.description;
  if (v.expires_in_days !== "") body.expires_in_days = v.expires_in_days;
  return body;
}
