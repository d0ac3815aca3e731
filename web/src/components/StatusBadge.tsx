import { statusLabel } from "./words";

/** The tone each status gets; unknown statuses are idle. */
const TONE: Record<string, "ok" | "busy" | "idle" | "bad"> = {
  running: "ok",
  completed: "ok",
  healthy: "ok",
  pending: "busy",
  queued: "busy",
  provisioning: "busy",
  updating: "busy",
  scaling: "busy",
  pausing: "busy",
  resuming: "busy",
  restoring: "busy",
  deleting: "busy",
  in_progress: "busy",
  paused: "idle",
  deleted: "idle",
  cancelled: "idle",
  unknown: "idle",
  failed: "bad",
  timeout: "bad",
  unhealthy: "bad",
  degraded: "bad",
};

export function StatusBadge({ status }: { status: string }) {
  const tone = TONE[status] ?? "idle";
  return (
    <span className={`badge badge-${tone}`} data-status={status}>
      {statusLabel(status)}
    </span>
  );
}
