import { lazy, Suspense } from "react";
import { Link, NavLink, Route, Routes, useParams } from "react-router";
import { useQuery } from "@tanstack/react-query";
import { api } from "../../../api/client";
import { unwrap } from "../../../api/errors";
import { ENGINE_LABEL } from "../../../api/types";
import { scopePath, useScope } from "../../../app/scope";
import { useMe } from "../../../auth/session";
import { canMutate } from "../../../auth/roles";
import { ErrorNotice } from "../../../components/ErrorNotice";
import { Loading } from "../../../components/Loading";
import { OperationProgress } from "../../../components/OperationProgress";
import { Page } from "../../../components/Page";
import { StatusBadge } from "../../../components/StatusBadge";
import { useDatabase } from "../queries";
import { OverviewTab } from "./OverviewTab";

const ConnectionTab = lazy(() => import("./ConnectionTab"));
const MetricsTab = lazy(() => import("./MetricsTab"));
const BackupsTab = lazy(() => import("./BackupsTab"));
const ActivityTab = lazy(() => import("./ActivityTab"));
const SettingsTab = lazy(() => import("./SettingsTab"));

/** The database's unfinished operations, refreshed when the event stream reports a change. */
function RunningOperations({ id }: { id: string }) {
  const ops = useQuery({
    queryKey: ["operations", id],
    queryFn: () => unwrap(api.GET("/api/v1/operations", { params: { query: { database_id: id, page_size: 10 } } })),
  });
  const running = ops.data?.operations.filter((o) => o.status === "queued" || o.status === "in_progress") ?? [];
  if (running.length === 0) return null;
  return (
    <section className="panel" aria-label="Operations in progress">
      <h2>In progress</h2>
      {running.map((o) => (
        <OperationProgress key={o.id} id={o.id} />
      ))}
    </section>
  );
}

export default function DatabasePage() {
  const scope = useScope();
  const { id = "" } = useParams();
  const me = useMe();
  const db = useDatabase(scope, id);
  const writer = canMutate(me, scope.domain, scope.project);
  const base = `${scopePath(scope)}/${id}`;
  if (db.isPending) return <Loading what="the database" />;
  if (db.isError)
    return (
      <Page title="Database">
        <ErrorNotice error={db.error} />
        <Link to={scopePath(scope)}>Back to the databases</Link>
      </Page>
    );
  const d = db.data;
  const tabs = [
    { to: "", label: "Overview" },
    { to: "connection", label: "Connection" },
    { to: "metrics", label: "Metrics" },
    { to: "backups", label: "Backups" },
    { to: "activity", label: "Activity" },
    ...(writer ? [{ to: "settings", label: "Settings" }] : []),
  ];
  return (
    <Page
      title={d.name}
      context={
        <>
          <Link to={scopePath(scope)}>Databases</Link> · {ENGINE_LABEL[d.engine]} {d.version} · <StatusBadge status={d.status} />
        </>
      }
    >
      <nav className="tabs" aria-label="Database sections">
        {tabs.map((t) => (
          <NavLink key={t.label} to={t.to ? `${base}/${t.to}` : base} end>
            {t.label}
          </NavLink>
        ))}
      </nav>
      <RunningOperations id={d.id} />
      <Suspense fallback={<Loading what="this section" />}>
        <Routes>
          <Route index element={<OverviewTab db={d} />} />
          <Route path="connection" element={<ConnectionTab db={d} writer={writer} />} />
          <Route path="metrics" element={<MetricsTab db={d} />} />
          <Route path="backups" element={<BackupsTab db={d} writer={writer} />} />
          <Route path="activity" element={<ActivityTab db={d} />} />
          {writer ? <Route path="settings" element={<SettingsTab db={d} />} /> : null}
          <Route path="*" element={<p>This section does not exist.</p>} />
        </Routes>
      </Suspense>
    </Page>
  );
}
