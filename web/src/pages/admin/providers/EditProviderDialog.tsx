import { useState } from "react";
import { useForm, useWatch } from "react-hook-form";
import { zodResolver } from "@hookform/resolvers/zod";
import { Button } from "../../../components/Button";
import { Dialog } from "../../../components/Dialog";
import { ErrorNotice } from "../../../components/ErrorNotice";
import { Field } from "../../../components/Field";
import { applyFieldErrors } from "../common/formErrors";
import type { Provider } from "../types";
import { capacityBelowAllocation, editProviderSchema, editValues, providerChanges, type EditProviderValues } from "./editProvider";
import { useUpdateProvider } from "./queries";

const NUMBERS = [
  ["cpu_total_cores", "CPU cores"],
  ["memory_total_gb", "Memory (GB)"],
  ["storage_total_gb", "Storage (GB)"],
  ["cpu_reservation_percent", "CPU usable by databases (%)"],
  ["memory_reservation_percent", "Memory usable by databases (%)"],
  ["storage_reservation_percent", "Storage usable by databases (%)"],
  ["priority", "Priority"],
] as const;

function EditForm({ provider, onDone }: { provider: Provider; onDone: () => void }) {
  const update = useUpdateProvider();
  const form = useForm<EditProviderValues>({ resolver: zodResolver(editProviderSchema), defaultValues: editValues(provider) });
  const values = useWatch({ control: form.control }) as EditProviderValues;
  const e = form.formState.errors;
  const below = capacityBelowAllocation(provider, values);
  const submit = form.handleSubmit(async (v) => {
    const body = providerChanges(provider, v);
    if (Object.keys(body).length === 0) return onDone();
    try {
      await update.mutateAsync({ id: provider.id, body });
      onDone();
    } catch (err) {
      applyFieldErrors(err, form.setError, ["region", "availability_zone", "kubeconfig_content", ...NUMBERS.map(([k]) => k)]);
    }
  });
  return (
    <form onSubmit={(ev) => void submit(ev)} noValidate aria-label={`Edit ${provider.name}`}>
      <div className="form-grid">
        <Field label="Region" error={e.region?.message}>
          {(p) => <input {...p} {...form.register("region")} autoComplete="off" />}
        </Field>
        <Field label="Availability zone" error={e.availability_zone?.message} hint="Empty for none">
          {(p) => <input {...p} {...form.register("availability_zone")} autoComplete="off" />}
        </Field>
        {NUMBERS.map(([k, label]) => (
          <Field key={k} label={label} error={e[k]?.message}>
            {(p) => <input {...p} {...form.register(k, { valueAsNumber: true })} type="number" step="any" min={0} />}
          </Field>
        ))}
      </div>
      <Field label="New kubeconfig" error={e.kubeconfig_content?.message} hint="Optional. The server connects with it and checks KubeDB before it replaces the stored one.">
        {(p) => <textarea {...p} {...form.register("kubeconfig_content")} rows={4} className="mono" spellCheck={false} />}
      </Field>
      {below.length > 0 ? (
        <div className="notice notice-warn" role="status">
          The new capacity is below what databases already hold here; nothing new will be placed until they shrink:
          <ul>
            {below.map((b) => (
              <li key={b}>{b}</li>
            ))}
          </ul>
        </div>
      ) : null}
      <ErrorNotice error={update.error} title="Not saved" />
      <div className="dialog-actions">
        <Button onClick={onDone}>Cancel</Button>
        <Button type="submit" variant="primary" busy={form.formState.isSubmitting}>
          Save changes
        </Button>
      </div>
    </form>
  );
}

/** An "Edit" button and its dialog for one provider's placement settings and kubeconfig. */
export function EditProviderButton({ provider }: { provider: Provider }) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <Button onClick={() => setOpen(true)}>
        Edit<span className="visually-hidden"> {provider.name}</span>
      </Button>
      <Dialog open={open} onOpenChange={setOpen} title={`Edit ${provider.name}`}>
        {open ? <EditForm provider={provider} onDone={() => setOpen(false)} /> : null}
      </Dialog>
    </>
  );
}
