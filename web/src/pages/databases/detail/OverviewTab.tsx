import { useQuery } from "@tanstack/react-query";
import { api } from "../../../api/client";
import { unwrap } from "../../../api/errors";
import type { Database } from "../../../api/types";
import { useScope } from "../../../app/scope";
import { StatusBadge } from "../../../components/StatusBadge";
import { conditionSentences } from "./conditions";

export function OverviewTab({ db }: { db: Database }) {
  const scope = useScope();
  const status = useQuery({
    queryKey: ["database", db.id, "status"],
    queryFn: () =>
      unwrap(api.GET("/api/v1/domain/{domain}/project/{project}/databases/{id}/status", { params: { path: { ...scope, id: db.id } } })),
  });
  const conditions = conditionSentences(status.data?.conditions);
  return (
    <div className="panel">
      <h2>Overview</h2>
      <dl className="facts">
        <dt>Status</dt>
        <dd>
          <StatusBadge status={db.status} /> {db.health_status ? <span className="muted">health: {db.health_status}</span> : null}
        </dd>
        <dt>Endpoint</dt>
        <dd>{db.endpoint ? <code>{`${db.endpoint}:${db.port ?? ""}`}</code> : "Not assigned yet"}</dd>
        <dt>Replicas</dt>
        <dd>
          {db.ready_replicas} of {db.replicas} ready{db.high_availability ? ", highly available" : ""}
        </dd>
        <dt>Size</dt>
        <dd>
          {db.size}, {db.storage_gb} GB storage
        </dd>
        <dt>Backups</dt>
        <dd>{db.backup_enabled ? `${db.backup_schedule}, kept ${db.backup_retention_days} days` : "Off"}</dd>
        <dt>Deletion protection</dt>
        <dd>{db.deletion_protection ? "On" : "Off"}</dd>
        <dt>Created</dt>
        <dd>
          <time dateTime={db.created_at}>{new Date(db.created_at).toLocaleString()}</time>
        </dd>
        <dt>Conditions</dt>
        <dd>
          {status.data?.kubedb_phase ? <div>KubeDB phase: {status.data.kubedb_phase}</div> : null}
          {conditions.length > 0 ? (
            <ul>
              {conditions.map((c) => (
                <li key={c}>{c}</li>
              ))}
            </ul>
          ) : (
            <span className="muted">None reported yet</span>
          )}
        </dd>
      </dl>
    </div>
  );
}
