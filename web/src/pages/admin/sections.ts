// The admin sections, who gets each one, and what it is for (the landing page and the nav).
import { isPlatformAdmin, type Me } from "../../auth/roles";

export interface Section {
  path: string;
  title: string;
  blurb: string;
  platformOnly: boolean;
}

export const SECTIONS: readonly Section[] = [
  { path: "providers", title: "Providers", blurb: "Kubernetes clusters running KubeDB: capacity, health, onboarding, maintenance.", platformOnly: true },
  { path: "tenants", title: "Tenants", blurb: "Tenants and their projects, quotas, members and invitations.", platformOnly: false },
  { path: "users", title: "Users", blurb: "Accounts: create, activate and deactivate.", platformOnly: true },
  { path: "audit", title: "Audit log", blurb: "Who did what, when, from where, and whether it was allowed.", platformOnly: false },
  { path: "api-keys", title: "API keys", blurb: "Your own keys for the CLI and scripts.", platformOnly: false },
];

export function sectionsFor(me: Me): Section[] {
  const platform = isPlatformAdmin(me);
  return SECTIONS.filter((s) => platform || !s.platformOnly);
}
