// The admin pages, each its own lazily loaded chunk; routes.tsx mounts them.
import { lazy } from "react";

export const AdminIndexPage = lazy(() => import("./AdminIndexPage"));
export const ProvidersPage = lazy(() => import("./providers/ProvidersPage"));
export const OnboardProviderPage = lazy(() => import("./providers/OnboardProviderPage"));
export const TenantsPage = lazy(() => import("./tenants/TenantsPage"));
export const TenantPage = lazy(() => import("./tenants/TenantPage"));
export const ProjectPage = lazy(() => import("./tenants/ProjectPage"));
export const UsersPage = lazy(() => import("./users/UsersPage"));
export const AuditPage = lazy(() => import("./audit/AuditPage"));
export const ApiKeysPage = lazy(() => import("./apikeys/ApiKeysPage"));
