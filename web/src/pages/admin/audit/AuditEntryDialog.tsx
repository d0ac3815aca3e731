import { Button } from "../../../components/Button";
import { Dialog } from "../../../components/Dialog";
import { when } from "../common/format";
import type { AuditEntry } from "../types";

/** Everything one audit entry recorded. */
export function AuditEntryDialog({ entry, onClose }: { entry: AuditEntry | null; onClose: () => void }) {
  if (!entry) return null;
  const rows: [string, string | null | undefined][] = [
    ["Time", when(entry.timestamp)],
    ["Action", entry.action],
    ["Outcome", entry.status],
    ["HTTP status", entry.status_code === null || entry.status_code === undefined ? null : String(entry.status_code)],
    ["User", entry.user_email ? `${entry.user_email} (${entry.user_id ?? "?"})` : entry.user_id],
    ["Resource", `${entry.resource_type}${entry.resource_id ? ` ${entry.resource_id}` : ""}`],
    ["Domain", entry.domain],
    ["Project", entry.project],
    ["Request", entry.request_method ? `${entry.request_method} ${entry.request_path ?? ""}` : entry.request_path],
    ["IP address", entry.ip_address],
    ["User agent", entry.user_agent],
    ["Entry id", entry.id],
  ];
  const details = entry.details && typeof entry.details === "object" && Object.keys(entry.details).length > 0 ? JSON.stringify(entry.details, null, 2) : null;
  return (
    <Dialog open onOpenChange={(o) => !o && onClose()} title={`Audit entry: ${entry.action}`}>
      <dl className="facts">
        {rows.map(([k, v]) => (
          <div key={k} style={{ display: "contents" }}>
            <dt>{k}</dt>
            <dd>{v ? v : <span className="muted">–</span>}</dd>
          </div>
        ))}
      </dl>
      {details ? (
        <>
          <h3>Details</h3>
          {/* eslint-disable-next-line jsx-a11y/no-noninteractive-tabindex -- a scrolling block must take focus so the keyboard can scroll it (axe: scrollable-region-focusable) */}
          <pre className="conn" tabIndex={0} role="region" aria-label="Entry details as JSON">
            {details}
          </pre>
        </>
      ) : null}
      <div className="dialog-actions">
        <Button variant="primary" onClick={onClose}>
          Close
        </Button>
      </div>
    </Dialog>
  );
}
