import { useState } from "react";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useForm } from "react-hook-form";
import { zodResolver } from "@hookform/resolvers/zod";
import { z } from "zod";
import { Link, useSearchParams } from "react-router";
import { api } from "../../../api/client";
import { unwrap } from "../../../api/errors";
import { Button } from "../../../components/Button";
import { ErrorNotice } from "../../../components/ErrorNotice";
import { Field } from "../../../components/Field";
import { Loading } from "../../../components/Loading";
import { Page } from "../../../components/Page";
import { when } from "../common/format";
import type { AuditEntry } from "../types";
import { AuditEntryDialog } from "./AuditEntryDialog";
import { Pager } from "../../../components/Pager";
import {
  activeFilterCount,
  AUDIT_PAGE_SIZE,
  filterProblems,
  filtersFromParams,
  KNOWN_ACTIONS,
  NO_FILTERS,
  paramsFromFilters,
  RESOURCE_TYPES,
  toAuditQuery,
  type AuditFilters,
} from "./auditFilters";

const filterSchema = z
  .object({
    action: z.string(),
    resource_type: z.string(),
    resource_id: z.string(),
    domain: z.string(),
    project: z.string(),
    user_id: z.string(),
    status: z.string(),
    since: z.string(),
    until: z.string(),
  })
  .superRefine((v, ctx) => {
    for (const [path, message] of Object.entries(filterProblems(v))) ctx.addIssue({ code: "custom", path: [path], message });
  });

function FilterForm({ filters, onApply }: { filters: AuditFilters; onApply: (f: AuditFilters) => void }) {
  const form = useForm<AuditFilters>({ resolver: zodResolver(filterSchema), values: filters });
  const e = form.formState.errors;
  const text = (name: keyof AuditFilters, label: string, extra: Record<string, string> = {}) => (
    <Field label={label} error={e[name]?.message}>
      {(p) => <input {...p} {...form.register(name)} autoComplete="off" {...extra} />}
    </Field>
  );
  return (
    <form role="search" aria-label="Filter the audit log" className="panel" onSubmit={(ev) => void form.handleSubmit(onApply)(ev)} noValidate>
      <div className="form-grid">
        {text("action", "Action", { list: "audit-actions" })}
        <datalist id="audit-actions">
          {KNOWN_ACTIONS.map((a) => (
            <option key={a} value={a} />
          ))}
        </datalist>
        <Field label="Outcome" error={e.status?.message}>
          {(p) => (
            <select {...p} {...form.register("status")}>
              <option value="">Any outcome</option>
              <option value="success">Success</option>
              <option value="failure">Failure</option>
            </select>
          )}
        </Field>
        <Field label="Resource type" error={e.resource_type?.message}>
          {(p) => (
            <select {...p} {...form.register("resource_type")}>
              <option value="">Any resource</option>
              {RESOURCE_TYPES.map((r) => (
                <option key={r} value={r}>
                  {r}
                </option>
              ))}
            </select>
          )}
        </Field>
        {text("resource_id", "Resource id")}
        {text("user_id", "User id")}
        {text("domain", "Domain")}
        {text("project", "Project")}
        <Field label="From" error={e.since?.message}>
          {(p) => <input {...p} {...form.register("since")} type="datetime-local" />}
        </Field>
        <Field label="Until" error={e.until?.message}>
          {(p) => <input {...p} {...form.register("until")} type="datetime-local" />}
        </Field>
      </div>
      <div className="page-actions">
        <Button type="submit" variant="primary">
          Apply filters
        </Button>
        <Button onClick={() => onApply(NO_FILTERS)}>Clear filters</Button>
      </div>
    </form>
  );
}

function EntryRow({ entry, onOpen }: { entry: AuditEntry; onOpen: () => void }) {
  return (
    <tr>
      <td>
        <time dateTime={entry.timestamp}>{when(entry.timestamp)}</time>
      </td>
      <td>
        <code>{entry.action}</code>
      </td>
      <td>
        <span className={`badge badge-${entry.status === "success" ? "ok" : "bad"}`}>{entry.status === "success" ? "Success" : "Failure"}</span>
        {entry.status_code ? <span className="muted"> {entry.status_code}</span> : null}
      </td>
      <td>{entry.user_email ?? entry.user_id ?? <span className="muted">anonymous</span>}</td>
      <td>
        {entry.resource_type}
        {entry.resource_id ? <div className="field-hint mono">{entry.resource_id}</div> : null}
      </td>
      <td>{[entry.domain, entry.project].filter(Boolean).join(" / ") || <span className="muted">–</span>}</td>
      <td>
        <Button variant="link" onClick={onOpen}>
          Details<span className="visually-hidden"> of {entry.action} at {when(entry.timestamp)}</span>
        </Button>
      </td>
    </tr>
  );
}

export default function AuditPage() {
  const [params, setParams] = useSearchParams();
  const { filters, page } = filtersFromParams(params);
  const [open, setOpen] = useState<AuditEntry | null>(null);
  const query = toAuditQuery(filters, page);
  const list = useQuery({
    queryKey: ["admin", "audit", query],
    queryFn: () => unwrap(api.GET("/api/v1/audit-logs", { params: { query } })),
    placeholderData: keepPreviousData,
  });
  const total = list.data?.total ?? 0;
  const pages = Math.max(1, Math.ceil(total / AUDIT_PAGE_SIZE));
  const n = activeFilterCount(filters);
  const go = (f: AuditFilters, p: number) => setParams(paramsFromFilters(f, p));
  return (
    <Page title="Audit log" context={<Link to="/admin">Administration</Link>}>
      <FilterForm filters={filters} onApply={(f) => go(f, 1)} />
      <ErrorNotice error={list.error} title="The audit log could not be read" />
      {list.isPending ? <Loading what="the audit log" /> : null}
      {list.data ? (
        list.data.audit_logs.length === 0 ? (
          <p className="panel">{n > 0 ? "No entry matches these filters." : "No entries yet."}</p>
        ) : (
          <>
            <table aria-label="Audit log entries">
              <caption>
                {total} entr{total === 1 ? "y" : "ies"}
                {n > 0 ? ` matching ${n} filter${n === 1 ? "" : "s"}` : ""}, newest first
                {pages > 1 ? `, page ${page} of ${pages}` : ""}
              </caption>
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  <th scope="col">Action</th>
                  <th scope="col">Outcome</th>
                  <th scope="col">User</th>
                  <th scope="col">Resource</th>
                  <th scope="col">Domain / project</th>
                  <th scope="col">
                    <span className="visually-hidden">Details</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {list.data.audit_logs.map((e) => (
                  <EntryRow key={e.id} entry={e} onOpen={() => setOpen(e)} />
                ))}
              </tbody>
            </table>
            <Pager page={page} pages={pages} onPage={(p) => go(filters, p)} />
          </>
        )
      ) : null}
      <AuditEntryDialog entry={open} onClose={() => setOpen(null)} />
    </Page>
  );
}
