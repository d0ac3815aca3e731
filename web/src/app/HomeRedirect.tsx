// The page at `/`: sends the user on to a sensible project (useHomeScope says which).
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { Navigate } from "react-router";
import { useMe } from "../auth/session";
import { boundProjects } from "../auth/roles";
import { Loading } from "../components/Loading";
import { Page } from "../components/Page";
import { projectsQuery, scopePath, useTenants, type Scope } from "./scope";

/**
 * Where `/` leads: the first project the user has a binding in; otherwise (a platform or domain
 * admin) the first project of the oldest tenant that has one, so the default stays put when
 * tenants are added.
 */
function useHomeScope(): { scope: Scope | null; pending: boolean } {
  const me = useMe();
  const queryClient = useQueryClient();
  const direct = boundProjects(me).find((b) => b.project !== null);
  const tenants = useTenants();
  const bound = boundProjects(me).map((b) => b.domain);
  const candidates = direct ? [] : bound.length > 0 ? bound : [...(tenants.data?.tenants.map((t) => t.name) ?? [])].reverse();
  const found = useQuery({
    queryKey: ["home-scope", candidates],
    enabled: !direct && (bound.length > 0 || tenants.isSuccess),
    queryFn: async () => {
      for (const domain of candidates) {
        const list = await queryClient.fetchQuery(projectsQuery(domain)).catch(() => null);
        const project = list?.projects[0]?.name;
        if (project) return { domain, project };
      }
      return null;
    },
  });
  if (direct?.project) return { scope: { domain: direct.domain, project: direct.project }, pending: false };
  return { scope: found.data ?? null, pending: found.isPending && !tenants.isError };
}

export function HomeRedirect() {
  const { scope, pending } = useHomeScope();
  if (scope) return <Navigate replace to={scopePath(scope)} />;
  if (pending) return <Loading what="your projects" />;
  return (
    <Page title="No project yet">
      <p>There is no project you can see yet. Ask an administrator to add you to one.</p>
    </Page>
  );
}
