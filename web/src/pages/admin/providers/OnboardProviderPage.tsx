import { useState } from "react";
import { useForm, useWatch } from "react-hook-form";
import { zodResolver } from "@hookform/resolvers/zod";
import { Link, useNavigate } from "react-router";
import { useTenants } from "../../../app/scope";
import { Button } from "../../../components/Button";
import { ErrorNotice } from "../../../components/ErrorNotice";
import { Field } from "../../../components/Field";
import { Page } from "../../../components/Page";
import { applyFieldErrors } from "../common/formErrors";
import { fmt } from "../common/format";
import { KubeconfigFileError, readKubeconfigFile, summarizeKubeconfig } from "./kubeconfig";
import { PROVIDER_DEFAULTS, PROVIDER_FIELDS, providerSchema, splitTags, toProviderCreate, type ProviderValues } from "./providerForm";
import { useCreateProvider } from "./queries";

/** What onboarding will do, from the form as it is now. */
function OnboardingPlan({ v }: { v: ProviderValues }) {
  const kc = summarizeKubeconfig(v.kubeconfig_content);
  const usable = (total: number, pct: number) => (Number.isFinite(total) && Number.isFinite(pct) ? fmt((total * pct) / 100) : "–");
  return (
    <div className="plan" role="region" aria-label="What onboarding does">
      <h3>Onboarding will:</h3>
      <ul>
        <li>
          connect to {kc && kc.servers.length > 0 ? <code>{kc.servers.join(", ")}</code> : "the cluster in the kubeconfig"}
          {kc?.currentContext ? (
            <>
              {" "}
              (context <code>{kc.currentContext}</code>)
            </>
          ) : null}
          {v.verify_ssl ? ", verifying its TLS certificate" : ", without verifying its TLS certificate"}, and check that KubeDB is installed;
        </li>
        <li>store the kubeconfig encrypted (it is never shown again);</li>
        <li>
          let databases use up to {usable(v.cpu_total_cores, v.cpu_reservation_percent)} CPU cores,{" "}
          {usable(v.memory_total_gb, v.memory_reservation_percent)} GB memory and {usable(v.storage_total_gb, v.storage_reservation_percent)} GB storage;
        </li>
        <li>
          {v.is_active ? "take new databases" : "take no databases until activated"}
          {v.domain ? ` of the tenant ${v.domain} only` : " of every tenant (shared)"}, at priority {Number.isFinite(v.priority) ? v.priority : "–"}.
        </li>
      </ul>
      {kc?.insecure ? <p className="muted">The kubeconfig itself switches TLS verification off.</p> : null}
      {kc?.base64 ? <p className="muted">The kubeconfig was pasted as base64; the server decodes it.</p> : null}
    </div>
  );
}

export default function OnboardProviderPage() {
  const navigate = useNavigate();
  const tenants = useTenants();
  const create = useCreateProvider();
  const [fileError, setFileError] = useState<string | null>(null);
  const form = useForm<ProviderValues>({ resolver: zodResolver(providerSchema), defaultValues: PROVIDER_DEFAULTS, mode: "onTouched" });
  const { register, handleSubmit, setError, setValue, formState } = form;
  const values = useWatch({ control: form.control }) as ProviderValues;
  const e = formState.errors;

  const onFile = async (file: File | undefined) => {
    setFileError(null);
    if (!file) return;
    try {
      setValue("kubeconfig_content", await readKubeconfigFile(file), { shouldValidate: true, shouldDirty: true });
    } catch (err) {
      setFileError(err instanceof KubeconfigFileError ? err.message : "The file could not be read.");
    }
  };

  const submit = handleSubmit(async (v) => {
    try {
      const p = await create.mutateAsync(toProviderCreate(v));
      void navigate("/admin/providers", { state: { created: p.name } });
    } catch (err) {
      applyFieldErrors(err, setError, PROVIDER_FIELDS);
    }
  });

  const num = (name: keyof ProviderValues) => register(name, { valueAsNumber: true });
  const tags = splitTags(values.tags ?? "");

  return (
    <Page title="Onboard a provider" context={<Link to="/admin/providers">Providers</Link>}>
      <form onSubmit={(ev) => void submit(ev)} noValidate aria-label="Onboard a provider">
        <fieldset>
          <legend>Cluster</legend>
          <div className="form-grid">
            <Field label="Name" error={e.name?.message} hint="Unique, 1–100 characters">
              {(p) => <input {...p} {...register("name")} autoComplete="off" />}
            </Field>
            <Field label="Region" error={e.region?.message}>
              {(p) => <input {...p} {...register("region")} autoComplete="off" />}
            </Field>
            <Field label="Availability zone" error={e.availability_zone?.message} hint="Optional">
              {(p) => <input {...p} {...register("availability_zone")} autoComplete="off" />}
            </Field>
            <Field label="Cloud provider" error={e.cloud_provider?.message} hint="Optional, e.g. aws, gcp, on-prem">
              {(p) => <input {...p} {...register("cloud_provider")} autoComplete="off" />}
            </Field>
            <Field label="Dedicated to tenant" error={e.domain?.message}>
              {(p) => (
                <select {...p} {...register("domain")}>
                  <option value="">Shared by every tenant</option>
                  {tenants.data?.tenants.map((t) => (
                    <option key={t.name} value={t.name}>
                      {t.display_name || t.name} ({t.name})
                    </option>
                  ))}
                </select>
              )}
            </Field>
          </div>
        </fieldset>
        <fieldset>
          <legend>Capacity</legend>
          <div className="form-grid">
            <Field label="CPU cores" error={e.cpu_total_cores?.message}>
              {(p) => <input {...p} {...num("cpu_total_cores")} type="number" step="any" min={0} />}
            </Field>
            <Field label="Memory (GB)" error={e.memory_total_gb?.message}>
              {(p) => <input {...p} {...num("memory_total_gb")} type="number" step="any" min={0} />}
            </Field>
            <Field label="Storage (GB)" error={e.storage_total_gb?.message}>
              {(p) => <input {...p} {...num("storage_total_gb")} type="number" step="any" min={0} />}
            </Field>
            <Field label="CPU usable by databases (%)" error={e.cpu_reservation_percent?.message}>
              {(p) => <input {...p} {...num("cpu_reservation_percent")} type="number" min={0} max={100} />}
            </Field>
            <Field label="Memory usable by databases (%)" error={e.memory_reservation_percent?.message}>
              {(p) => <input {...p} {...num("memory_reservation_percent")} type="number" min={0} max={100} />}
            </Field>
            <Field label="Storage usable by databases (%)" error={e.storage_reservation_percent?.message}>
              {(p) => <input {...p} {...num("storage_reservation_percent")} type="number" min={0} max={100} />}
            </Field>
          </div>
        </fieldset>
        <fieldset>
          <legend>Placement</legend>
          <div className="form-grid">
            <Field label="Priority" error={e.priority?.message} hint="0–1000; breaks ties between providers with equal room">
              {(p) => <input {...p} {...num("priority")} type="number" min={0} max={1000} step={1} />}
            </Field>
            <Field label="Tags" error={e.tags?.message} hint={tags.length > 0 ? `${tags.length} tag(s): ${tags.join(", ")}` : "Comma-separated, optional"}>
              {(p) => <input {...p} {...register("tags")} autoComplete="off" />}
            </Field>
          </div>
          <div className="check">
            <input id="provider-active" type="checkbox" {...register("is_active")} />
            <label htmlFor="provider-active">Active: takes new databases</label>
          </div>
          <div className="check">
            <input id="provider-lb" type="checkbox" {...register("enable_loadbalancer")} />
            <label htmlFor="provider-lb">Offer LoadBalancer services</label>
          </div>
        </fieldset>
        <fieldset>
          <legend>Kubeconfig</legend>
          <Field label="Kubeconfig file" error={fileError ?? undefined} hint="Reads the file here; it is sent with the form">
            {(p) => <input {...p} type="file" accept=".yaml,.yml,.conf,.config,.kubeconfig,text/*,application/x-yaml" onChange={(ev) => void onFile(ev.target.files?.[0])} />}
          </Field>
          <Field label="Kubeconfig" error={e.kubeconfig_content?.message} hint="YAML, or base64 of it. Exec plugins and file references are refused by the server.">
            {(p) => <textarea {...p} {...register("kubeconfig_content")} rows={10} spellCheck={false} className="mono" />}
          </Field>
          <div className="check">
            <input id="provider-verify" type="checkbox" {...register("verify_ssl")} />
            <label htmlFor="provider-verify">Verify the cluster's TLS certificate</label>
          </div>
        </fieldset>
        <OnboardingPlan v={values} />
        <ErrorNotice error={create.error} title="Not onboarded" />
        <div className="page-actions">
          <Button type="submit" variant="primary" busy={formState.isSubmitting}>
            Onboard provider
          </Button>
          <Link className="btn btn-secondary" to="/admin/providers">
            Cancel
          </Link>
        </div>
      </form>
    </Page>
  );
}
