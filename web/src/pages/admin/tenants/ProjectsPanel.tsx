import { useState } from "react";
import { useForm } from "react-hook-form";
import { zodResolver } from "@hookform/resolvers/zod";
import { Link } from "react-router";
import { Button } from "../../../components/Button";
import { ErrorNotice } from "../../../components/ErrorNotice";
import { Field } from "../../../components/Field";
import { Loading } from "../../../components/Loading";
import { applyFieldErrors } from "../common/formErrors";
import { fmt } from "../common/format";
import { DeleteProjectButton } from "./DeleteProjectButton";
import { useCreateProject, useProjectList } from "./queries";
import { projectCreateSchema, toProjectCreate, type ProjectCreateValues } from "./tenantForm";

function CreateProjectForm({ domain, onDone }: { domain: string; onDone: () => void }) {
  const create = useCreateProject(domain);
  const form = useForm<ProjectCreateValues>({ resolver: zodResolver(projectCreateSchema), defaultValues: { name: "", display_name: "", description: "" } });
  const e = form.formState.errors;
  const submit = form.handleSubmit(async (v) => {
    try {
      await create.mutateAsync(toProjectCreate(v));
      onDone();
    } catch (err) {
      applyFieldErrors(err, form.setError, ["name", "display_name", "description"]);
    }
  });
  return (
    <form onSubmit={(ev) => void submit(ev)} noValidate aria-label="Create a project">
      <div className="form-grid">
        <Field label="Project name" error={e.name?.message} hint="3–63 lowercase letters, digits, hyphens">
          {(p) => <input {...p} {...form.register("name")} autoComplete="off" />}
        </Field>
        <Field label="Project display name" error={e.display_name?.message} hint="Optional">
          {(p) => <input {...p} {...form.register("display_name")} autoComplete="off" />}
        </Field>
        <Field label="Description" error={e.description?.message} hint="Optional">
          {(p) => <input {...p} {...form.register("description")} autoComplete="off" />}
        </Field>
      </div>
      <p className="field-hint">The project starts with the default project quota, within the tenant's.</p>
      <ErrorNotice error={create.error} title="Not created" />
      <div className="page-actions">
        <Button type="submit" variant="primary" busy={form.formState.isSubmitting}>
          Create project
        </Button>
        <Button onClick={onDone}>Cancel</Button>
      </div>
    </form>
  );
}

/** A tenant's projects: list with their limits, create, delete. */
export function ProjectsPanel({ domain }: { domain: string }) {
  const list = useProjectList(domain);
  const [creating, setCreating] = useState(false);
  return (
    <section className="panel" aria-labelledby="projects-title">
      <h2 id="projects-title">Projects</h2>
      {creating ? <CreateProjectForm domain={domain} onDone={() => setCreating(false)} /> : <Button onClick={() => setCreating(true)}>New project</Button>}
      <ErrorNotice error={list.error} title="The projects could not be listed" />
      {list.isPending ? <Loading what="projects" /> : null}
      {list.data ? (
        list.data.projects.length === 0 ? (
          <p className="muted">No projects.</p>
        ) : (
          <table aria-label="Projects">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Display name</th>
                <th scope="col">Quota</th>
                <th scope="col">State</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {list.data.projects.map((p) => (
                <tr key={p.name}>
                  <td>
                    <Link to={`/admin/tenants/${encodeURIComponent(domain)}/projects/${encodeURIComponent(p.name)}`}>{p.name}</Link>
                  </td>
                  <td>{p.display_name}</td>
                  <td>
                    {p.quota.max_databases} databases, {fmt(p.quota.max_cpu_cores)} CPU, {fmt(p.quota.max_memory_gb)} GB memory,{" "}
                    {fmt(p.quota.max_storage_gb)} GB storage
                  </td>
                  <td>
                    <span className={`badge badge-${p.is_active ? "ok" : "bad"}`}>{p.is_active ? "Active" : "Suspended"}</span>
                  </td>
                  <td>
                    <DeleteProjectButton domain={domain} project={p.name} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )
      ) : null}
    </section>
  );
}
