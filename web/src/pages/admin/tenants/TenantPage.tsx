import { useState } from "react";
import { useForm } from "react-hook-form";
import { zodResolver } from "@hookform/resolvers/zod";
import { Link, useNavigate, useParams } from "react-router";
import { api } from "../../../api/client";
import { unwrap } from "../../../api/errors";
import { isPlatformAdmin } from "../../../auth/roles";
import { useMe } from "../../../auth/session";
import { Button } from "../../../components/Button";
import { ConfirmDialog } from "../../../components/ConfirmDialog";
import { ErrorNotice } from "../../../components/ErrorNotice";
import { Field } from "../../../components/Field";
import { Loading } from "../../../components/Loading";
import { Page } from "../../../components/Page";
import { applyFieldErrors } from "../common/formErrors";
import { showJson } from "../common/jsonObject";
import { QuotaPanel } from "../common/QuotaPanel";
import { SaveDetails } from "../common/SaveDetails";
import type { Tenant } from "../types";
import { MembersPanel } from "./MembersPanel";
import { ProjectsPanel } from "./ProjectsPanel";
import { useTenant, useUpdateTenant } from "./queries";
import { PLANS, tenantDetailsSchema, toTenantUpdate, type TenantDetailsValues } from "./tenantForm";

function DetailsForm({ tenant, platform }: { tenant: Tenant; platform: boolean }) {
  const update = useUpdateTenant(tenant.name);
  const [saved, setSaved] = useState(false);
  const form = useForm<TenantDetailsValues>({
    resolver: zodResolver(tenantDetailsSchema),
    values: {
      display_name: tenant.display_name,
      contact_email: tenant.contact_email ?? "",
      metadata: showJson(tenant.metadata),
      plan: tenant.plan,
    },
  });
  const e = form.formState.errors;
  const submit = form.handleSubmit(async (v) => {
    setSaved(false);
    try {
      await update.mutateAsync(toTenantUpdate(v, platform));
      setSaved(true);
    } catch (err) {
      applyFieldErrors(err, form.setError, ["display_name", "contact_email", "metadata", "plan"]);
    }
  });
  return (
    <form className="panel" onSubmit={(ev) => void submit(ev)} noValidate aria-labelledby="tenant-details">
      <h2 id="tenant-details">Contact and metadata</h2>
      <div className="form-grid">
        <Field label="Display name" error={e.display_name?.message}>
          {(p) => <input {...p} {...form.register("display_name")} autoComplete="off" />}
        </Field>
        <Field label="Contact e-mail" error={e.contact_email?.message}>
          {(p) => <input {...p} {...form.register("contact_email")} type="email" autoComplete="off" />}
        </Field>
        {platform ? (
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
        ) : (
          <div className="field">
            <span>Plan</span>
            <strong>{tenant.plan}</strong>
          </div>
        )}
      </div>
      <Field label="Metadata (JSON object)" error={e.metadata?.message}>
        {(p) => <textarea {...p} {...form.register("metadata")} rows={4} className="mono" spellCheck={false} />}
      </Field>
      <SaveDetails error={update.error} saved={saved} busy={form.formState.isSubmitting} />
    </form>
  );
}

function Lifecycle({ tenant }: { tenant: Tenant }) {
  const [open, setOpen] = useState<null | "suspend" | "delete">(null);
  const update = useUpdateTenant(tenant.name);
  const navigate = useNavigate();
  const close = (o: boolean) => !o && setOpen(null);
  return (
    <section className="panel" aria-labelledby="tenant-lifecycle">
      <h2 id="tenant-lifecycle">Suspend or delete</h2>
      <div className="page-actions">
        <Button onClick={() => setOpen("suspend")}>{tenant.is_active ? "Suspend tenant" : "Reactivate tenant"}</Button>
        <Button variant="danger" onClick={() => setOpen("delete")}>
          Delete tenant
        </Button>
      </div>
      <ConfirmDialog
        open={open === "suspend"}
        onOpenChange={close}
        title={tenant.is_active ? `Suspend ${tenant.name}` : `Reactivate ${tenant.name}`}
        confirmLabel={tenant.is_active ? "Suspend" : "Reactivate"}
        danger={tenant.is_active}
        onConfirm={() => update.mutateAsync({ is_active: !tenant.is_active })}
      >
        {tenant.is_active ? (
          <p>
            Every change in {tenant.name} will be refused and its members' API keys stop working in it (not even reads);
            only its domain admins can still read it over a signed-in session. Databases keep running.
          </p>
        ) : (
          <p>Members of {tenant.name} can work in it again.</p>
        )}
      </ConfirmDialog>
      <ConfirmDialog
        open={open === "delete"}
        onOpenChange={close}
        title={`Delete the tenant ${tenant.name}`}
        confirmLabel="Delete tenant"
        danger
        typeToConfirm={tenant.name}
        onConfirm={async () => {
          await unwrap(api.DELETE("/api/v1/tenants/{domain}", { params: { path: { domain: tenant.name } } }));
          void navigate("/admin/tenants");
        }}
      >
        <p>
          The tenant, its projects and memberships are removed, and its name is never handed out again. The server refuses
          while the tenant has live databases or dedicated providers.
        </p>
      </ConfirmDialog>
    </section>
  );
}

export default function TenantPage() {
  const { domain = "" } = useParams();
  const me = useMe();
  const platform = isPlatformAdmin(me);
  const tenant = useTenant(domain);
  const update = useUpdateTenant(domain);
  const t = tenant.data;
  return (
    <Page
      title={t ? `Tenant ${t.display_name || t.name}` : `Tenant ${domain}`}
      context={
        <>
          <Link to="/admin">Administration</Link> / <Link to="/admin/tenants">Tenants</Link> / {domain}
        </>
      }
    >
      <ErrorNotice error={tenant.error} title="The tenant could not be read" />
      {tenant.isPending ? <Loading what="the tenant" /> : null}
      {t ? (
        <>
          {!t.is_active ? (
            <p className="notice notice-warn">This tenant is suspended: changes in it are refused.</p>
          ) : null}
          <DetailsForm tenant={t} platform={platform} />
          <QuotaPanel scope={{ domain }} limits={t.quota} editable={platform} save={(quota) => update.mutateAsync({ quota })} />
          <ProjectsPanel domain={domain} />
          <MembersPanel scope={{ domain }} />
          {platform ? <Lifecycle tenant={t} /> : null}
        </>
      ) : null}
    </Page>
  );
}
