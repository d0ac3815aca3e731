// Names for the generated API types (src/api/schema.d.ts) the admin pages use. Nothing here is
// written by hand: a change in the API fails the typecheck.
import type { components, paths } from "../../api/schema";

type S = components["schemas"];

export type Provider = S["ProviderResponse"];
export type ProviderCreate = S["ProviderCreate"];
export type ProviderUpdate = S["ProviderUpdate"];
export type Tenant = S["TenantResponse"];
export type TenantCreate = S["TenantCreate"];
export type TenantUpdate = S["TenantUpdate"];
export type TenantPlan = Tenant["plan"];
export type Project = S["ProjectResponse"];
export type ProjectCreate = S["ProjectCreate"];
export type ProjectUpdate = S["ProjectUpdate"];
export type QuotaInput = S["QuotaInput"];
export type QuotaLimits = Tenant["quota"];
export type QuotaView = paths["/api/v1/tenants/{domain}/quota"]["get"]["responses"]["200"]["content"]["application/json"];
export type Member = S["MemberResponse"];
export type DomainMemberAdd = S["DomainMemberAdd"];
export type ProjectMemberAdd = S["ProjectMemberAdd"];
export type Invitation = S["InvitationResponse"];
export type User = S["UserResponse"];
export type AuditEntry = S["AuditEntry"];
export type AuditQuery = NonNullable<paths["/api/v1/audit-logs"]["get"]["parameters"]["query"]>;
export type ApiKey = S["ApiKeyResponse"];
export type ApiKeyCreate = S["ApiKeyCreate"];
export type KeyScope = ApiKey["scopes"][number];
