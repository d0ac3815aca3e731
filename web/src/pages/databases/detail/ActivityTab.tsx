import { useQuery } from "@tanstack/react-query";
import { api } from "../../../api/client";
import { unwrap } from "../../../api/errors";
import type { Database } from "../../../api/types";
import { useScope } from "../../../app/scope";
import { ErrorNotice } from "../../../components/ErrorNotice";
import { Loading } from "../../../components/Loading";
import { operationWords } from "../../../components/words";
import { StatusBadge } from "../../../components/StatusBadge";

export default function ActivityTab({ db }: { db: Database }) {
  const scope = useScope();
  const ops = useQuery({
    queryKey: ["operations", db.id],
    queryFn: () => unwrap(api.GET("/api/v1/operations", { params: { query: { database_id: db.id, page_size: 10 } } })),
  });
  const timeline = useQuery({
    queryKey: ["timeline", db.id],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/domain/{domain}/project/{project}/databases/{id}/events", {
          params: { path: { ...scope, id: db.id }, query: { page_size: 50 } },
        }),
      ),
  });
  return (
    <>
      <section className="panel" aria-labelledby="ops-title">
        <h2 id="ops-title">Operations</h2>
        <ErrorNotice error={ops.error} />
        {ops.isPending ? <Loading what="operations" /> : null}
        {ops.data ? (
          <table aria-label="Operations">
            <thead>
              <tr>
                <th scope="col">Operation</th>
                <th scope="col">Status</th>
                <th scope="col">Progress</th>
                <th scope="col">Queued</th>
                <th scope="col">Message</th>
              </tr>
            </thead>
            <tbody>
              {ops.data.operations.map((o) => (
                <tr key={o.id}>
                  <td>{operationWords(o.type)}</td>
                  <td>
                    <StatusBadge status={o.status} />
                  </td>
                  <td>{o.progress}%</td>
                  <td>{new Date(o.created_at).toLocaleString()}</td>
                  <td>{o.error_message ?? o.message ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : null}
      </section>
      <section className="panel" aria-labelledby="timeline-title">
        <h2 id="timeline-title">Events</h2>
        <ErrorNotice error={timeline.error} />
        {timeline.isPending ? <Loading what="events" /> : null}
        {timeline.data?.kubernetes_events_unavailable ? (
          <p className="notice notice-warn">Kubernetes events are missing: {timeline.data.kubernetes_events_unavailable}</p>
        ) : null}
        {timeline.data ? (
          <ol className="timeline" aria-label="Events, newest first">
            {timeline.data.events.map((e, i) => (
              <li key={`${e.at}-${i}`}>
                <time dateTime={e.at}>
                  {new Date(e.at).toLocaleString()} · {e.kind}
                </time>
                {e.message}
              </li>
            ))}
          </ol>
        ) : null}
      </section>
    </>
  );
}
