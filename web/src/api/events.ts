// Live status: one server-sent-events stream (/api/v1/events/stream) for the whole console.
// fetch + a stream reader (EventSource cannot send the Bearer header); reconnects with backoff;
// each event updates the TanStack Query cache, so lists and pages change without polling.
import { useEffect } from "react";
import { useQueryClient, type QueryClient } from "@tanstack/react-query";
import { authFetch } from "./client";
import type { components } from "./schema";
import { EventSourceParserStream } from "eventsource-parser/stream";

type Database = components["schemas"]["DatabaseResponse"];
type DatabaseList = components["schemas"]["DatabaseList"];
type Operation = components["schemas"]["OperationResponse"];

/** The `database` event's data: the API sends these fields of the database and its latest operation. */
export type DatabaseEvent = Pick<Database, "name" | "domain" | "project" | "status" | "health_status" | "ready_replicas" | "updated_at"> & {
  database_id: string;
  operation?: Pick<Operation, "id" | "type" | "status" | "progress" | "message"> | null;
};

const MAX_BACKOFF_MS = 30_000;

export function applyDatabaseEvent(client: QueryClient, ev: DatabaseEvent): void {
  const patch = {
    status: ev.status,
    health_status: ev.health_status,
    ready_replicas: ev.ready_replicas,
    updated_at: ev.updated_at,
  };
  let known = false;
  client.setQueriesData<DatabaseList>({ queryKey: ["databases", ev.domain, ev.project] }, (old) => {
    if (!old) return old;
    const i = old.databases.findIndex((d) => d.id === ev.database_id);
    if (i === -1) return old;
    known = true;
    const databases = old.databases.slice();
    databases[i] = { ...(databases[i] as Database), ...patch };
    return { ...old, databases };
  });
  // A new database, or a deleted one (lists leave those out): ask for the list again.
  if (!known || ev.status === "deleted") void client.invalidateQueries({ queryKey: ["databases", ev.domain, ev.project] });
  client.setQueryData<Database>(["database", ev.database_id], (old) => (old ? { ...old, ...patch } : old));
  // The rest of the record (endpoint, current shape) and the timeline move with the status.
  void client.invalidateQueries({ queryKey: ["database", ev.database_id] });
  void client.invalidateQueries({ queryKey: ["timeline", ev.database_id] });
  void client.invalidateQueries({ queryKey: ["operations", ev.database_id] });
  const op = ev.operation;
  if (op) {
    client.setQueryData<Operation>(["operation", op.id], (old) => (old ? { ...old, ...op } : old));
    if (op.status !== "queued" && op.status !== "in_progress") {
      void client.invalidateQueries({ queryKey: ["operation", op.id] });
      void client.invalidateQueries({ queryKey: ["quota", ev.domain, ev.project] });
      void client.invalidateQueries({ queryKey: ["backups", ev.database_id] });
    }
  }
}

async function readStream(client: QueryClient, signal: AbortSignal, opened: () => void): Promise<void> {
  const res = await authFetch(
    new Request("/api/v1/events/stream", { headers: { accept: "text/event-stream" }, signal }),
  );
  if (!res.ok || !res.body) throw new Error(`event stream answered ${res.status}`);
  opened();
  const reader = res.body
    .pipeThrough(new TextDecoderStream())
    .pipeThrough(new EventSourceParserStream())
    .getReader();
  for (;;) {
    const { value: msg, done } = await reader.read();
    if (done) return;
    if (msg.event === "database") {
      applyDatabaseEvent(client, JSON.parse(msg.data) as DatabaseEvent);
    } else if (msg.event === "lagged") {
      void client.invalidateQueries({ queryKey: ["databases"] });
      void client.invalidateQueries({ queryKey: ["database"] });
    }
  }
}

/** Keeps one event stream open while the console is signed in. */
export function useLiveEvents(): void {
  const client = useQueryClient();
  useEffect(() => {
    const abort = new AbortController();
    let backoff = 1000;
    let reconnect = false;
    void (async () => {
      while (!abort.signal.aborted) {
        try {
          await readStream(client, abort.signal, () => {
            backoff = 1000;
            // Whatever changed while the stream was down.
            if (reconnect) void client.invalidateQueries({ queryKey: ["databases"] });
            reconnect = true;
          });
        } catch {
          // fall through to the wait below; a stopped stream is retried the same way
        }
        if (abort.signal.aborted) return;
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
    })();
    return () => abort.abort();
  }, [client]);
}
