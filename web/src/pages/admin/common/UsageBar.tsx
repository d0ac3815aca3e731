import { fmt } from "./format";
import { usage, type Usage } from "./usage";

interface Props {
  label: string;
  used: number;
  limit: number;
  unit?: string;
  /** A second line under the numbers (e.g. the total before reservation). */
  note?: string;
  /** Precomputed usage, when the limit is derived (provider capacity). */
  value?: Usage;
  /** The bar's accessible name when the visible label needs context (e.g. "CPU of east-1"). */
  name?: string;
}

const LEVEL_WORD = { ok: "", high: " (nearly full)", full: " (full)" } as const;

/** A labelled bar: "2.5 of 8 cores, 31%", readable without the colour. */
export function UsageBar({ label, used, limit, unit = "", note, value, name }: Props) {
  const u = value ?? usage(used, limit);
  const text = `${fmt(u.used)} of ${fmt(u.limit)}${unit}, ${u.rawPercent}%${LEVEL_WORD[u.level]}`;
  return (
    <div className={`usage usage-${u.level}`}>
      <div className="meter-label">
        <span>{label}</span>
        <span>{text}</span>
      </div>
      <meter
        min={0}
        max={u.limit || 1}
        value={Math.min(u.used, u.limit || 1)}
        low={(u.limit || 1) * 0.8}
        high={(u.limit || 1) * 0.95}
        optimum={0}
        aria-label={`${name ?? label}: ${text}`}
        style={{ width: "100%" }}
      />
      {note ? <div className="field-hint">{note}</div> : null}
    </div>
  );
}
