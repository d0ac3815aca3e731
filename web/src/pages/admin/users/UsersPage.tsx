import { useState } from "react";
import { useForm, useWatch } from "react-hook-form";
import { zodResolver } from "@hookform/resolvers/zod";
import { Link } from "react-router";
import { isPlatformAdmin, ROLE_LABEL } from "../../../auth/roles";
import { useMe } from "../../../auth/session";
import { useTenants } from "../../../app/scope";
import { Button } from "../../../components/Button";
import { ConfirmDialog } from "../../../components/ConfirmDialog";
import { ErrorNotice } from "../../../components/ErrorNotice";
import { Field } from "../../../components/Field";
import { Loading } from "../../../components/Loading";
import { Page } from "../../../components/Page";
import { applyFieldErrors } from "../common/formErrors";
import { when } from "../common/format";
import type { User } from "../types";
import { useCreateUser, useSetUserActive, useUsers, USERS_PAGE_SIZE } from "./queries";
import { BINDING_ROLES, toUserCreate, USER_DEFAULTS, userCreateSchema, type UserCreateValues } from "./userForm";
import { Pager } from "../../../components/Pager";

function CreateUserForm({ onDone }: { onDone: (email: string) => void }) {
  const create = useCreateUser();
  const tenants = useTenants();
  const form = useForm<UserCreateValues>({ resolver: zodResolver(userCreateSchema), defaultValues: USER_DEFAULTS });
  const role = useWatch({ control: form.control, name: "role" });
  const e = form.formState.errors;
  const submit = form.handleSubmit(async (v) => {
    try {
      const u = await create.mutateAsync(toUserCreate(v));
      onDone(u.email);
    } catch (err) {
      applyFieldErrors(err, form.setError, ["email", "full_name", "password", "role", "domain", "project"], { bindings: "role" });
    }
  });
  return (
    <form className="panel" onSubmit={(ev) => void submit(ev)} noValidate aria-labelledby="create-user-title">
      <h2 id="create-user-title">Create a user</h2>
      <div className="form-grid">
        <Field label="E-mail" error={e.email?.message}>
          {(p) => <input {...p} {...form.register("email")} type="email" autoComplete="off" />}
        </Field>
        <Field label="Full name" error={e.full_name?.message}>
          {(p) => <input {...p} {...form.register("full_name")} autoComplete="off" />}
        </Field>
        <Field label="Initial password" error={e.password?.message} hint="At least 12 characters; tell the user to change it">
          {(p) => <input {...p} {...form.register("password")} type="password" autoComplete="new-password" />}
        </Field>
      </div>
      <div className="check">
        <input id="user-platform-admin" type="checkbox" {...form.register("platform_admin")} />
        <label htmlFor="user-platform-admin">Platform admin (everything, everywhere)</label>
      </div>
      <div className="form-grid">
        <Field label="Role in a tenant" error={e.role?.message} hint="Granted at once: the account is new">
          {(p) => (
            <select {...p} {...form.register("role")}>
              {BINDING_ROLES.map((r) => (
                <option key={r} value={r}>
                  {r === "none" ? "No role" : ROLE_LABEL[r]}
                </option>
              ))}
            </select>
          )}
        </Field>
        {role !== "none" ? (
          <Field label="Tenant" error={e.domain?.message}>
            {(p) => (
              <select {...p} {...form.register("domain")}>
                <option value="">Choose…</option>
                {tenants.data?.tenants.map((t) => (
                  <option key={t.name} value={t.name}>
                    {t.name}
                  </option>
                ))}
              </select>
            )}
          </Field>
        ) : null}
        {role === "project_admin" || role === "developer" ? (
          <Field label="Project" error={e.project?.message}>
            {(p) => <input {...p} {...form.register("project")} autoComplete="off" />}
          </Field>
        ) : null}
      </div>
      <ErrorNotice error={create.error} title="Not created" />
      <div className="page-actions">
        <Button type="submit" variant="primary" busy={form.formState.isSubmitting}>
          Create user
        </Button>
        <Button onClick={() => onDone("")}>Cancel</Button>
      </div>
    </form>
  );
}

function bindingWords(u: User): string {
  if (u.bindings.length === 0) return "none";
  return u.bindings
    .map((b) => `${ROLE_LABEL[b.role]}${b.domain ? ` of ${b.domain}${b.project ? `/${b.project}` : ""}` : ""}`)
    .join("; ");
}

function ActiveToggle({ user, self }: { user: User; self: boolean }) {
  const [open, setOpen] = useState(false);
  const set = useSetUserActive();
  if (self) return <span className="muted">you</span>;
  return (
    <>
      <Button variant={user.is_active ? "danger" : "secondary"} onClick={() => setOpen(true)}>
        {user.is_active ? "Deactivate" : "Activate"}
        <span className="visually-hidden"> {user.email}</span>
      </Button>
      <ConfirmDialog
        open={open}
        onOpenChange={setOpen}
        title={user.is_active ? `Deactivate ${user.email}` : `Activate ${user.email}`}
        confirmLabel={user.is_active ? "Deactivate" : "Activate"}
        danger={user.is_active}
        onConfirm={() => set.mutateAsync({ id: user.id, active: !user.is_active })}
      >
        {user.is_active ? (
          <p>
            {user.email} can no longer sign in; their sessions, refresh tokens and API keys stop working at once. The account
            and its audit trail are kept.
          </p>
        ) : (
          <p>{user.email} can sign in again. Their old API keys stay revoked.</p>
        )}
      </ConfirmDialog>
    </>
  );
}

export default function UsersPage() {
  const me = useMe();
  const [page, setPage] = useState(1);
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState("");
  const users = useUsers(page);
  const total = users.data?.total ?? 0;
  const pages = Math.max(1, Math.ceil(total / USERS_PAGE_SIZE));
  if (!isPlatformAdmin(me)) {
    return (
      <Page title="Users" context={<Link to="/admin">Administration</Link>}>
        <p>Users are managed by platform admins. Manage your tenant's members on its page.</p>
      </Page>
    );
  }
  return (
    <Page
      title="Users"
      context={<Link to="/admin">Administration</Link>}
      actions={
        !creating ? (
          <Button variant="primary" onClick={() => (setCreating(true), setCreated(""))}>
            Create user
          </Button>
        ) : null
      }
    >
      {creating ? <CreateUserForm onDone={(email) => (setCreating(false), setCreated(email))} /> : null}
      {created ? (
        <p className="notice notice-info" role="status">
          The user {created} was created.
        </p>
      ) : null}
      <ErrorNotice error={users.error} title="The users could not be listed" />
      {users.isPending ? <Loading what="users" /> : null}
      {users.data ? (
        <>
          <table aria-label="Users">
            <caption>
              {total} user{total === 1 ? "" : "s"}
              {pages > 1 ? `, page ${page} of ${pages}` : ""}
            </caption>
            <thead>
              <tr>
                <th scope="col">E-mail</th>
                <th scope="col">Name</th>
                <th scope="col">Roles</th>
                <th scope="col">State</th>
                <th scope="col">Last sign-in</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {users.data.users.map((u) => (
                <tr key={u.id}>
                  <td>{u.email}</td>
                  <td>{u.full_name}</td>
                  <td>{bindingWords(u)}</td>
                  <td>
                    <span className={`badge badge-${u.is_active ? "ok" : "idle"}`}>{u.is_active ? "Active" : "Deactivated"}</span>
                  </td>
                  <td>{when(u.last_login_at)}</td>
                  <td>
                    <ActiveToggle user={u} self={u.id === me.id} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager page={page} pages={pages} onPage={setPage} />
        </>
      ) : null}
    </Page>
  );
}
