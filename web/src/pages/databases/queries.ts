// Query keys and fetchers shared by the database pages. The live event stream (api/events.ts)
// updates the same keys.
import { useQuery } from "@tanstack/react-query";
import { api } from "../../api/client";
import { unwrap } from "../../api/errors";
import type { DatabaseStatus, Engine } from "../../api/types";
import type { Scope } from "../../app/scope";

export interface ListFilters {
  engine?: Engine | undefined;
  status?: DatabaseStatus | undefined;
  name?: string | undefined;
  page: number;
}

export const PAGE_SIZE = 100;

export function useDatabaseList(scope: Scope, filters: ListFilters) {
  return useQuery({
    queryKey: ["databases", scope.domain, scope.project, filters],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/domain/{domain}/project/{project}/databases", {
          params: {
            path: scope,
            query: {
              page: filters.page,
              page_size: PAGE_SIZE,
              ...(filters.engine ? { engine: filters.engine } : {}),
              ...(filters.status ? { status: filters.status } : {}),
              ...(filters.name ? { name: filters.name } : {}),
            },
          },
        }),
      ),
    placeholderData: (prev) => prev,
  });
}

export function useQuota(scope: Scope) {
  return useQuery({
    queryKey: ["quota", scope.domain, scope.project],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/tenants/{domain}/projects/{project}/quota", {
          params: { path: scope },
        }),
      ),
  });
}

export function useDatabase(scope: Scope, id: string) {
  return useQuery({
    queryKey: ["database", id],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/domain/{domain}/project/{project}/databases/{id}", {
          params: { path: { ...scope, id } },
        }),
      ),
  });
}

export function useOperation(id: string | null | undefined) {
  return useQuery({
    queryKey: ["operation", id],
    enabled: Boolean(id),
    queryFn: () => unwrap(api.GET("/api/v1/operations/{id}", { params: { path: { id: id ?? "" } } })),
  });
}
