// The admin pages' routes, mounted at /admin/* by src/app/AdminArea.tsx (shown to platform and
// domain admins; the API still decides every request). Paths here are relative to /admin; each
// page is its own lazily loaded chunk.
import { lazy } from "react";
import type { RouteObject } from "react-router";
import { NotFoundPage } from "../../app/NotFoundPage";
import { AdminLayout } from "./AdminLayout";

const AdminIndexPage = lazy(() => import("./AdminIndexPage"));
const ProvidersPage = lazy(() => import("./providers/ProvidersPage"));
const OnboardProviderPage = lazy(() => import("./providers/OnboardProviderPage"));
const TenantsPage = lazy(() => import("./tenants/TenantsPage"));
const TenantPage = lazy(() => import("./tenants/TenantPage"));
const ProjectPage = lazy(() => import("./tenants/ProjectPage"));
const UsersPage = lazy(() => import("./users/UsersPage"));
const AuditPage = lazy(() => import("./audit/AuditPage"));
const ApiKeysPage = lazy(() => import("./apikeys/ApiKeysPage"));

export const adminRoutes: RouteObject[] = [
  {
    element: <AdminLayout />,
    children: [
      { index: true, element: <AdminIndexPage /> },
      { path: "providers", element: <ProvidersPage /> },
      { path: "providers/new", element: <OnboardProviderPage /> },
      { path: "tenants", element: <TenantsPage /> },
      { path: "tenants/:domain", element: <TenantPage /> },
      { path: "tenants/:domain/projects/:project", element: <ProjectPage /> },
      { path: "users", element: <UsersPage /> },
      { path: "audit", element: <AuditPage /> },
      { path: "api-keys", element: <ApiKeysPage /> },
      { path: "*", element: <NotFoundPage /> },
    ],
  },
];
