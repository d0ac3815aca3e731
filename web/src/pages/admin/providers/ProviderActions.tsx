import { useState } from "react";
import { Button } from "../../../components/Button";
import { ConfirmDialog } from "../../../components/ConfirmDialog";
import { fmt } from "../common/format";
import type { Provider } from "../types";
import { EditProviderButton } from "./EditProviderDialog";
import { useDeleteProvider, useUpdateProvider } from "./queries";

function Hidden({ children }: { children: string }) {
  return <span className="visually-hidden">{children}</span>;
}

/** What lives on the provider now, in words. */
function allocatedWords(p: Provider): string {
  const r = p.resources;
  return `${fmt(r.cpu.allocated_cores)} CPU cores, ${fmt(r.memory.allocated_gb)} GB memory and ${fmt(r.storage.allocated_gb)} GB storage`;
}

function inUse(p: Provider): boolean {
  const r = p.resources;
  return r.cpu.allocated_cores > 0 || r.memory.allocated_gb > 0 || r.storage.allocated_gb > 0;
}

/** Maintenance, (de)activation and deletion of one provider, each confirmed with its consequence. */
export function ProviderActions({ provider: p }: { provider: Provider }) {
  const [open, setOpen] = useState<null | "maintenance" | "active" | "delete">(null);
  const update = useUpdateProvider();
  const del = useDeleteProvider();
  const close = (o: boolean) => !o && setOpen(null);
  return (
    <div className="page-actions" style={{ flexWrap: "wrap" }}>
      <EditProviderButton provider={p} />
      <Button onClick={() => setOpen("maintenance")}>
        {p.is_maintenance ? "End maintenance" : "Start maintenance"}
        <Hidden>{` on ${p.name}`}</Hidden>
      </Button>
      <Button onClick={() => setOpen("active")}>
        {p.is_active ? "Deactivate" : "Activate"}
        <Hidden>{` ${p.name}`}</Hidden>
      </Button>
      <Button variant="danger" onClick={() => setOpen("delete")}>
        Delete<Hidden>{` ${p.name}`}</Hidden>
      </Button>

      <ConfirmDialog
        open={open === "maintenance"}
        onOpenChange={close}
        title={p.is_maintenance ? `End maintenance on ${p.name}` : `Start maintenance on ${p.name}`}
        confirmLabel={p.is_maintenance ? "End maintenance" : "Start maintenance"}
        onConfirm={() => update.mutateAsync({ id: p.id, body: { is_maintenance: !p.is_maintenance } })}
      >
        {p.is_maintenance ? (
          <p>New databases can be placed on {p.name} again{p.is_active ? "." : " once it is activated too."}</p>
        ) : (
          <p>
            No new database will be placed on {p.name}. The databases already there ({allocatedWords(p)}) keep running and
            can still be changed.
          </p>
        )}
      </ConfirmDialog>

      <ConfirmDialog
        open={open === "active"}
        onOpenChange={close}
        title={p.is_active ? `Deactivate ${p.name}` : `Activate ${p.name}`}
        confirmLabel={p.is_active ? "Deactivate" : "Activate"}
        onConfirm={() => update.mutateAsync({ id: p.id, body: { is_active: !p.is_active } })}
      >
        {p.is_active ? (
          <p>
            {p.name} stops taking new databases. The databases already there ({allocatedWords(p)}) are not touched.
          </p>
        ) : (
          <p>
            {p.name} takes new databases again{p.is_maintenance ? " once its maintenance ends" : ""}.
          </p>
        )}
      </ConfirmDialog>

      <ConfirmDialog
        open={open === "delete"}
        onOpenChange={close}
        title={`Delete the provider ${p.name}`}
        confirmLabel="Delete provider"
        danger
        typeToConfirm={p.name}
        onConfirm={() => del.mutateAsync(p.id)}
      >
        <p>
          The platform forgets this cluster and its encrypted kubeconfig. Nothing on the cluster itself is deleted, and no
          database can be placed on it any more.
        </p>
        {inUse(p) ? (
          <p className="notice notice-warn">
            Databases still hold {allocatedWords(p)} here: the server will refuse the deletion until they are deleted. Put the
            provider into maintenance instead to stop new placements.
          </p>
        ) : (
          <p>No database is placed on it now.</p>
        )}
      </ConfirmDialog>
    </div>
  );
}
