import { useEffect, useMemo } from "react";
import { useForm, useWatch } from "react-hook-form";
import { zodResolver } from "@hookform/resolvers/zod";
import { z } from "zod";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, useNavigate } from "react-router";
import { api } from "../../../api/client";
import { dryRun, isPlan } from "../../../api/plan";
import { ApiProblem, unwrap } from "../../../api/errors";
import { ENGINE_LABEL, ENGINES, SIZE_SHAPE, SIZES, type DatabaseCreate, type Engine } from "../../../api/types";
import { useOfferedVersions } from "../../../api/versions";
import { scopePath, useScope } from "../../../app/scope";
import { useMe } from "../../../auth/session";
import { canMutate } from "../../../auth/roles";
import { Button } from "../../../components/Button";
import { ErrorNotice } from "../../../components/ErrorNotice";
import { Field } from "../../../components/Field";
import { Page } from "../../../components/Page";
import { PlanView } from "../../../components/PlanView";
import { QuotaCheck } from "../../../components/QuotaCheck";
import { useDebounced } from "../../../lib/useDebounced";
import { useQuota } from "../queries";
import { HA_REPLICAS, HA_TOPOLOGY, REPLICA_RULE } from "./topology";

const schema = z.object({
  name: z
    .string()
    .min(3, "At least 3 characters")
    .max(40, "At most 40 characters")
    .regex(/^[a-z]([a-z0-9-]*[a-z0-9])?$/, "Lowercase letters, digits and hyphens; start with a letter, end with a letter or digit"),
  engine: z.enum(ENGINES),
  version: z.string().min(1, "Choose a version"),
  size: z.enum(SIZES),
  storage_gb: z.number({ error: "Enter a number of GB" }).int("Whole GB only").min(10, "At least 10 GB").max(10000, "At most 10,000 GB"),
  high_availability: z.boolean(),
  replicas: z.number().int(),
  backup_enabled: z.boolean(),
  backup_schedule: z.enum(["hourly", "daily", "weekly"]),
  backup_retention_days: z.number({ error: "Enter a number of days" }).int().min(1, "At least 1 day").max(365, "At most 365 days"),
  deletion_protection: z.boolean(),
});
type Values = z.infer<typeof schema>;

const DEFAULTS: Values = {
  name: "",
  engine: "postgres",
  version: "",
  size: "db.t3.micro",
  storage_gb: 20,
  high_availability: false,
  replicas: 1,
  backup_enabled: true,
  backup_schedule: "daily",
  backup_retention_days: 7,
  deletion_protection: false,
};

function toRequest(v: Values): DatabaseCreate {
  return { ...v, monitoring_enabled: true };
}

export default function CreateDatabasePage() {
  const scope = useScope();
  const me = useMe();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const form = useForm<Values>({ resolver: zodResolver(schema), defaultValues: DEFAULTS, mode: "onChange" });
  const { register, setValue, setError, formState } = form;
  const values = useWatch({ control: form.control }) as Values;
  const engine = values.engine;
  const versions = useOfferedVersions(engine);
  const quota = useQuota(scope);

  // Each engine offers its own versions: take the newest until the user picks another.
  useEffect(() => {
    const list = versions.data;
    if (!list) {
      if (values.version) setValue("version", "");
    } else if (!list.some((v) => v.version === values.version)) {
      setValue("version", list[0]?.version ?? "", { shouldValidate: true });
    }
  }, [versions.data, values.version, setValue]);

  const valid = schema.safeParse(values).success;
  const settled = useDebounced(valid ? JSON.stringify(toRequest(values)) : null, 350);
  const plan = useQuery({
    queryKey: ["plan", "create", scope.domain, scope.project, settled],
    enabled: settled !== null,
    retry: false,
    queryFn: () =>
      dryRun(
        api.POST("/api/v1/domain/{domain}/project/{project}/databases", {
          params: { path: scope, query: { dry_run: true } },
          body: JSON.parse(settled ?? "{}") as DatabaseCreate,
        }),
      ),
  });

  const create = useMutation({
    mutationFn: async (v: Values) => {
      const answer = await unwrap(
        api.POST("/api/v1/domain/{domain}/project/{project}/databases", {
          params: { path: scope },
          body: toRequest(v),
        }),
      );
      if (isPlan(answer) || !("id" in answer)) throw new Error("The server answered with a plan instead of creating the database.");
      return answer;
    },
    onSuccess: (db) => {
      void queryClient.invalidateQueries({ queryKey: ["databases", scope.domain, scope.project] });
      void queryClient.invalidateQueries({ queryKey: ["quota", scope.domain, scope.project] });
      void navigate(`${scopePath(scope)}/${db.id}`);
    },
    onError: (err) => {
      if (err instanceof ApiProblem) {
        for (const f of err.fields) {
          const name = f.field.replace(/^body\./, "");
          if (name in DEFAULTS) setError(name as keyof Values, { message: f.message });
        }
      }
    },
  });

  const planProblem = plan.error instanceof ApiProblem ? plan.error : null;
  const fieldError = (name: keyof Values) =>
    formState.errors[name]?.message ?? planProblem?.fieldMessage(name) ?? (create.error instanceof ApiProblem ? create.error.fieldMessage(name) : undefined);

  const replicaChoices = useMemo(() => (values.high_availability ? HA_REPLICAS : [1]), [values.high_availability]);
  useEffect(() => {
    if (!(replicaChoices as readonly number[]).includes(values.replicas)) setValue("replicas", replicaChoices[0] ?? 1);
  }, [replicaChoices, values.replicas, setValue]);

  if (!canMutate(me, scope.domain, scope.project)) {
    return (
      <Page title="Create a database">
        <p>Your role in this project is read-only: you cannot create databases here.</p>
      </Page>
    );
  }

  return (
    <Page title="Create a database" context={<Link to={scopePath(scope)}>Databases of {scope.domain} / {scope.project}</Link>}>
      <form onSubmit={(e) => void form.handleSubmit((v) => create.mutate(v))(e)} noValidate>
        <fieldset>
          <legend>Engine</legend>
          <div className="choices">
            {ENGINES.map((e: Engine) => (
              <label key={e} className="choice">
                <input type="radio" value={e} {...register("engine")} />
                {ENGINE_LABEL[e]}
              </label>
            ))}
          </div>
        </fieldset>
        <fieldset>
          <legend>Name and version</legend>
          <div className="form-grid">
            <Field label="Name" error={fieldError("name")} hint="3–40 characters: lowercase letters, digits, hyphens.">
              {(p) => <input {...p} autoComplete="off" {...register("name")} />}
            </Field>
            <Field
              label="Version"
              error={fieldError("version") ?? (versions.isError ? "The versions could not be loaded." : undefined)}
              hint={versions.data?.length === 0 ? `No provider offers ${ENGINE_LABEL[engine]} right now.` : "Deprecated versions are not offered."}
            >
              {(p) => (
                <select {...p} {...register("version")}>
                  {versions.data?.map((v) => (
                    <option key={v.version} value={v.version}>
                      {v.version}
                    </option>
                  ))}
                </select>
              )}
            </Field>
          </div>
        </fieldset>
        <fieldset>
          <legend>Size and storage</legend>
          <div className="form-grid">
            <Field label="Instance size" error={fieldError("size")}>
              {(p) => (
                <select {...p} {...register("size")}>
                  {SIZES.map((s) => (
                    <option key={s} value={s}>
                      {s} ({SIZE_SHAPE[s].cpu} CPU, {SIZE_SHAPE[s].memoryGb} GB memory)
                    </option>
                  ))}
                </select>
              )}
            </Field>
            <Field label="Storage (GB)" error={fieldError("storage_gb")} hint="10–10,000 GB per replica; it can grow later, never shrink.">
              {(p) => <input {...p} type="number" min={10} max={10000} {...register("storage_gb", { valueAsNumber: true })} />}
            </Field>
          </div>
        </fieldset>
        <fieldset>
          <legend>Topology</legend>
          <label className="check">
            <input type="checkbox" {...register("high_availability")} />
            High availability: {HA_TOPOLOGY[engine]}
          </label>
          <div className="form-grid">
          <Field label="Replicas" error={fieldError("replicas")} hint={REPLICA_RULE}>
            {(p) => (
              <select {...p} {...register("replicas", { valueAsNumber: true })}>
                {replicaChoices.map((n) => (
                  <option key={n} value={n}>
                    {n}
                  </option>
                ))}
              </select>
            )}
          </Field>
          </div>
        </fieldset>
        <fieldset>
          <legend>Backups and protection</legend>
          <label className="check">
            <input type="checkbox" {...register("backup_enabled")} />
            Scheduled backups
          </label>
          {values.backup_enabled ? (
            <div className="form-grid">
              <Field label="Backup schedule" error={fieldError("backup_schedule")}>
                {(p) => (
                  <select {...p} {...register("backup_schedule")}>
                    <option value="hourly">Hourly</option>
                    <option value="daily">Daily</option>
                    <option value="weekly">Weekly</option>
                  </select>
                )}
              </Field>
              <Field label="Keep backups for (days)" error={fieldError("backup_retention_days")}>
                {(p) => <input {...p} type="number" min={1} max={365} {...register("backup_retention_days", { valueAsNumber: true })} />}
              </Field>
            </div>
          ) : null}
          <label className="check">
            <input type="checkbox" {...register("deletion_protection")} />
            Deletion protection (the database cannot be deleted until this is turned off)
          </label>
        </fieldset>

        <section className="panel" aria-labelledby="plan-title">
          <h2 id="plan-title">Before you create it</h2>
          {!valid ? <p className="muted">Complete the form to see the plan.</p> : null}
          {valid && plan.isFetching ? <p className="muted" role="status">Checking the plan…</p> : null}
          {valid && plan.error ? <ErrorNotice error={plan.error} title="The server would refuse this" /> : null}
          {valid && plan.data ? (
            <>
              <PlanView plan={plan.data} />
              {quota.data ? <QuotaCheck quota={quota.data} delta={plan.data.quota_delta} /> : null}
            </>
          ) : null}
        </section>

        <ErrorNotice error={create.error} title="The database was not created" />
        <div className="page-actions">
          <Button type="submit" variant="primary" busy={create.isPending}>
            Create database
          </Button>
          <Link className="btn" to={scopePath(scope)}>
            Cancel
          </Link>
        </div>
      </form>
    </Page>
  );
}
