// The admin pages' routes, mounted at /admin/* by src/app/AdminArea.tsx (shown to platform and
// domain admins; the API still decides every request). Paths here are relative to /admin; each
// page is its own lazily loaded chunk (pages.ts).
import type { RouteObject } from "react-router";
import { NotFoundPage } from "../../app/NotFoundPage";
import { AdminLayout } from "./AdminLayout";
import {
  AdminIndexPage,
  ApiKeysPage,
  AuditPage,
  OnboardProviderPage,
  ProjectPage,
  ProvidersPage,
  TenantPage,
  TenantsPage,
  UsersPage,
} from "./pages";

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
