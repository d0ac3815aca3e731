// The domain/project the console is looking at lives in the URL (/d/:domain/p/:project/…), so a
// link or a reload keeps it. These helpers read it; HomeRedirect.tsx finds a sensible default.
import { useQuery } from "@tanstack/react-query";
import { useParams } from "react-router";
import { api } from "../api/client";
import { unwrap } from "../api/errors";

export interface Scope {
  domain: string;
  project: string;
}

export function useScope(): Scope {
  const { domain = "", project = "" } = useParams();
  return { domain, project };
}

export function scopePath({ domain, project }: Scope, rest = "databases"): string {
  return `/d/${encodeURIComponent(domain)}/p/${encodeURIComponent(project)}/${rest}`;
}

export function useTenants() {
  return useQuery({
    queryKey: ["tenants"],
    queryFn: () => unwrap(api.GET("/api/v1/tenants", { params: { query: { page_size: 100 } } })),
    staleTime: 60_000,
  });
}

export function projectsQuery(domain: string) {
  return {
    queryKey: ["projects", domain],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/tenants/{domain}/projects", {
          params: { path: { domain }, query: { page_size: 100 } },
        }),
      ),
    staleTime: 60_000,
  };
}

export function useProjects(domain: string | undefined) {
  return useQuery({ ...projectsQuery(domain ?? ""), enabled: Boolean(domain) });
}
