import { Link, useLocation } from "react-router";
import { ErrorNotice } from "../../../components/ErrorNotice";
import { Loading } from "../../../components/Loading";
import { Page } from "../../../components/Page";
import { StatusBadge } from "../../../components/StatusBadge";
import { UsageBar } from "../common/UsageBar";
import { fmt, when } from "../common/format";
import { providerUsage } from "../common/usage";
import type { Provider } from "../types";
import { providerHealth, providerState, STATE_WORDS } from "./health";
import { ProviderActions } from "./ProviderActions";
import { useProviders } from "./queries";

function Capacity({ p }: { p: Provider }) {
  const r = p.resources;
  const rows = [
    { label: "CPU", unit: " cores", total: r.cpu.total_cores, allocated: r.cpu.allocated_cores, available: r.cpu.available_cores, pct: r.cpu.reservation_percent },
    { label: "Memory", unit: " GB", total: r.memory.total_gb, allocated: r.memory.allocated_gb, available: r.memory.available_gb, pct: r.memory.reservation_percent },
    { label: "Storage", unit: " GB", total: r.storage.total_gb, allocated: r.storage.allocated_gb, available: r.storage.available_gb, pct: r.storage.reservation_percent },
  ];
  return (
    <div style={{ minWidth: "14rem" }}>
      {rows.map((x) => {
        const u = providerUsage({ total: x.total, allocated: x.allocated, available: x.available, reservationPercent: x.pct });
        return (
          <UsageBar
            key={x.label}
            label={x.label}
            name={`${x.label} of ${p.name}`}
            used={u.used}
            limit={u.usable}
            unit={x.unit}
            value={u}
            note={`${fmt(x.pct)}% of ${fmt(x.total)}${x.unit} usable`}
          />
        );
      })}
    </div>
  );
}

function Health({ p }: { p: Provider }) {
  const h = providerHealth(p);
  return (
    <div>
      <StatusBadge status={h} />
      <div className="field-hint">
        {p.connection.status}
        {p.kubedb.installed ? `, KubeDB ${p.kubedb.version ?? ""}` : ", KubeDB not found"}
      </div>
      {p.connection.error ? <div className="field-error">{p.connection.error}</div> : null}
      <div className="field-hint">checked {when(p.connection.last_checked_at)}</div>
    </div>
  );
}

const STATE_TONE = { active: "ok", maintenance: "busy", inactive: "idle" } as const;
const STATE_LABEL = { active: "Active", maintenance: "Maintenance", inactive: "Inactive" } as const;

function ProviderRow({ p }: { p: Provider }) {
  const state = providerState(p);
  return (
    <tr aria-label={p.name}>
      <th scope="row">
        {p.name}
        <div className="field-hint mono">{p.id}</div>
        {p.domain ? <div className="field-hint">Dedicated to {p.domain}</div> : null}
      </th>
      <td>
        {p.region}
        {p.availability_zone ? ` / ${p.availability_zone}` : ""}
        {p.cloud_provider ? <div className="field-hint">{p.cloud_provider}</div> : null}
      </td>
      <td>
        <Capacity p={p} />
      </td>
      <td>
        <Health p={p} />
      </td>
      <td>
        <span className={`badge badge-${STATE_TONE[state]}`}>{STATE_LABEL[state]}</span>
        <div className="field-hint">{STATE_WORDS[state]}</div>
      </td>
      <td>{p.priority}</td>
      <td>
        <ProviderActions provider={p} />
      </td>
    </tr>
  );
}

export default function ProvidersPage() {
  const list = useProviders();
  const location = useLocation();
  const created = (location.state as { created?: string } | null)?.created;
  return (
    <Page
      title="Providers"
      context={<Link to="/admin">Administration</Link>}
      actions={
        <Link className="btn btn-primary" to="/admin/providers/new">
          Onboard a provider
        </Link>
      }
    >
      {created ? (
        <p className="notice notice-info" role="status">
          The provider {created} was onboarded.
        </p>
      ) : null}
      <ErrorNotice error={list.error} title="The providers could not be listed" />
      {list.isPending ? <Loading what="providers" /> : null}
      {list.data ? (
        list.data.providers.length === 0 ? (
          <p className="panel">No provider yet. Onboard a Kubernetes cluster running KubeDB to place databases on it.</p>
        ) : (
          <div style={{ overflowX: "auto" }}>
            <table aria-label="Providers">
              <caption>
                {list.data.total} provider{list.data.total === 1 ? "" : "s"}, highest priority first
              </caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Region / zone</th>
                  <th scope="col">Capacity (allocated of usable)</th>
                  <th scope="col">Health</th>
                  <th scope="col">State</th>
                  <th scope="col">Priority</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {list.data.providers.map((p) => (
                  <ProviderRow key={p.id} p={p} />
                ))}
              </tbody>
            </table>
          </div>
        )
      ) : null}
    </Page>
  );
}
