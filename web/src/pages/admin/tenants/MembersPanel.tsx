import { useState } from "react";
import { useForm } from "react-hook-form";
import { zodResolver } from "@hookform/resolvers/zod";
import { z } from "zod";
import { ROLE_LABEL } from "../../../auth/roles";
import { Button } from "../../../components/Button";
import { ConfirmDialog } from "../../../components/ConfirmDialog";
import { ErrorNotice } from "../../../components/ErrorNotice";
import { Field } from "../../../components/Field";
import { Loading } from "../../../components/Loading";
import { statusLabel } from "../../../components/words";
import { CopyButton } from "../common/CopyButton";
import { applyFieldErrors } from "../common/formErrors";
import { when } from "../common/format";
import type { DomainMemberAdd, Invitation, Member, ProjectMemberAdd } from "../types";
import { useInvitations, useInviteMember, useMembers, useRemoveMember, useRevokeInvitation, type AdminScope } from "./queries";

const DOMAIN_ROLES: readonly DomainMemberAdd["role"][] = ["domain_admin"];
const PROJECT_ROLES: readonly ProjectMemberAdd["role"][] = ["project_admin", "developer"];

const inviteSchema = z.object({
  email: z.string().trim().min(1, "Enter an e-mail address").max(254, "At most 254 characters").email("Enter an e-mail address"),
  role: z.string().min(1, "Choose a role"),
});
type InviteValues = z.infer<typeof inviteSchema>;

function InviteForm({ scope, onInvited }: { scope: AdminScope; onInvited: (i: Invitation) => void }) {
  const roles = scope.project ? PROJECT_ROLES : DOMAIN_ROLES;
  const invite = useInviteMember(scope);
  const form = useForm<InviteValues>({ resolver: zodResolver(inviteSchema), defaultValues: { email: "", role: roles[0] ?? "" } });
  const e = form.formState.errors;
  const submit = form.handleSubmit(async (v) => {
    try {
      onInvited(await invite.mutateAsync(v));
      form.reset({ email: "", role: v.role });
    } catch (err) {
      applyFieldErrors(err, form.setError, ["email", "role"]);
    }
  });
  return (
    <form onSubmit={(ev) => void submit(ev)} noValidate aria-label="Invite a member" className="filters">
      <Field label="E-mail" error={e.email?.message}>
        {(p) => <input {...p} {...form.register("email")} type="email" autoComplete="off" />}
      </Field>
      <Field label="Role" error={e.role?.message}>
        {(p) => (
          <select {...p} {...form.register("role")}>
            {roles.map((r) => (
              <option key={r} value={r}>
                {ROLE_LABEL[r]}
              </option>
            ))}
          </select>
        )}
      </Field>
      <div className="field">
        <Button type="submit" variant="primary" busy={form.formState.isSubmitting}>
          Invite
        </Button>
      </div>
      <div style={{ flexBasis: "100%" }}>
        <ErrorNotice error={invite.error} title="Not invited" />
      </div>
    </form>
  );
}

function InvitedNotice({ inv }: { inv: Invitation }) {
  return (
    <div className="notice notice-info" role="status">
      <p>
        {inv.email} is invited as {ROLE_LABEL[inv.role]}. The role is granted once they accept, signed in with that address,
        using this one-time code. Send it to them; it is not shown again.
      </p>
      {inv.code ? (
        <div className="secret">
          <input className="mono" aria-label="Invitation code" readOnly value={inv.code} size={Math.max(20, inv.code.length)} onFocus={(e) => e.currentTarget.select()} />
          <CopyButton text={inv.code} label="Copy invitation code" />
        </div>
      ) : null}
    </div>
  );
}

function MemberRow({ m, scope }: { m: Member; scope: AdminScope }) {
  const [open, setOpen] = useState(false);
  const remove = useRemoveMember(scope);
  const where = scope.project ? `the project ${scope.project}` : `the tenant ${scope.domain}`;
  return (
    <tr>
      <td>{m.email}</td>
      <td>{m.full_name}</td>
      <td>
        {ROLE_LABEL[m.role]}
        {m.project && !scope.project ? <span className="muted"> in {m.project}</span> : null}
      </td>
      <td>
        <Button variant="danger" onClick={() => setOpen(true)}>
          Remove<span className="visually-hidden"> {m.email}</span>
        </Button>
        <ConfirmDialog
          open={open}
          onOpenChange={setOpen}
          title={`Remove ${m.email}`}
          confirmLabel="Remove member"
          danger
          onConfirm={() => remove.mutateAsync(m.user_id)}
        >
          <p>
            {m.email} loses the {ROLE_LABEL[m.role]} role in {where} at once: their sessions and API keys can no longer reach
            it. Their account and anything they created stay.
          </p>
        </ConfirmDialog>
      </td>
    </tr>
  );
}

const INVITATION_TONE: Partial<Record<Invitation["status"], "ok" | "busy" | "idle">> = { pending: "busy", accepted: "ok" };

function InvitationRow({ inv, domain }: { inv: Invitation; domain: string }) {
  const [open, setOpen] = useState(false);
  const revoke = useRevokeInvitation(domain);
  return (
    <tr>
      <td>{inv.email}</td>
      <td>
        {ROLE_LABEL[inv.role]}
        {inv.project ? <span className="muted"> in {inv.project}</span> : null}
      </td>
      <td>
        <span className={`badge badge-${INVITATION_TONE[inv.status] ?? "idle"}`}>{statusLabel(inv.status)}</span>
      </td>
      <td>{inv.invited_by ?? "–"}</td>
      <td>{when(inv.expires_at)}</td>
      <td>
        {inv.status === "pending" ? (
          <>
            <Button onClick={() => setOpen(true)}>
              Revoke<span className="visually-hidden"> the invitation of {inv.email}</span>
            </Button>
            <ConfirmDialog
              open={open}
              onOpenChange={setOpen}
              title={`Revoke the invitation of ${inv.email}`}
              confirmLabel="Revoke invitation"
              danger
              onConfirm={() => revoke.mutateAsync(inv.id)}
            >
              <p>The code sent to {inv.email} stops working; invite them again to give them a new one.</p>
            </ConfirmDialog>
          </>
        ) : null}
      </td>
    </tr>
  );
}

/** Members of a domain or project: list, invite by e-mail with a role, remove; and invitations. */
export function MembersPanel({ scope }: { scope: AdminScope }) {
  const members = useMembers(scope);
  const invitations = useInvitations(scope);
  const [invited, setInvited] = useState<Invitation | null>(null);
  const id = scope.project ? "members-project" : "members-domain";
  return (
    <section className="panel" aria-labelledby={id}>
      <h2 id={id}>{scope.project ? "Project members" : "Domain members"}</h2>
      <InviteForm scope={scope} onInvited={setInvited} />
      {invited ? <InvitedNotice inv={invited} /> : null}
      <ErrorNotice error={members.error} title="The members could not be listed" />
      {members.isPending ? <Loading what="members" /> : null}
      {members.data ? (
        members.data.members.length === 0 ? (
          <p className="muted">No members yet.</p>
        ) : (
          <table aria-label={scope.project ? "Project members" : "Domain members"}>
            <thead>
              <tr>
                <th scope="col">E-mail</th>
                <th scope="col">Name</th>
                <th scope="col">Role</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {members.data.members.map((m) => (
                <MemberRow key={`${m.user_id}-${m.role}-${m.project ?? ""}`} m={m} scope={scope} />
              ))}
            </tbody>
          </table>
        )
      ) : null}
      <h3>Invitations</h3>
      <ErrorNotice error={invitations.error} title="The invitations could not be listed" />
      {invitations.data ? (
        invitations.data.invitations.length === 0 ? (
          <p className="muted">No invitations.</p>
        ) : (
          <table aria-label={scope.project ? "Project invitations" : "Domain invitations"}>
            <thead>
              <tr>
                <th scope="col">E-mail</th>
                <th scope="col">Role</th>
                <th scope="col">Status</th>
                <th scope="col">Invited by</th>
                <th scope="col">Expires</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {invitations.data.invitations.map((inv) => (
                <InvitationRow key={inv.id} inv={inv} domain={scope.domain} />
              ))}
            </tbody>
          </table>
        )
      ) : null}
    </section>
  );
}
