import { useRoutes } from "react-router";
import { useMe } from "../auth/session";
import { hasAdminPages } from "../auth/roles";
import { Page } from "../components/Page";
import { adminRoutes } from "../pages/admin/routes";

/** Mounts the admin pages (src/pages/admin/) at /admin/*, for platform and domain admins only. */
export default function AdminArea() {
  const me = useMe();
  const element = useRoutes(adminRoutes);
  if (!hasAdminPages(me)) {
    return (
      <Page title="Administration">
        <p>The admin pages are for platform and domain admins.</p>
      </Page>
    );
  }
  return element;
}
