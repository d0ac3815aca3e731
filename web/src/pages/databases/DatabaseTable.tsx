import { memo, useCallback, useLayoutEffect, useRef, useState, type MouseEvent, type RefObject } from "react";
import { useNavigate } from "react-router";
import { useWindowVirtualizer } from "@tanstack/react-virtual";
import { ENGINE_LABEL, type Database } from "../../api/types";
import { StatusBadge } from "../../components/StatusBadge";

/** A row's height before it is measured: one line of text, the cell padding and the border. */
const ROW_ESTIMATE_PX = 37;
/** Rows rendered beyond each edge of the window, so Tab and small scrolls find rows already there. */
const OVERSCAN = 12;
const COLUMNS = 6;
const estimateSize = () => ROW_ESTIMATE_PX;

/**
 * One row: six cells of plain text, one anchor, one badge. Plain anchors (not one router Link per
 * row) keep rows cheap; the table follows them with the router (`useFollowLink`). Rows re-render
 * only when their database changes (a live status event changes one object in the list).
 */
const DatabaseRow = memo(function DatabaseRow({
  db,
  href,
  rowIndex,
  dataIndex,
  measure,
}: {
  db: Database;
  href: string;
  rowIndex: number;
  dataIndex: number;
  measure: (el: HTMLTableRowElement | null) => void;
}) {
  return (
    <tr ref={measure} data-index={dataIndex} aria-rowindex={rowIndex}>
      <td>
        <a href={href}>{db.name}</a>
      </td>
      <td>{`${ENGINE_LABEL[db.engine]} ${db.version}`}</td>
      <td>
        <StatusBadge status={db.status} />
      </td>
      <td>{`${db.ready_replicas}/${db.replicas}${db.high_availability ? " (HA)" : ""}`}</td>
      <td>{`${db.size}, ${db.storage_gb} GB`}</td>
      <td>{db.endpoint ? <code>{`${db.endpoint}:${db.port ?? ""}`}</code> : <span className="muted">not yet</span>}</td>
    </tr>
  );
});

/** Client-side navigation for a plain left click on an anchor inside the table. */
function useFollowLink() {
  const navigate = useNavigate();
  return (e: MouseEvent<HTMLTableElement>) => {
    const a = (e.target as HTMLElement).closest("a");
    if (!a || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    void navigate(a.getAttribute("href") ?? "/");
  };
}

/** Where the table body starts, in document coordinates; kept current as the content above it moves. */
function useDocumentTop(ref: RefObject<HTMLElement | null>): number {
  const [top, setTop] = useState(0);
  useLayoutEffect(() => {
    const measure = () => {
      const el = ref.current;
      if (el) setTop(Math.round(el.getBoundingClientRect().top + window.scrollY));
    };
    measure();
    // The quota panel or an error notice above the table can appear after it: the body's size changes.
    const observer = typeof ResizeObserver === "undefined" ? null : new ResizeObserver(measure);
    observer?.observe(document.body);
    return () => observer?.disconnect();
  }, [ref]);
  return top;
}

/**
 * The databases of one page as an accessible table that renders only the rows near the window
 * (a thousand rows cost what a screenful does). The table announces every row (`aria-rowcount`,
 * `aria-rowindex`); rows outside the window are stood in for by two hidden spacer rows, and move
 * into the document as the window scrolls, so Tab and the scrollbar reach all of them.
 */
export function DatabaseTable({ databases, base, caption }: { databases: Database[]; base: string; caption: string }) {
  const followLink = useFollowLink();
  const bodyRef = useRef<HTMLTableSectionElement>(null);
  const scrollMargin = useDocumentTop(bodyRef);
  // Measured heights follow the database, not its position, when the list changes.
  const getItemKey = useCallback((i: number) => databases[i]?.id ?? i, [databases]);
  const virtualizer = useWindowVirtualizer<HTMLTableRowElement>({
    count: databases.length,
    estimateSize,
    overscan: OVERSCAN,
    scrollMargin,
    getItemKey,
    initialRect: typeof window === "undefined" ? undefined : { width: window.innerWidth, height: window.innerHeight },
  });
  const items = virtualizer.getVirtualItems();
  const first = items[0];
  const last = items[items.length - 1];
  const margin = virtualizer.options.scrollMargin;
  const before = first ? first.start - margin : 0;
  const after = last ? virtualizer.getTotalSize() - (last.end - margin) : 0;
  return (
    // The click handler only delegates clicks on the links inside (see useFollowLink); the links take
    // focus and Enter fires the same click, so the table itself needs no key handler or role.
    // eslint-disable-next-line jsx-a11y/click-events-have-key-events, jsx-a11y/no-noninteractive-element-interactions -- delegation for the links inside
    <table className="databases" aria-label="Databases" aria-rowcount={databases.length + 1} onClick={followLink}>
      <caption>{caption}</caption>
      <thead>
        <tr aria-rowindex={1}>
          <th scope="col">Name</th>
          <th scope="col">Engine</th>
          <th scope="col">Status</th>
          <th scope="col">Ready</th>
          <th scope="col">Size</th>
          <th scope="col">Endpoint</th>
        </tr>
      </thead>
      <tbody ref={bodyRef}>
        {before > 0 ? <Spacer height={before} /> : null}
        {items.map((item) => {
          const db = databases[item.index];
          return db ? (
            <DatabaseRow
              key={db.id}
              db={db}
              href={`${base}/${db.id}`}
              rowIndex={item.index + 2}
              dataIndex={item.index}
              measure={virtualizer.measureElement}
            />
          ) : null;
        })}
        {after > 0 ? <Spacer height={after} /> : null}
      </tbody>
    </table>
  );
}

/** Stands in for the rows outside the window: their height, nothing to read or focus. */
function Spacer({ height }: { height: number }) {
  return (
    <tr className="spacer" aria-hidden="true">
      <td colSpan={COLUMNS} style={{ height }} />
    </tr>
  );
}
