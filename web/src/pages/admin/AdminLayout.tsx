import { Suspense } from "react";
import { NavLink, Outlet } from "react-router";
import { useMe } from "../../auth/session";
import { Loading } from "../../components/Loading";
import { sectionsFor } from "./sections";

/** The admin pages' frame: a nav between the sections, then the page. */
export function AdminLayout() {
  const me = useMe();
  return (
    <>
      <nav aria-label="Administration" className="tabs">
        <NavLink to="/admin" end>
          Overview
        </NavLink>
        {sectionsFor(me).map((s) => (
          <NavLink key={s.path} to={`/admin/${s.path}`}>
            {s.title}
          </NavLink>
        ))}
      </nav>
      <Suspense fallback={<Loading what="the page" />}>
        <Outlet />
      </Suspense>
    </>
  );
}
