// The audit log's filters live in the URL (?action=…&status=…&page=…), so a filtered view can be
// linked and survives a reload. These turn the URL into the form, the form into the URL, and the
// URL into the API's query.
import type { AuditQuery } from "../types";

export const AUDIT_PAGE_SIZE = 25;

export interface AuditFilters {
  action: string;
  resource_type: string;
  resource_id: string;
  domain: string;
  project: string;
  user_id: string;
  /** success | failure | "" (both) */
  status: string;
  /** datetime-local values (the reader's time zone), "" when open */
  since: string;
  until: string;
}

export const NO_FILTERS: AuditFilters = {
  action: "",
  resource_type: "",
  resource_id: "",
  domain: "",
  project: "",
  user_id: "",
  status: "",
  since: "",
  until: "",
};

const KEYS = Object.keys(NO_FILTERS) as (keyof AuditFilters)[];

/** Actions the API records, offered as suggestions (any text is accepted). */
export const KNOWN_ACTIONS = [
  "auth.api_key_create",
  "auth.api_key_revoke",
  "auth.login",
  "auth.login_failed",
  "auth.logout",
  "auth.refresh_reuse",
  "database.create",
  "database.delete",
  "database.drift_detected",
  "database.get_credentials",
  "database.ownership_conflict",
  "database.pause",
  "database.reconfigure",
  "database.refresh_endpoint",
  "database.restart",
  "database.restore",
  "database.resume",
  "database.rotate_auth",
  "database.scale",
  "database.trigger_backup",
  "database.update",
  "database.upgrade_version",
  "member.accept",
  "member.add",
  "member.decline",
  "member.invite_revoke",
  "member.remove",
  "operation.cancel",
  "project.create",
  "project.delete",
  "project.update",
  "provider.backup_storage",
  "provider.create",
  "provider.delete",
  "provider.update",
  "tenant.backup_storage",
  "tenant.create",
  "tenant.delete",
  "tenant.update",
  "user.change_password",
  "user.create",
  "user.create_admin",
  "user.deactivate",
  "user.promote_admin",
  "user.register",
  "user.register_failed",
  "user.reset_password",
  "user.update",
] as const;

export const RESOURCE_TYPES = ["provider", "tenant", "project", "member", "invitation", "user", "api_key", "database", "operation"] as const;

export function filtersFromParams(params: URLSearchParams): { filters: AuditFilters; page: number } {
  const filters = { ...NO_FILTERS };
  for (const k of KEYS) filters[k] = params.get(k) ?? "";
  if (filters.status !== "success" && filters.status !== "failure") filters.status = "";
  const page = Math.max(1, Math.floor(Number(params.get("page") ?? "1")) || 1);
  return { filters, page };
}

export function paramsFromFilters(filters: AuditFilters, page = 1): URLSearchParams {
  const params = new URLSearchParams();
  for (const k of KEYS) {
    const v = filters[k].trim();
    if (v) params.set(k, v);
  }
  if (page > 1) params.set("page", String(page));
  return params;
}

/** A datetime-local value ("2026-12-04T16:30") as RFC 3339 UTC, or null if it is not one. */
export function localToIso(local: string): string | null {
  if (!local) return null;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** What is wrong with the filters, if anything (checked before asking the API). */
export function filterProblems(f: AuditFilters): Partial<Record<keyof AuditFilters, string>> {
  const out: Partial<Record<keyof AuditFilters, string>> = {};
  const since = f.since ? localToIso(f.since) : null;
  const until = f.until ? localToIso(f.until) : null;
  if (f.since && !since) out.since = "Enter a date and time";
  if (f.until && !until) out.until = "Enter a date and time";
  if (since && until && since > until) out.until = "Must be after “From”";
  return out;
}

export function toAuditQuery(f: AuditFilters, page: number): AuditQuery {
  const q: AuditQuery = { page, page_size: AUDIT_PAGE_SIZE };
  if (f.action.trim()) q.action = f.action.trim();
  if (f.resource_type.trim()) q.resource_type = f.resource_type.trim();
  if (f.resource_id.trim()) q.resource_id = f.resource_id.trim();
  if (f.domain.trim()) q.domain = f.domain.trim();
  if (f.project.trim()) q.project = f.project.trim();
  if (f.user_id.trim()) q.user_id = f.user_id.trim();
  if (f.status === "success" || f.status === "failure") q.status = f.status;
  const since = localToIso(f.since);
  const until = localToIso(f.until);
  if (since) q.since = since;
  if (until) q.until = until;
  return q;
}

export function activeFilterCount(f: AuditFilters): number {
  return KEYS.filter((k) => f[k].trim() !== "").length;
}
