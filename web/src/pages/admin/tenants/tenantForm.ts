// Tenant and project forms: rules from the API's limits, and the requests they become.
import { z } from "zod";
import { jsonObjectText, parseJsonObject } from "../common/jsonObject";
import type { ProjectCreate, TenantCreate, TenantPlan, TenantUpdate } from "../types";

/** Every plan exactly once (a new one in the API fails the typecheck here). */
export const PLANS = ["free", "starter", "professional", "enterprise"] as const satisfies readonly TenantPlan[];
export const plansComplete: [Exclude<TenantPlan, (typeof PLANS)[number]>] extends [never] ? true : false = true;

export const slug = z
  .string()
  .min(3, "At least 3 characters")
  .max(63, "At most 63 characters")
  .regex(/^[a-z]([a-z0-9-]*[a-z0-9])?$/, "Lowercase letters, digits and hyphens; start with a letter, end with a letter or digit");

const displayName = z.string().trim().max(100, "At most 100 characters");
const email = z.union([z.literal(""), z.string().trim().max(254, "At most 254 characters").email("Enter an e-mail address")]);

export const tenantDetailsSchema = z.object({
  display_name: displayName,
  contact_email: email,
  metadata: jsonObjectText,
  plan: z.enum(PLANS),
});
export type TenantDetailsValues = z.infer<typeof tenantDetailsSchema>;

export const tenantCreateSchema = tenantDetailsSchema.extend({ name: slug });
export type TenantCreateValues = z.infer<typeof tenantCreateSchema>;

export function toTenantCreate(v: TenantCreateValues): TenantCreate {
  const body: TenantCreate = { name: v.name, plan: v.plan, metadata: parseJsonObject(v.metadata) };
  if (v.display_name.trim()) body.display_name = v.display_name.trim();
  if (v.contact_email.trim()) body.contact_email = v.contact_email.trim();
  return body;
}

/** The details a domain admin may change; the plan only when `withPlan` (platform admins). */
export function toTenantUpdate(v: TenantDetailsValues, withPlan: boolean): TenantUpdate {
  const body: TenantUpdate = { metadata: parseJsonObject(v.metadata) };
  if (v.display_name.trim()) body.display_name = v.display_name.trim();
  if (v.contact_email.trim()) body.contact_email = v.contact_email.trim();
  if (withPlan) body.plan = v.plan;
  return body;
}

export const projectCreateSchema = z.object({
  name: slug,
  display_name: displayName,
  description: z.string().trim().max(1000, "At most 1000 characters"),
});
export type ProjectCreateValues = z.infer<typeof projectCreateSchema>;

export function toProjectCreate(v: ProjectCreateValues): ProjectCreate {
  const body: ProjectCreate = { name: v.name };
  if (v.display_name.trim()) body.display_name = v.display_name.trim();
  if (v.description.trim()) body.description = v.description.trim();
  return body;
}

export const projectDetailsSchema = z.object({
  display_name: displayName,
  description: z.string().trim().max(1000, "At most 1000 characters"),
  metadata: jsonObjectText,
});
export type ProjectDetailsValues = z.infer<typeof projectDetailsSchema>;
