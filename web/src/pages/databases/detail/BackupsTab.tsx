import { useState } from "react";
import { Link } from "react-router";
import { useQuery } from "@tanstack/react-query";
import { api } from "../../../api/client";
import { dryRun } from "../../../api/plan";
import { unwrap } from "../../../api/errors";
import type { Database } from "../../../api/types";
import { scopePath, useScope } from "../../../app/scope";
import { ErrorNotice } from "../../../components/ErrorNotice";
import { Field } from "../../../components/Field";
import { Loading } from "../../../components/Loading";
import { PlannedAction } from "../../../components/PlannedAction";
import { StatusBadge } from "../../../components/StatusBadge";

const NAME = /^[a-z]([a-z0-9-]*[a-z0-9])?$/;

function size(n: number | null | undefined): string {
  if (typeof n !== "number") return "–";
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MiB` : `${Math.ceil(n / 1024)} KiB`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export default function BackupsTab({ db, writer }: { db: Database; writer: boolean }) {
  const scope = useScope();
  const path = { ...scope, id: db.id };
  const backups = useQuery({
    queryKey: ["backups", db.id],
    queryFn: () => unwrap(api.GET("/api/v1/domain/{domain}/project/{project}/databases/{id}/backups", { params: { path } })),
  });
  const [backupId, setBackupId] = useState("latest");
  const [target, setTarget] = useState<"new" | "in_place">("new");
  const [newName, setNewName] = useState(`${db.name}-copy`.slice(0, 40));
  const [nameError, setNameError] = useState<string | undefined>();
  const succeeded = backups.data?.backups.filter((b) => b.status === "succeeded") ?? [];

  const restoreBody = () => ({
    backup_id: backupId,
    target: target === "in_place" ? ("in_place" as const) : { new_database: { name: newName } },
  });
  const restorePath = "/api/v1/domain/{domain}/project/{project}/databases/{id}/restore" as const;

  return (
    <>
      <section className="panel" aria-labelledby="backups-title">
        <h2 id="backups-title">Backups</h2>
        {writer ? (
          <div className="page-actions">
            <PlannedAction
              label="Back up now"
              title={`Back up ${db.name} now`}
              variant="primary"
              confirmLabel="Start backup"
              plan={() => dryRun(api.POST("/api/v1/domain/{domain}/project/{project}/databases/{id}/backup", { params: { path, query: { dry_run: true } } }))
              }
              run={() => unwrap(api.POST("/api/v1/domain/{domain}/project/{project}/databases/{id}/backup", { params: { path } }))}
            >
              A manual backup is taken with KubeStash to the configured backup storage.
            </PlannedAction>
          </div>
        ) : null}
        <ErrorNotice error={backups.error} title="The backups could not be listed" />
        {backups.isPending ? <Loading what="backups" /> : null}
        {backups.data && backups.data.backups.length === 0 ? <p className="muted">No backups yet.</p> : null}
        {backups.data && backups.data.backups.length > 0 ? (
          <table aria-label="Backups">
            <thead>
              <tr>
                <th scope="col">Taken</th>
                <th scope="col">Kind</th>
                <th scope="col">Status</th>
                <th scope="col">Size</th>
                <th scope="col">Expires</th>
              </tr>
            </thead>
            <tbody>
              {backups.data.backups.map((b) => (
                <tr key={b.id}>
                  <td>{b.snapshot_time ? new Date(b.snapshot_time).toLocaleString() : "–"}</td>
                  <td>{b.kind}</td>
                  <td>
                    <StatusBadge status={b.status} />
                  </td>
                  <td>{size(b.size_bytes)}</td>
                  <td>{b.expires_at ? new Date(b.expires_at).toLocaleDateString() : "–"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : null}
      </section>
      {writer ? (
        <section className="panel" aria-labelledby="restore-title">
          <h2 id="restore-title">Restore</h2>
          <div className="form-grid">
            <Field label="Backup to restore">
              {(p) => (
                <select {...p} value={backupId} onChange={(e) => setBackupId(e.target.value)}>
                  <option value="latest">The latest succeeded backup</option>
                  {succeeded.map((b) => (
                    <option key={b.id} value={b.id}>
                      {b.snapshot_time ? new Date(b.snapshot_time).toLocaleString() : b.id} ({b.kind})
                    </option>
                  ))}
                </select>
              )}
            </Field>
          </div>
          <fieldset>
            <legend>Restore into</legend>
            <label className="check">
              <input type="radio" name="restore-target" checked={target === "new"} onChange={() => setTarget("new")} />A new database (this one is untouched)
            </label>
            <label className="check">
              <input type="radio" name="restore-target" checked={target === "in_place"} onChange={() => setTarget("in_place")} />
              This database, in place (its current data is replaced)
            </label>
            {target === "new" ? (
              <Field label="New database name" error={nameError}>
                {(p) => <input {...p} value={newName} onChange={(e) => setNewName(e.target.value)} autoComplete="off" />}
              </Field>
            ) : null}
          </fieldset>
          <PlannedAction
            label="Restore…"
            title={target === "new" ? `Restore into a new database ${newName}` : `Restore ${db.name} in place`}
            variant={target === "in_place" ? "danger" : "primary"}
            confirmLabel="Restore"
            canOpen={() => {
              const ok = target === "in_place" || (newName.length >= 3 && newName.length <= 40 && NAME.test(newName));
              setNameError(ok ? undefined : "3–40 lowercase letters, digits and hyphens, starting with a letter");
              return ok;
            }}
            plan={() => dryRun(api.POST(restorePath, { params: { path, query: { dry_run: true } }, body: restoreBody() }))}
            run={() => unwrap(api.POST(restorePath, { params: { path }, body: restoreBody() }))}
            after={(answer) =>
              isRecord(answer) && typeof answer.database_id === "string" && answer.database_id !== db.id ? (
                <p>
                  <Link to={`${scopePath(scope)}/${answer.database_id}`}>Open the new database</Link>
                </p>
              ) : null
            }
          />
        </section>
      ) : null}
    </>
  );
}
