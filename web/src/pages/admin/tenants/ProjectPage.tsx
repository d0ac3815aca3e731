import { useState } from "react";
import { useForm } from "react-hook-form";
import { zodResolver } from "@hookform/resolvers/zod";
import { Link, useNavigate, useParams } from "react-router";
import { scopePath } from "../../../app/scope";
import { Button } from "../../../components/Button";
import { ConfirmDialog } from "../../../components/ConfirmDialog";
import { ErrorNotice } from "../../../components/ErrorNotice";
import { Field } from "../../../components/Field";
import { Loading } from "../../../components/Loading";
import { Page } from "../../../components/Page";
import { applyFieldErrors } from "../common/formErrors";
import { parseJsonObject, showJson } from "../common/jsonObject";
import { QuotaPanel } from "../common/QuotaPanel";
import { SaveDetails } from "../common/SaveDetails";
import type { Project, ProjectUpdate } from "../types";
import { DeleteProjectButton } from "./DeleteProjectButton";
import { MembersPanel } from "./MembersPanel";
import { useProject, useUpdateProject } from "./queries";
import { projectDetailsSchema, type ProjectDetailsValues } from "./tenantForm";

function DetailsForm({ project }: { project: Project }) {
  const update = useUpdateProject(project.domain, project.name);
  const [saved, setSaved] = useState(false);
  const form = useForm<ProjectDetailsValues>({
    resolver: zodResolver(projectDetailsSchema),
    values: { display_name: project.display_name, description: project.description ?? "", metadata: showJson(project.metadata) },
  });
  const e = form.formState.errors;
  const submit = form.handleSubmit(async (v) => {
    setSaved(false);
    const body: ProjectUpdate = { metadata: parseJsonObject(v.metadata), description: v.description.trim() };
    if (v.display_name.trim()) body.display_name = v.display_name.trim();
    try {
      await update.mutateAsync(body);
      setSaved(true);
    } catch (err) {
      applyFieldErrors(err, form.setError, ["display_name", "description", "metadata"]);
    }
  });
  return (
    <form className="panel" onSubmit={(ev) => void submit(ev)} noValidate aria-labelledby="project-details">
      <h2 id="project-details">Details</h2>
      <div className="form-grid">
        <Field label="Display name" error={e.display_name?.message}>
          {(p) => <input {...p} {...form.register("display_name")} autoComplete="off" />}
        </Field>
        <Field label="Description" error={e.description?.message}>
          {(p) => <input {...p} {...form.register("description")} autoComplete="off" />}
        </Field>
      </div>
      <Field label="Metadata (JSON object)" error={e.metadata?.message}>
        {(p) => <textarea {...p} {...form.register("metadata")} rows={3} className="mono" spellCheck={false} />}
      </Field>
      <SaveDetails error={update.error} saved={saved} busy={form.formState.isSubmitting} />
    </form>
  );
}

function SuspendButton({ project }: { project: Project }) {
  const [open, setOpen] = useState(false);
  const update = useUpdateProject(project.domain, project.name);
  return (
    <>
      <Button onClick={() => setOpen(true)}>{project.is_active ? "Suspend project" : "Reactivate project"}</Button>
      <ConfirmDialog
        open={open}
        onOpenChange={setOpen}
        title={project.is_active ? `Suspend ${project.name}` : `Reactivate ${project.name}`}
        confirmLabel={project.is_active ? "Suspend" : "Reactivate"}
        danger={project.is_active}
        onConfirm={() => update.mutateAsync({ is_active: !project.is_active })}
      >
        {project.is_active ? (
          <p>
            Every change in {project.name} will be refused and its members' API keys stop working in it; its admins can still
            read it. Databases keep running.
          </p>
        ) : (
          <p>Members of {project.name} can work in it again.</p>
        )}
      </ConfirmDialog>
    </>
  );
}

export default function ProjectPage() {
  const { domain = "", project = "" } = useParams();
  const navigate = useNavigate();
  const q = useProject(domain, project);
  const update = useUpdateProject(domain, project);
  const p = q.data;
  const tenantPath = `/admin/tenants/${encodeURIComponent(domain)}`;
  return (
    <Page
      title={`Project ${project}`}
      context={
        <>
          <Link to="/admin">Administration</Link> / <Link to="/admin/tenants">Tenants</Link> / <Link to={tenantPath}>{domain}</Link> / {project}
        </>
      }
      actions={
        <Link className="btn btn-secondary" to={scopePath({ domain, project })}>
          Its databases
        </Link>
      }
    >
      <ErrorNotice error={q.error} title="The project could not be read" />
      {q.isPending ? <Loading what="the project" /> : null}
      {p ? (
        <>
          {!p.is_active ? <p className="notice notice-warn">This project is suspended: changes in it are refused.</p> : null}
          <DetailsForm project={p} />
          <QuotaPanel scope={{ domain, project }} limits={p.quota} editable save={(quota) => update.mutateAsync({ quota })} />
          <MembersPanel scope={{ domain, project }} />
          <section className="panel" aria-labelledby="project-lifecycle">
            <h2 id="project-lifecycle">Suspend or delete</h2>
            <div className="page-actions">
              <SuspendButton project={p} />
              <DeleteProjectButton domain={domain} project={project} onDeleted={() => void navigate(tenantPath)} />
            </div>
          </section>
        </>
      ) : null}
    </Page>
  );
}
