// Who may do what, from the bindings in /auth/me (the same table as the API enforces; the API
// stays the judge, this only decides what the console offers).
import type { components } from "../api/schema";

export type Me = components["schemas"]["MeResponse"];
export type Binding = Me["bindings"][number];
export type Role = Binding["role"];

const RANK: Record<Role, number> = {
  developer: 1,
  project_admin: 2,
  domain_admin: 3,
  platform_admin: 4,
};

/** The strongest role the user holds over one project, or null when they hold none. */
export function roleIn(me: Me, domain: string, project: string): Role | null {
  let best: Role | null = null;
  for (const b of me.bindings) {
    const applies =
      b.role === "platform_admin" ||
      (b.role === "domain_admin" && b.domain === domain) ||
      (b.domain === domain && b.project === project);
    if (applies && (best === null || RANK[b.role] > RANK[best])) best = b.role;
  }
  return best;
}

/** Create, change, delete databases and read their credentials: every role but developer. */
export function canMutate(me: Me, domain: string, project: string): boolean {
  const role = roleIn(me, domain, project);
  return role !== null && role !== "developer";
}

export function isPlatformAdmin(me: Me): boolean {
  return me.bindings.some((b) => b.role === "platform_admin");
}

/** Platform and domain admins get the admin pages. */
export function hasAdminPages(me: Me): boolean {
  return me.bindings.some((b) => b.role === "platform_admin" || b.role === "domain_admin");
}

export const ROLE_LABEL: Record<Role, string> = {
  platform_admin: "Platform admin",
  domain_admin: "Domain admin",
  project_admin: "Project admin",
  developer: "Developer (read-only)",
};

/** The (domain, project) pairs the bindings name directly, for the scope switcher. */
export function boundProjects(me: Me): { domain: string; project: string | null }[] {
  return me.bindings.flatMap((b) => (b.domain ? [{ domain: b.domain, project: b.project ?? null }] : []));
}
