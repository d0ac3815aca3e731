import { useDeferredValue, useState } from "react";
import { Link } from "react-router";
import { ENGINE_LABEL, ENGINES, STATUSES, type DatabaseStatus, type Engine } from "../../api/types";
import { scopePath, useScope } from "../../app/scope";
import { useMe } from "../../auth/session";
import { canMutate } from "../../auth/roles";
import { ErrorNotice } from "../../components/ErrorNotice";
import { Loading } from "../../components/Loading";
import { Page } from "../../components/Page";
import { statusLabel } from "../../components/words";
import { PAGE_SIZE, useDatabaseList } from "./queries";
import { QuotaSummary } from "./QuotaSummary";
import { Pager } from "../../components/Pager";
import { DatabaseTable } from "./DatabaseTable";

export function DatabaseListPage() {
  const scope = useScope();
  const me = useMe();
  const [engine, setEngine] = useState<Engine | "">("");
  const [status, setStatus] = useState<DatabaseStatus | "">("");
  const [search, setSearch] = useState("");
  const [page, setPage] = useState(1);
  const name = useDeferredValue(search.trim());
  const list = useDatabaseList(scope, {
    engine: engine || undefined,
    status: status || undefined,
    name: name || undefined,
    page,
  });
  const base = scopePath(scope);
  const total = list.data?.total ?? 0;
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  return (
    <Page
      title="Databases"
      context={`${scope.domain} / ${scope.project}`}
      actions={
        canMutate(me, scope.domain, scope.project) ? (
          <Link className="btn btn-primary" to={`${base}/new`}>
            Create database
          </Link>
        ) : null
      }
    >
      <QuotaSummary scope={scope} />
      <div className="filters" role="search">
        <div className="field">
          <label htmlFor="filter-name">Search by name</label>
          <input id="filter-name" type="search" value={search} onChange={(e) => (setSearch(e.target.value), setPage(1))} />
        </div>
        <div className="field">
          <label htmlFor="filter-engine">Engine</label>
          <select id="filter-engine" value={engine} onChange={(e) => (setEngine(e.target.value as Engine | ""), setPage(1))}>
            <option value="">All engines</option>
            {ENGINES.map((e) => (
              <option key={e} value={e}>
                {ENGINE_LABEL[e]}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="filter-status">Status</label>
          <select id="filter-status" value={status} onChange={(e) => (setStatus(e.target.value as DatabaseStatus | ""), setPage(1))}>
            <option value="">All statuses</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {statusLabel(s)}
              </option>
            ))}
          </select>
        </div>
      </div>
      <ErrorNotice error={list.error} title="The databases could not be listed" />
      {list.isPending ? <Loading what="databases" /> : null}
      {list.data ? (
        list.data.databases.length === 0 ? (
          <p className="panel">
            {name || engine || status ? "No database matches these filters." : "This project has no databases yet."}
          </p>
        ) : (
          <>
            <DatabaseTable
              databases={list.data.databases}
              base={base}
              caption={`${total} database${total === 1 ? "" : "s"}${pages > 1 ? `, page ${page} of ${pages}` : ""}`}
            />
            <Pager page={page} pages={pages} onPage={setPage} />
          </>
        )
      ) : null}
    </Page>
  );
}
