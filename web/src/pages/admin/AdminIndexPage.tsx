import { Link } from "react-router";
import { isPlatformAdmin } from "../../auth/roles";
import { useMe } from "../../auth/session";
import { Page } from "../../components/Page";
import { sectionsFor } from "./sections";

export default function AdminIndexPage() {
  const me = useMe();
  const domains = me.bindings.filter((b) => b.role === "domain_admin" && b.domain).map((b) => b.domain as string);
  return (
    <Page title="Administration">
      <p>
        {isPlatformAdmin(me)
          ? "You are a platform admin: every provider, tenant, user and audit entry."
          : `You administer ${domains.length === 1 ? "the tenant" : "the tenants"} ${domains.join(", ")}: projects, members, quotas and audit.`}
      </p>
      <ul className="tiles" style={{ listStyle: "none", padding: 0 }}>
        {sectionsFor(me).map((s) => (
          <li key={s.path} className="tile">
            <h2 style={{ fontSize: "1.1rem", marginTop: 0 }}>
              <Link to={`/admin/${s.path}`}>{s.title}</Link>
            </h2>
            <p className="muted" style={{ marginBottom: 0 }}>
              {s.blurb}
            </p>
          </li>
        ))}
      </ul>
    </Page>
  );
}
