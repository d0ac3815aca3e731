import { useOperation } from "../pages/databases/queries";
import { StatusBadge } from "./StatusBadge";
import { operationWords } from "./words";

/** One operation's progress, kept current by the event stream. */
export function OperationProgress({ id }: { id: string }) {
  const op = useOperation(id);
  if (!op.data) return null;
  const o = op.data;
  const done = o.status !== "queued" && o.status !== "in_progress";
  return (
    <div className="op" aria-live="polite">
      <div>
        <strong>{operationWords(o.type)}</strong> <StatusBadge status={o.status} />
      </div>
      {!done ? <progress max={100} value={o.progress} aria-label={`Progress of ${operationWords(o.type)}: ${o.progress}%`} /> : null}
      {o.message ? <span className="muted">{o.message}</span> : null}
      {o.error_message ? <span className="field-error">{o.error_message}</span> : null}
    </div>
  );
}
