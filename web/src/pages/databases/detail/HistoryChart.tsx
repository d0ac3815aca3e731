import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { components } from "../../../api/schema";

type History = components["schemas"]["HistoryResponse"];

/** A line chart of one metric's history (uPlot), with a text summary for screen readers. */
export default function HistoryChart({ history, label }: { history: History; label: string }) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const node = el.current;
    const first = history.series[0];
    if (!node || !first) return;
    const xs = first.points.map((p) => p[0] ?? 0);
    const ys = history.series.map((s) => s.points.map((p) => p[1] ?? null));
    const plot = new uPlot(
      {
        width: Math.max(node.clientWidth, 300),
        height: 240,
        series: [{}, ...history.series.map((s, i) => ({ label: Object.values(s.labels).join(" ") || `${label} ${i + 1}`, stroke: "#1d5fd1", width: 2 }))],
        axes: [{}, { label: history.unit }],
      },
      [xs, ...ys],
      node,
    );
    return () => plot.destroy();
  }, [history, label]);
  const points = history.series[0]?.points ?? [];
  const last = points[points.length - 1]?.[1];
  return (
    <figure className="chart">
      <div ref={el} aria-hidden="true" />
      <figcaption>
        {label} over the last {Math.round((Date.parse(history.end) - Date.parse(history.start)) / 60000)} minutes
        {last !== undefined ? `; latest ${last} ${history.unit}` : ""}
        {history.series.length === 0 ? ": no data yet" : ""}.
      </figcaption>
    </figure>
  );
}
