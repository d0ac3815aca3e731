import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useForm } from "react-hook-form";
import { zodResolver } from "@hookform/resolvers/zod";
import { Link } from "react-router";
import { api } from "../../../api/client";
import { unwrap } from "../../../api/errors";
import { Button } from "../../../components/Button";
import { ConfirmDialog } from "../../../components/ConfirmDialog";
import { ErrorNotice } from "../../../components/ErrorNotice";
import { Field } from "../../../components/Field";
import { Loading } from "../../../components/Loading";
import { Page } from "../../../components/Page";
import { CopyButton } from "../common/CopyButton";
import { applyFieldErrors } from "../common/formErrors";
import { when } from "../common/format";
import type { ApiKey, ApiKeyCreate } from "../types";
import { API_KEY_DEFAULTS, apiKeySchema, SCOPE_WORDS, SCOPES, toApiKeyCreate, type ApiKeyParsed, type ApiKeyValues } from "./apiKeyForm";

const KEYS = ["admin", "api-keys"] as const;

function useApiKeys() {
  return useQuery({ queryKey: KEYS, queryFn: () => unwrap(api.GET("/api/v1/auth/api-keys")) });
}

function CreateKeyForm({ onCreated }: { onCreated: (k: ApiKey) => void }) {
  const qc = useQueryClient();
  const create = useMutation({
    mutationFn: (body: ApiKeyCreate) => unwrap(api.POST("/api/v1/auth/api-keys", { body })),
    onSuccess: () => qc.invalidateQueries({ queryKey: KEYS }),
  });
  const form = useForm<ApiKeyValues, unknown, ApiKeyParsed>({ resolver: zodResolver(apiKeySchema), defaultValues: API_KEY_DEFAULTS });
  const e = form.formState.errors;
  const submit = form.handleSubmit(async (v) => {
    try {
      onCreated(await create.mutateAsync(toApiKeyCreate(v)));
      form.reset(API_KEY_DEFAULTS);
    } catch (err) {
      applyFieldErrors(err, form.setError, ["name", "description", "expires_in_days", "scopes"]);
    }
  });
  return (
    <form className="panel" onSubmit={(ev) => void submit(ev)} noValidate aria-labelledby="create-key-title">
      <h2 id="create-key-title">Create an API key</h2>
      <div className="form-grid">
        <Field label="Key name" error={e.name?.message} hint="3–100 characters, e.g. ci-deploy">
          {(p) => <input {...p} {...form.register("name")} autoComplete="off" />}
        </Field>
        <Field label="Description" error={e.description?.message} hint="Optional">
          {(p) => <input {...p} {...form.register("description")} autoComplete="off" />}
        </Field>
        <Field label="Expires after (days)" error={e.expires_in_days?.message} hint="1–365; empty for a key that never expires">
          {(p) => <input {...p} {...form.register("expires_in_days")} type="number" min={1} max={365} step={1} />}
        </Field>
      </div>
      <fieldset aria-describedby={e.scopes ? "scopes-error" : undefined}>
        <legend>Scopes</legend>
        {SCOPES.map((s) => (
          <div className="check" key={s}>
            <input id={`scope-${s}`} type="checkbox" value={s} {...form.register("scopes")} />
            <label htmlFor={`scope-${s}`}>{SCOPE_WORDS[s]}</label>
          </div>
        ))}
        {e.scopes ? (
          <div className="field-error" id="scopes-error">
            {e.scopes.message}
          </div>
        ) : null}
      </fieldset>
      <ErrorNotice error={create.error} title="Not created" />
      <Button type="submit" variant="primary" busy={form.formState.isSubmitting}>
        Create API key
      </Button>
    </form>
  );
}

function NewKey({ k, onDismiss }: { k: ApiKey; onDismiss: () => void }) {
  return (
    <section className="notice notice-warn" aria-labelledby="new-key-title">
      <h2 id="new-key-title">Your new API key {k.name}</h2>
      <p>
        <strong>Copy it now: it will not be shown again.</strong> The server keeps only a hash. Send it as{" "}
        <code>X-API-Key</code> or <code>Authorization: Bearer</code>.
      </p>
      <div className="secret">
        <input className="mono" aria-label="New API key" readOnly value={k.key ?? ""} size={Math.max(20, (k.key ?? "").length)} onFocus={(e) => e.currentTarget.select()} />
        <CopyButton text={k.key ?? ""} label="Copy API key" />
      </div>
      <p>
        <Button onClick={onDismiss}>I have copied it</Button>
      </p>
    </section>
  );
}

function RevokeButton({ k }: { k: ApiKey }) {
  const [open, setOpen] = useState(false);
  const qc = useQueryClient();
  const revoke = useMutation({
    mutationFn: (id: string) => unwrap(api.DELETE("/api/v1/auth/api-keys/{id}", { params: { path: { id } } })),
    onSuccess: () => qc.invalidateQueries({ queryKey: KEYS }),
  });
  return (
    <>
      <Button variant="danger" onClick={() => setOpen(true)}>
        Revoke<span className="visually-hidden"> {k.name}</span>
      </Button>
      <ConfirmDialog
        open={open}
        onOpenChange={setOpen}
        title={`Revoke the API key ${k.name}`}
        confirmLabel="Revoke key"
        danger
        onConfirm={() => revoke.mutateAsync(k.id)}
      >
        <p>
          Every script or tool using <code>{k.prefix}…</code> is refused from now on. This cannot be undone; create a new key
          to replace it.
        </p>
      </ConfirmDialog>
    </>
  );
}

export default function ApiKeysPage() {
  const keys = useApiKeys();
  const [fresh, setFresh] = useState<ApiKey | null>(null);
  return (
    <Page title="API keys" context={<Link to="/admin">Administration</Link>}>
      <p className="muted">Your own keys, for the CLI and scripts. A key never has more rights than you have.</p>
      {fresh ? <NewKey k={fresh} onDismiss={() => setFresh(null)} /> : null}
      <CreateKeyForm onCreated={setFresh} />
      <ErrorNotice error={keys.error} title="The keys could not be listed" />
      {keys.isPending ? <Loading what="your API keys" /> : null}
      {keys.data ? (
        keys.data.api_keys.length === 0 ? (
          <p className="panel">You have no API keys.</p>
        ) : (
          <table aria-label="Your API keys">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Key</th>
                <th scope="col">Scopes</th>
                <th scope="col">Created</th>
                <th scope="col">Expires</th>
                <th scope="col">Last used</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {keys.data.api_keys.map((k) => (
                <tr key={k.id}>
                  <td>
                    {k.name}
                    {k.description ? <div className="field-hint">{k.description}</div> : null}
                  </td>
                  <td>
                    <code>{k.prefix}…</code>
                  </td>
                  <td>{k.scopes.join(", ")}</td>
                  <td>{when(k.created_at)}</td>
                  <td>{k.expires_at ? when(k.expires_at) : "never"}</td>
                  <td>{k.last_used_at ? when(k.last_used_at) : "never"}</td>
                  <td>
                    <RevokeButton k={k} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )
      ) : null}
    </Page>
  );
}
