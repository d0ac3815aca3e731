import { useRef, useState } from "react";
import { Link } from "react-router";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "../../../api/client";
import { dryRun } from "../../../api/plan";
import { ApiProblem, unwrap } from "../../../api/errors";
import { SIZE_SHAPE, SIZES, type Database, type Size } from "../../../api/types";
import { scopePath, useScope } from "../../../app/scope";
import { Button } from "../../../components/Button";
import { ErrorNotice } from "../../../components/ErrorNotice";
import { Field } from "../../../components/Field";
import { PlannedAction } from "../../../components/PlannedAction";
import { HA_REPLICAS, REPLICA_RULE } from "../create/topology";

const DB = "/api/v1/domain/{domain}/project/{project}/databases/{id}" as const;
const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;

function ScaleSection({ db, path }: { db: Database; path: { domain: string; project: string; id: string } }) {
  const [size, setSize] = useState<Size>(db.size);
  const [storage, setStorage] = useState(db.storage_gb);
  const [replicas, setReplicas] = useState(db.replicas);
  const [problem, setProblem] = useState<string | undefined>();
  const [unchanged, setUnchanged] = useState(false);
  const body = () => ({
    ...(size !== db.size ? { size } : {}),
    ...(storage !== db.storage_gb ? { storage_gb: storage } : {}),
    ...(replicas !== db.replicas ? { replicas } : {}),
  });
  return (
    <section className="panel" aria-labelledby="scale-title">
      <h2 id="scale-title">Size, storage and replicas</h2>
      <div className="form-grid">
        <Field label="Instance size">
          {(p) => (
            <select {...p} value={size} onChange={(e) => setSize(e.target.value as Size)}>
              {SIZES.map((s) => (
                <option key={s} value={s}>
                  {s} ({SIZE_SHAPE[s].cpu} CPU, {SIZE_SHAPE[s].memoryGb} GB)
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Storage (GB)" error={problem} hint={`Now ${db.storage_gb} GB; storage can grow, never shrink.`}>
          {(p) => <input {...p} type="number" min={db.storage_gb} max={10000} value={storage} onChange={(e) => setStorage(e.target.valueAsNumber)} />}
        </Field>
        {db.high_availability ? (
          <Field label="Replicas" hint={REPLICA_RULE}>
            {(p) => (
              <select {...p} value={replicas} onChange={(e) => setReplicas(Number(e.target.value))}>
                {HA_REPLICAS.map((n) => (
                  <option key={n}>{n}</option>
                ))}
              </select>
            )}
          </Field>
        ) : (
          <p className="field-hint">{REPLICA_RULE}</p>
        )}
      </div>
      <PlannedAction
        label="Apply changes…"
        title={`Resize ${db.name}`}
        variant="primary"
        confirmLabel="Apply"
        canOpen={() => {
          const ok = Number.isInteger(storage) && storage >= db.storage_gb && storage <= 10000;
          setProblem(ok ? undefined : `Between ${db.storage_gb} and 10,000 GB`);
          const changed = Object.keys(body()).length > 0;
          setUnchanged(ok && !changed);
          return ok && changed;
        }}
        plan={() => dryRun(api.POST(`${DB}/scale` as const, { params: { path, query: { dry_run: true } }, body: body() }))}
        run={() => unwrap(api.POST(`${DB}/scale` as const, { params: { path }, body: body() }))}
      />
      {unchanged ? <p role="status">Nothing to apply: change the size, storage or replicas first.</p> : null}
    </section>
  );
}

function UpgradeSection({ db, path }: { db: Database; path: { domain: string; project: string; id: string } }) {
  const upgrades = useQuery({
    queryKey: ["database", db.id, "upgrades"],
    queryFn: () => unwrap(api.GET(`${DB}/available-upgrades` as const, { params: { path } })),
  });
  const [target, setTarget] = useState("");
  // The version whose plan the dialog shows is the one the upgrade asks for.
  const planned = useRef("");
  const offered = upgrades.data?.available_upgrades ?? [];
  const chosen = offered.some((u) => u.version === target) ? target : (offered[0]?.version ?? "");
  return (
    <section className="panel" aria-labelledby="upgrade-title">
      <h2 id="upgrade-title">Version</h2>
      <p>
        Running {db.version}.{" "}
        {upgrades.data && offered.length === 0 ? "No upgrade is available." : null}
      </p>
      <ErrorNotice error={upgrades.error} />
      {offered.length > 0 ? (
        <Field label="Upgrade to">
          {(p) => (
            <select {...p} value={chosen} onChange={(e) => setTarget(e.target.value)}>
              {offered.map((u) => (
                <option key={u.version} value={u.version}>
                  {u.version} ({u.kind})
                </option>
              ))}
            </select>
          )}
        </Field>
      ) : null}
      {/* Stays mounted when the upgrade leaves nothing newer to offer: its dialog shows the progress. */}
      <PlannedAction
        label="Upgrade…"
        title={`Upgrade ${db.name} to ${chosen}`}
        confirmLabel="Upgrade"
        disabled={!chosen}
        plan={() => {
          planned.current = chosen;
          return dryRun(api.POST(`${DB}/upgrade` as const, { params: { path, query: { dry_run: true } }, body: { target_version: chosen } }));
        }}
        run={() => unwrap(api.POST(`${DB}/upgrade` as const, { params: { path }, body: { target_version: planned.current } }))}
      />
    </section>
  );
}

function PolicySection({ db, path }: { db: Database; path: { domain: string; project: string; id: string } }) {
  const queryClient = useQueryClient();
  const current = db.upgrade_policy;
  const [mode, setMode] = useState(current?.mode ?? "manual");
  const [days, setDays] = useState<string[]>(current?.maintenance_window?.days ?? ["sun"]);
  const [start, setStart] = useState(current?.maintenance_window?.start_utc ?? "02:00");
  const [duration, setDuration] = useState(current?.maintenance_window?.duration_minutes ?? 120);
  const save = useMutation({
    mutationFn: () =>
      unwrap(
        api.PUT(`${DB}/upgrade-policy` as const, {
          params: { path },
          body: { mode, maintenance_window: { days, start_utc: start, duration_minutes: duration } },
        }),
      ),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ["database", db.id] }),
  });
  const problem = save.error instanceof ApiProblem ? save.error : null;
  return (
    <section className="panel" aria-labelledby="policy-title">
      <h2 id="policy-title">Upgrade policy and maintenance window</h2>
      <div className="form-grid">
        <Field label="Automatic upgrades" error={problem?.fieldMessage("mode")}>
          {(p) => (
            <select {...p} value={mode} onChange={(e) => setMode(e.target.value as typeof mode)}>
              <option value="manual">Off: upgrade by hand</option>
              <option value="auto_patch">Patch versions automatically</option>
              <option value="auto_minor">Patch and minor versions automatically</option>
            </select>
          )}
        </Field>
        <Field label="Window start (UTC, HH:MM)" error={problem?.fieldMessage("start_utc")}>
          {(p) => <input {...p} value={start} onChange={(e) => setStart(e.target.value)} pattern="[0-2][0-9]:[0-5][0-9]" />}
        </Field>
        <Field label="Window length (minutes)" error={problem?.fieldMessage("duration_minutes")} hint="30 to 1440 minutes.">
          {(p) => <input {...p} type="number" min={30} max={1440} value={duration} onChange={(e) => setDuration(e.target.valueAsNumber)} />}
        </Field>
      </div>
      <fieldset>
        <legend>Window days</legend>
        <div className="choices">
          {DAYS.map((d) => (
            <label key={d} className="choice">
              <input type="checkbox" checked={days.includes(d)} onChange={(e) => setDays(e.target.checked ? [...days, d] : days.filter((x) => x !== d))} />
              {d}
            </label>
          ))}
        </div>
        {problem?.fieldMessage("days") ? <div className="field-error">{problem.fieldMessage("days")}</div> : null}
      </fieldset>
      <ErrorNotice error={save.error} title="The policy was not saved" />
      {save.isSuccess ? <p role="status">Saved.</p> : null}
      <Button variant="primary" busy={save.isPending} onClick={() => save.mutate()}>
        Save policy
      </Button>
    </section>
  );
}

export default function SettingsTab({ db }: { db: Database }) {
  const scope = useScope();
  const path = { ...scope, id: db.id };
  const simple = (action: `${typeof DB}/${"pause" | "resume" | "restart" | "rotate-credentials"}`) => ({
    plan: () => dryRun(api.POST(action, { params: { path, query: { dry_run: true } } })),
    run: () => unwrap(api.POST(action, { params: { path } })),
  });
  const protection = (on: boolean) => ({
    plan: () => dryRun(api.PATCH(DB, { params: { path, query: { dry_run: true } }, body: { deletion_protection: on } })),
    run: () => unwrap(api.PATCH(DB, { params: { path }, body: { deletion_protection: on } })),
  });
  return (
    <>
      <ScaleSection db={db} path={path} />
      <UpgradeSection db={db} path={path} />
      <PolicySection db={db} path={path} />
      <section className="panel" aria-labelledby="lifecycle-title">
        <h2 id="lifecycle-title">Pause, resume, restart</h2>
        <p className="muted">A paused database keeps its volumes; only its storage counts against the quota.</p>
        <div className="page-actions">
          <PlannedAction label="Pause…" title={`Pause ${db.name}`} confirmLabel="Pause" disabled={db.status !== "running"} {...simple(`${DB}/pause`)} />
          <PlannedAction label="Resume…" title={`Resume ${db.name}`} confirmLabel="Resume" disabled={db.status !== "paused"} {...simple(`${DB}/resume`)} />
          <PlannedAction label="Restart…" title={`Restart ${db.name}`} confirmLabel="Restart" disabled={db.status !== "running"} {...simple(`${DB}/restart`)} />
          <PlannedAction label="Rotate credentials…" title={`Rotate the credentials of ${db.name}`} confirmLabel="Rotate" disabled={db.status !== "running"} {...simple(`${DB}/rotate-credentials`)}>
            A new password is set; clients using the old one lose access.
          </PlannedAction>
        </div>
      </section>
      <section className="panel" aria-labelledby="danger-title">
        <h2 id="danger-title">Deletion</h2>
        <p>Deletion protection is {db.deletion_protection ? "on: the database cannot be deleted." : "off."}</p>
        <div className="page-actions">
          <PlannedAction
            label={db.deletion_protection ? "Turn deletion protection off…" : "Turn deletion protection on…"}
            title={db.deletion_protection ? "Turn deletion protection off" : "Turn deletion protection on"}
            confirmLabel="Save"
            {...protection(!db.deletion_protection)}
          />
          <PlannedAction
            label="Delete database…"
            title={`Delete ${db.name}`}
            variant="danger"
            confirmLabel="Delete"
            disabled={db.deletion_protection || db.status === "deleting"}
            typeToConfirm={db.name}
            plan={() => dryRun(api.DELETE(DB, { params: { path, query: { dry_run: true } } }))}
            run={() => unwrap(api.DELETE(DB, { params: { path } }))}
            after={() => (
              <p>
                <Link to={scopePath(scope)}>Back to the databases</Link>
              </p>
            )}
          >
            The database and all its data are deleted (WipeOut). Its backups expire on their own schedule.
          </PlannedAction>
        </div>
      </section>
    </>
  );
}
