import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "../../../api/client";
import { unwrap } from "../../../api/errors";
import type { toUserCreate } from "./userForm";

export const USERS_PAGE_SIZE = 50;

export function useUsers(page: number) {
  return useQuery({
    queryKey: ["admin", "users", page],
    queryFn: () => unwrap(api.GET("/api/v1/users", { params: { query: { page, page_size: USERS_PAGE_SIZE } } })),
    placeholderData: keepPreviousData,
  });
}

export function useCreateUser() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: ReturnType<typeof toUserCreate>) => unwrap(api.POST("/api/v1/users", { body })),
    onSuccess: () => qc.invalidateQueries({ queryKey: ["admin", "users"] }),
  });
}

export function useSetUserActive() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ id, active }: { id: string; active: boolean }) =>
      unwrap(api.PATCH("/api/v1/users/{id}", { params: { path: { id } }, body: { is_active: active } })),
    onSuccess: () => qc.invalidateQueries({ queryKey: ["admin", "users"] }),
  });
}
