import { lazy, Suspense, useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { api } from "../../../api/client";
import { ApiProblem, describeError, unwrap } from "../../../api/errors";
import type { Database } from "../../../api/types";
import { useScope } from "../../../app/scope";
import { Loading } from "../../../components/Loading";

const HistoryChart = lazy(() => import("./HistoryChart"));

/** Live tiles refresh this often; the server caches the exporter's answer for a few seconds. */
const LIVE_MS = 5000;

function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v >= 10 || i === 0 ? 0 : 1)} ${units[i]}`;
}

function num(v: unknown, digits = 2): string {
  return typeof v === "number" ? String(Number(v.toFixed(digits))) : "–";
}

const HISTORY_METRICS = [
  { value: "cpu_cores", label: "CPU (cores)" },
  { value: "memory_bytes", label: "Memory (bytes)" },
  { value: "connections", label: "Connections" },
  { value: "qps", label: "Queries per second" },
];
const RANGES = ["1h", "6h", "24h", "7d"];

function History({ db }: { db: Database }) {
  const scope = useScope();
  const [metric, setMetric] = useState("cpu_cores");
  const [range, setRange] = useState("1h");
  const history = useQuery({
    queryKey: ["database", db.id, "history", metric, range],
    retry: false,
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/domain/{domain}/project/{project}/databases/{id}/metrics/history", {
          params: { path: { ...scope, id: db.id }, query: { metric, range } },
        }),
      ),
  });
  const unavailable = history.error instanceof ApiProblem && history.error.status === 503;
  return (
    <section className="panel" aria-labelledby="history-title">
      <h2 id="history-title">History</h2>
      <div className="filters">
        <div className="field">
          <label htmlFor="history-metric">Metric</label>
          <select id="history-metric" value={metric} onChange={(e) => setMetric(e.target.value)}>
            {HISTORY_METRICS.map((m) => (
              <option key={m.value} value={m.value}>
                {m.label}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="history-range">Range</label>
          <select id="history-range" value={range} onChange={(e) => setRange(e.target.value)}>
            {RANGES.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
        </div>
      </div>
      {history.isPending ? <Loading what="the history" /> : null}
      {unavailable ? (
        <p className="notice notice-info">
          History is not available: this installation has no Prometheus configured (or it cannot be reached). The live figures above still work.
        </p>
      ) : history.isError ? (
        <p className="notice notice-error" role="alert">
          {describeError(history.error)}
        </p>
      ) : null}
      {history.data ? (
        <Suspense fallback={<Loading what="the chart" />}>
          <HistoryChart history={history.data} label={HISTORY_METRICS.find((m) => m.value === metric)?.label ?? metric} />
        </Suspense>
      ) : null}
    </section>
  );
}

export default function MetricsTab({ db }: { db: Database }) {
  const scope = useScope();
  const live = useQuery({
    queryKey: ["database", db.id, "metrics"],
    refetchInterval: LIVE_MS,
    retry: false,
    queryFn: () =>
      unwrap(api.GET("/api/v1/domain/{domain}/project/{project}/databases/{id}/metrics", { params: { path: { ...scope, id: db.id } } })),
  });
  const m = live.data?.metrics;
  return (
    <>
      <section className="panel" aria-labelledby="live-title">
        <h2 id="live-title">Live</h2>
        {live.isPending ? <Loading what="the metrics" /> : null}
        {live.isError ? (
          <p className="notice notice-info" role="status">
            Live metrics are not available: {describeError(live.error)}
          </p>
        ) : null}
        {m && live.data ? (
          <>
            <dl className="tiles">
              <div className="tile">
                <dt>CPU</dt>
                <dd>{num(m.cpu_cores)} cores</dd>
              </div>
              <div className="tile">
                <dt>Memory</dt>
                <dd>{typeof m.memory_bytes === "number" ? bytes(m.memory_bytes) : "–"}</dd>
              </div>
              <div className="tile">
                <dt>Connections</dt>
                <dd>{num(m.connections, 0)}</dd>
              </div>
              <div className="tile">
                <dt>Queries per second</dt>
                <dd>{num(m.qps, 1)}</dd>
              </div>
              <div className="tile">
                <dt>Storage used</dt>
                <dd>
                  {typeof m.storage_used_bytes === "number" ? bytes(m.storage_used_bytes) : "–"}
                  {typeof m.storage_total_bytes === "number" ? ` of ${bytes(m.storage_total_bytes)}` : ""}
                </dd>
              </div>
              <div className="tile">
                <dt>Ready replicas</dt>
                <dd>{num(m.ready_replicas, 0)}</dd>
              </div>
            </dl>
            <p className="muted">
              Collected <time dateTime={live.data.collected_at}>{new Date(live.data.collected_at).toLocaleTimeString()}</time> (
              {live.data.source === "live" ? "live from the exporter" : live.data.source === "cache" ? "from the cache" : "stale: the exporter did not answer"}
              ); refreshed every {LIVE_MS / 1000} seconds.
            </p>
          </>
        ) : null}
      </section>
      <History db={db} />
    </>
  );
}
