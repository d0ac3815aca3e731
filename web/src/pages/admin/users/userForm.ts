import { z } from "zod";

export const BINDING_ROLES = ["none", "domain_admin", "project_admin", "developer"] as const;

export const userCreateSchema = z
  .object({
    email: z.string().trim().min(1, "Enter an e-mail address").max(254, "At most 254 characters").email("Enter an e-mail address"),
    full_name: z.string().trim().min(2, "At least 2 characters").max(100, "At most 100 characters"),
    password: z.string().min(12, "At least 12 characters").max(256, "At most 256 characters"),
    platform_admin: z.boolean(),
    role: z.enum(BINDING_ROLES),
    domain: z.string().trim(),
    project: z.string().trim(),
  })
  .superRefine((v, ctx) => {
    if (v.role !== "none" && !v.domain) ctx.addIssue({ code: "custom", path: ["domain"], message: "Choose the tenant for this role" });
    if ((v.role === "project_admin" || v.role === "developer") && !v.project)
      ctx.addIssue({ code: "custom", path: ["project"], message: "Enter the project for this role" });
  });
export type UserCreateValues = z.infer<typeof userCreateSchema>;

export const USER_DEFAULTS: UserCreateValues = {
  email: "",
  full_name: "",
  password: "",
  platform_admin: false,
  role: "none",
  domain: "",
  project: "",
};

/** The role the form grants, in the shape of one of the API's bindings (checked where it is sent). */
function bindingsOf(v: UserCreateValues) {
  if (v.role === "domain_admin") return [{ role: "domain_admin" as const, domain: v.domain }];
  if (v.role === "project_admin" || v.role === "developer") return [{ role: v.role, domain: v.domain, project: v.project }];
  return [];
}

export function toUserCreate(v: UserCreateValues) {
  return { email: v.email.trim(), full_name: v.full_name.trim(), password: v.password, platform_admin: v.platform_admin, bindings: bindingsOf(v) };
}
