import { useEffect, useState } from "react";
import { useForm, useWatch } from "react-hook-form";
import { zodResolver } from "@hookform/resolvers/zod";
import { Button } from "../../../components/Button";
import { ErrorNotice } from "../../../components/ErrorNotice";
import { Field } from "../../../components/Field";
import type { QuotaInput, QuotaLimits } from "../types";
import { useQuotaView, type AdminScope } from "../tenants/queries";
import { applyFieldErrors } from "./formErrors";
import { limitsBelowUse, QUOTA_FIELDS, QUOTA_ROWS, quotaChanges, quotaSchema, quotaValues, type QuotaValues } from "./quota";
import { UsageBar } from "./UsageBar";

interface Props {
  scope: AdminScope;
  /** The limits as the tenant or project record has them. */
  limits: QuotaLimits;
  /** Offer the form (the API still decides). */
  editable: boolean;
  save: (quota: QuotaInput) => Promise<unknown>;
}

/** Usage against each limit, and (for who may) a form to change the limits. */
export function QuotaPanel({ scope, limits, editable, save }: Props) {
  const view = useQuotaView(scope);
  const [editing, setEditing] = useState(false);
  const [saved, setSaved] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const form = useForm<QuotaValues>({ resolver: zodResolver(quotaSchema), defaultValues: quotaValues(limits) });
  const values = useWatch({ control: form.control });
  const e = form.formState.errors;
  const what = scope.project ? "project" : "tenant";
  const id = `quota-${scope.project ? "project" : "tenant"}`;

  useEffect(() => {
    if (!editing) form.reset(quotaValues(limits));
  }, [limits, editing, form]);

  const submit = form.handleSubmit(async (v) => {
    setError(null);
    setSaved(false);
    const changes = quotaChanges(limits, v);
    if (Object.keys(changes).length === 0) return setEditing(false);
    try {
      await save(changes);
      setSaved(true);
      setEditing(false);
    } catch (err) {
      setError(err);
      applyFieldErrors(err, form.setError, QUOTA_FIELDS);
    }
  });
  const below = limitsBelowUse(view.data, values);

  return (
    <section className="panel" aria-labelledby={id}>
      <h2 id={id}>{scope.project ? "Project quota" : "Tenant quota"}</h2>
      <ErrorNotice error={view.error} title="Usage not available" />
      {view.data ? (
        <div className="quota">
          {QUOTA_ROWS.map((r) => (
            <UsageBar key={r.key} label={r.label} used={view.data[r.used]} limit={view.data[r.key]} unit={r.unit} />
          ))}
        </div>
      ) : null}
      {saved ? (
        <p className="notice notice-info" role="status">
          The {what} quota was saved.
        </p>
      ) : null}
      {editable && !editing ? (
        <p>
          <Button onClick={() => (setEditing(true), setSaved(false))}>Edit {what} quota</Button>
        </p>
      ) : null}
      {editing ? (
        <form onSubmit={(ev) => void submit(ev)} noValidate aria-label={`Edit ${what} quota`}>
          <div className="form-grid">
            {QUOTA_ROWS.map((r) => (
              <Field key={r.key} label={r.field} error={e[r.key]?.message}>
                {(p) => (
                  <input
                    {...p}
                    {...form.register(r.key, { valueAsNumber: true })}
                    type="number"
                    min={0}
                    step={r.key === "max_databases" || r.key === "max_backups" ? 1 : "any"}
                  />
                )}
              </Field>
            ))}
          </div>
          {below.length > 0 ? (
            <div className="notice notice-warn" role="status">
              Below current use (nothing new will fit until usage drops):
              <ul>
                {below.map((b) => (
                  <li key={b}>{b}</li>
                ))}
              </ul>
            </div>
          ) : null}
          {!scope.project ? <p className="field-hint">A tenant's quota caps the sum of its projects' use.</p> : null}
          <ErrorNotice error={error} title="Not saved" />
          <div className="page-actions">
            <Button type="submit" variant="primary" busy={form.formState.isSubmitting}>
              Save quota
            </Button>
            <Button onClick={() => (setEditing(false), setError(null))}>Cancel</Button>
          </div>
        </form>
      ) : null}
    </section>
  );
}
