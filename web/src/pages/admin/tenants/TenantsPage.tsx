import { useState } from "react";
import { useForm } from "react-hook-form";
import { zodResolver } from "@hookform/resolvers/zod";
import { Link, useNavigate } from "react-router";
import { isPlatformAdmin } from "../../../auth/roles";
import { useMe } from "../../../auth/session";
import { Button } from "../../../components/Button";
import { ErrorNotice } from "../../../components/ErrorNotice";
import { Field } from "../../../components/Field";
import { Loading } from "../../../components/Loading";
import { Page } from "../../../components/Page";
import { applyFieldErrors } from "../common/formErrors";
import { when } from "../common/format";
import { useCreateTenant, useTenantList } from "./queries";
import { PLANS, tenantCreateSchema, toTenantCreate, type TenantCreateValues } from "./tenantForm";

const DEFAULTS: TenantCreateValues = { name: "", display_name: "", contact_email: "", metadata: "", plan: "free" };

function CreateTenantForm({ onCancel }: { onCancel: () => void }) {
  const create = useCreateTenant();
  const navigate = useNavigate();
  const form = useForm<TenantCreateValues>({ resolver: zodResolver(tenantCreateSchema), defaultValues: DEFAULTS });
  const e = form.formState.errors;
  const submit = form.handleSubmit(async (v) => {
    try {
      const t = await create.mutateAsync(toTenantCreate(v));
      void navigate(`/admin/tenants/${encodeURIComponent(t.name)}`);
    } catch (err) {
      applyFieldErrors(err, form.setError, ["name", "display_name", "contact_email", "metadata", "plan"]);
    }
  });
  return (
    <form className="panel" onSubmit={(ev) => void submit(ev)} noValidate aria-labelledby="create-tenant-title">
      <h2 id="create-tenant-title">Create a tenant</h2>
      <div className="form-grid">
        <Field label="Name" error={e.name?.message} hint="The domain's slug in every path: 3–63 lowercase letters, digits, hyphens. It cannot change.">
          {(p) => <input {...p} {...form.register("name")} autoComplete="off" />}
        </Field>
        <Field label="Display name" error={e.display_name?.message} hint="Optional">
          {(p) => <input {...p} {...form.register("display_name")} autoComplete="off" />}
        </Field>
        <Field label="Plan" error={e.plan?.message}>
          {(p) => (
            <select {...p} {...form.register("plan")}>
              {PLANS.map((x) => (
                <option key={x} value={x}>
                  {x}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Contact e-mail" error={e.contact_email?.message} hint="Optional">
          {(p) => <input {...p} {...form.register("contact_email")} type="email" autoComplete="off" />}
        </Field>
      </div>
      <Field label="Metadata (JSON object)" error={e.metadata?.message} hint="Optional">
        {(p) => <textarea {...p} {...form.register("metadata")} rows={3} className="mono" spellCheck={false} />}
      </Field>
      <p className="field-hint">The tenant starts with the default quota; change it on its page.</p>
      <ErrorNotice error={create.error} title="Not created" />
      <div className="page-actions">
        <Button type="submit" variant="primary" busy={form.formState.isSubmitting}>
          Create tenant
        </Button>
        <Button onClick={onCancel}>Cancel</Button>
      </div>
    </form>
  );
}

export default function TenantsPage() {
  const me = useMe();
  const list = useTenantList();
  const [creating, setCreating] = useState(false);
  const platform = isPlatformAdmin(me);
  return (
    <Page
      title="Tenants"
      context={<Link to="/admin">Administration</Link>}
      actions={
        platform && !creating ? (
          <Button variant="primary" onClick={() => setCreating(true)}>
            Create tenant
          </Button>
        ) : null
      }
    >
      {!platform ? <p className="muted">The tenants you administer.</p> : null}
      {creating ? <CreateTenantForm onCancel={() => setCreating(false)} /> : null}
      <ErrorNotice error={list.error} title="The tenants could not be listed" />
      {list.isPending ? <Loading what="tenants" /> : null}
      {list.data ? (
        list.data.tenants.length === 0 ? (
          <p className="panel">No tenants.</p>
        ) : (
          <table aria-label="Tenants">
            <caption>
              {list.data.total} tenant{list.data.total === 1 ? "" : "s"}
            </caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Display name</th>
                <th scope="col">Plan</th>
                <th scope="col">Contact</th>
                <th scope="col">State</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {list.data.tenants.map((t) => (
                <tr key={t.name}>
                  <td>
                    <Link to={`/admin/tenants/${encodeURIComponent(t.name)}`}>{t.name}</Link>
                  </td>
                  <td>{t.display_name}</td>
                  <td>{t.plan}</td>
                  <td>{t.contact_email ?? <span className="muted">none</span>}</td>
                  <td>
                    <span className={`badge badge-${t.is_active ? "ok" : "bad"}`}>{t.is_active ? "Active" : "Suspended"}</span>
                  </td>
                  <td>{when(t.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )
      ) : null}
    </Page>
  );
}
