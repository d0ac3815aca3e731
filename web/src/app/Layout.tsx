import { useNavigate, NavLink, Outlet, useLocation } from "react-router";
import { useMe, useSession } from "../auth/session";
import { hasAdminPages, roleIn, ROLE_LABEL } from "../auth/roles";
import { Button } from "../components/Button";
import { useLiveEvents } from "../api/events";
import { useQueryClient } from "@tanstack/react-query";
import { projectsQuery, scopePath, useProjects, useTenants } from "./scope";

/** The scope in the current URL, if the page has one. */
function scopeFromPath(pathname: string): { domain?: string; project?: string } {
  const m = /^\/d\/([^/]+)\/p\/([^/]+)/.exec(pathname);
  return m ? { domain: decodeURIComponent(m[1] ?? ""), project: decodeURIComponent(m[2] ?? "") } : {};
}

function ScopeSwitcher({ domain, project }: { domain?: string | undefined; project?: string | undefined }) {
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const tenants = useTenants();
  const projects = useProjects(domain);
  const domains = tenants.data?.tenants.map((t) => t.name) ?? [];
  const projectNames = projects.data?.projects.map((p) => p.name) ?? [];
  return (
    <div className="scope">
      <label htmlFor="scope-domain">Domain</label>
      <select
        id="scope-domain"
        value={domain ?? ""}
        onChange={(e) => {
          const d = e.target.value;
          // Open the new domain's first project the user can see.
          void queryClient
            .fetchQuery(projectsQuery(d))
            .then((list) => list.projects[0]?.name)
            .catch(() => undefined)
            .then((first) => navigate(first ? scopePath({ domain: d, project: first }) : "/"));
        }}
      >
        {domain && !domains.includes(domain) ? <option value={domain}>{domain}</option> : null}
        {!domain ? <option value="">Choose…</option> : null}
        {domains.map((d) => (
          <option key={d} value={d}>
            {d}
          </option>
        ))}
      </select>
      <label htmlFor="scope-project">Project</label>
      <select
        id="scope-project"
        value={project ?? ""}
        disabled={!domain}
        onChange={(e) => {
          if (domain) void navigate(scopePath({ domain, project: e.target.value }));
        }}
      >
        {project && !projectNames.includes(project) ? <option value={project}>{project}</option> : null}
        {!project ? <option value="">Choose…</option> : null}
        {projectNames.map((p) => (
          <option key={p} value={p}>
            {p}
          </option>
        ))}
      </select>
    </div>
  );
}

export function Layout() {
  const me = useMe();
  const { logout } = useSession();
  const { pathname } = useLocation();
  const { domain, project } = scopeFromPath(pathname);
  useLiveEvents();
  const role = domain && project ? roleIn(me, domain, project) : null;
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="app-header">
        <NavLink className="brand" to="/">
          kubedb-dbaas
        </NavLink>
        <nav aria-label="Main">
          <NavLink to={domain && project ? scopePath({ domain, project }) : "/"} end>
            Databases
          </NavLink>
          {hasAdminPages(me) ? <NavLink to="/admin">Admin</NavLink> : null}
        </nav>
        <ScopeSwitcher domain={domain} project={project} />
        <div className="who">
          <span>{me.email}</span>
          {role ? (
            <span className="role">Role: {ROLE_LABEL[role]}</span>
          ) : null}
          <Button variant="link" onClick={() => void logout()}>
            Sign out
          </Button>
        </div>
      </header>
      <main id="main">
        <Outlet />
      </main>
    </>
  );
}
