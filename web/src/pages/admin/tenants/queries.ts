// Tenants, projects, their quotas, members and invitations: queries and mutations. A change
// refreshes what it touched (and the scope switcher's lists, keyed ["tenants"] and ["projects"]).
import { useMutation, useQuery, useQueryClient, type QueryClient } from "@tanstack/react-query";
import { api } from "../../../api/client";
import { unwrap } from "../../../api/errors";
import type { DomainMemberAdd, ProjectCreate, ProjectMemberAdd, ProjectUpdate, TenantCreate, TenantUpdate } from "../types";

/** A domain, or one project in it. */
export interface AdminScope {
  domain: string;
  project?: string | undefined;
}

const K = {
  tenants: ["admin", "tenants"] as const,
  tenant: (d: string) => ["admin", "tenant", d] as const,
  quota: (s: AdminScope) => ["admin", "quota", s.domain, s.project ?? null] as const,
  projects: (d: string) => ["admin", "projects", d] as const,
  project: (d: string, p: string) => ["admin", "project", d, p] as const,
  members: (s: AdminScope) => ["admin", "members", s.domain, s.project ?? null] as const,
  invitations: (s: AdminScope) => ["admin", "invitations", s.domain, s.project ?? null] as const,
};

function refreshTenants(qc: QueryClient, domain?: string) {
  void qc.invalidateQueries({ queryKey: K.tenants });
  void qc.invalidateQueries({ queryKey: ["tenants"] });
  if (domain) {
    void qc.invalidateQueries({ queryKey: K.tenant(domain) });
    void qc.invalidateQueries({ queryKey: ["admin", "quota", domain] });
  }
}

function refreshProjects(qc: QueryClient, domain: string, project?: string) {
  void qc.invalidateQueries({ queryKey: K.projects(domain) });
  void qc.invalidateQueries({ queryKey: ["projects", domain] });
  void qc.invalidateQueries({ queryKey: ["admin", "quota", domain] });
  if (project) {
    void qc.invalidateQueries({ queryKey: K.project(domain, project) });
    void qc.invalidateQueries({ queryKey: ["quota", domain, project] });
  }
}

export function useTenantList() {
  return useQuery({
    queryKey: K.tenants,
    queryFn: () => unwrap(api.GET("/api/v1/tenants", { params: { query: { page_size: 100 } } })),
  });
}

export function useTenant(domain: string) {
  return useQuery({
    queryKey: K.tenant(domain),
    queryFn: () => unwrap(api.GET("/api/v1/tenants/{domain}", { params: { path: { domain } } })),
  });
}

export function useCreateTenant() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: TenantCreate) => unwrap(api.POST("/api/v1/tenants", { body })),
    onSuccess: () => refreshTenants(qc),
  });
}

export function useUpdateTenant(domain: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: TenantUpdate) => unwrap(api.PATCH("/api/v1/tenants/{domain}", { params: { path: { domain } }, body })),
    onSuccess: () => refreshTenants(qc, domain),
  });
}

export function useQuotaView(s: AdminScope) {
  return useQuery({
    queryKey: K.quota(s),
    queryFn: () =>
      s.project
        ? unwrap(api.GET("/api/v1/tenants/{domain}/projects/{project}/quota", { params: { path: { domain: s.domain, project: s.project } } }))
        : unwrap(api.GET("/api/v1/tenants/{domain}/quota", { params: { path: { domain: s.domain } } })),
  });
}

export function useProjectList(domain: string) {
  return useQuery({
    queryKey: K.projects(domain),
    queryFn: () => unwrap(api.GET("/api/v1/tenants/{domain}/projects", { params: { path: { domain }, query: { page_size: 100 } } })),
  });
}

export function useProject(domain: string, project: string) {
  return useQuery({
    queryKey: K.project(domain, project),
    queryFn: () => unwrap(api.GET("/api/v1/tenants/{domain}/projects/{project}", { params: { path: { domain, project } } })),
  });
}

export function useCreateProject(domain: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: ProjectCreate) => unwrap(api.POST("/api/v1/tenants/{domain}/projects", { params: { path: { domain } }, body })),
    onSuccess: () => refreshProjects(qc, domain),
  });
}

export function useUpdateProject(domain: string, project: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: ProjectUpdate) =>
      unwrap(api.PATCH("/api/v1/tenants/{domain}/projects/{project}", { params: { path: { domain, project } }, body })),
    onSuccess: () => refreshProjects(qc, domain, project),
  });
}

export function useDeleteProject(domain: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (project: string) => unwrap(api.DELETE("/api/v1/tenants/{domain}/projects/{project}", { params: { path: { domain, project } } })),
    onSuccess: (_d, project) => refreshProjects(qc, domain, project),
  });
}

export function useMembers(s: AdminScope) {
  return useQuery({
    queryKey: K.members(s),
    queryFn: () =>
      s.project
        ? unwrap(api.GET("/api/v1/tenants/{domain}/projects/{project}/members", { params: { path: { domain: s.domain, project: s.project } } }))
        : unwrap(api.GET("/api/v1/tenants/{domain}/members", { params: { path: { domain: s.domain } } })),
  });
}

export function useInvitations(s: AdminScope) {
  return useQuery({
    queryKey: K.invitations(s),
    queryFn: () =>
      s.project
        ? unwrap(api.GET("/api/v1/tenants/{domain}/projects/{project}/invitations", { params: { path: { domain: s.domain, project: s.project } } }))
        : unwrap(api.GET("/api/v1/tenants/{domain}/invitations", { params: { path: { domain: s.domain } } })),
  });
}

function refreshMembers(qc: QueryClient, s: AdminScope) {
  void qc.invalidateQueries({ queryKey: ["admin", "members", s.domain] });
  void qc.invalidateQueries({ queryKey: ["admin", "invitations", s.domain] });
}

export function useInviteMember(s: AdminScope) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: { email: string; role: string }) =>
      s.project
        ? unwrap(
            api.POST("/api/v1/tenants/{domain}/projects/{project}/members", {
              params: { path: { domain: s.domain, project: s.project } },
              body: body as ProjectMemberAdd,
            }),
          )
        : unwrap(api.POST("/api/v1/tenants/{domain}/members", { params: { path: { domain: s.domain } }, body: body as DomainMemberAdd })),
    onSuccess: () => refreshMembers(qc, s),
  });
}

export function useRemoveMember(s: AdminScope) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (user_id: string) =>
      s.project
        ? unwrap(
            api.DELETE("/api/v1/tenants/{domain}/projects/{project}/members/{user_id}", {
              params: { path: { domain: s.domain, project: s.project, user_id } },
            }),
          )
        : unwrap(api.DELETE("/api/v1/tenants/{domain}/members/{user_id}", { params: { path: { domain: s.domain, user_id } } })),
    onSuccess: () => refreshMembers(qc, s),
  });
}

export function useRevokeInvitation(domain: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => unwrap(api.DELETE("/api/v1/tenants/{domain}/invitations/{id}", { params: { path: { domain, id } } })),
    onSuccess: () => refreshMembers(qc, { domain }),
  });
}
