import { describe, expect, it } from "vitest";
import { QueryClient } from "@tanstack/react-query";
import { applyDatabaseEvent, type DatabaseEvent } from "./events";
import type { Database, DatabaseList } from "./types";

const db = { id: "db-1", name: "orders", domain: "demo", project: "default", status: "provisioning", ready_replicas: 0 } as Database;

const event = (over: Partial<DatabaseEvent>): DatabaseEvent =>
  ({
    database_id: "db-1",
    name: "orders",
    domain: "demo",
    project: "default",
    status: "running",
    health_status: "healthy",
    ready_replicas: 1,
    updated_at: "2026-01-01T00:00:00Z",
    operation: null,
    ...over,
  });

describe("applyDatabaseEvent", () => {
  it("moves the database's status in every cached list and its own record", () => {
    const client = new QueryClient();
    const key = ["databases", "demo", "default", { page: 1 }];
    client.setQueryData<DatabaseList>(key, { databases: [db], total: 1, page: 1, page_size: 100 });
    client.setQueryData<Database>(["database", "db-1"], db);
    applyDatabaseEvent(client, event({}));
    expect(client.getQueryData<DatabaseList>(key)?.databases[0]?.status).toBe("running");
    expect(client.getQueryData<DatabaseList>(key)?.databases[0]?.ready_replicas).toBe(1);
    expect(client.getQueryData<Database>(["database", "db-1"])?.status).toBe("running");
  });

  it("refetches a list that does not know the database yet", () => {
    const client = new QueryClient();
    const key = ["databases", "demo", "default", { page: 1 }];
    client.setQueryData<DatabaseList>(key, { databases: [], total: 0, page: 1, page_size: 100 });
    applyDatabaseEvent(client, event({ database_id: "db-2" }));
    expect(client.getQueryState(key)?.isInvalidated).toBe(true);
  });

  it("refetches the lists when a database is deleted", () => {
    const client = new QueryClient();
    const key = ["databases", "demo", "default", { page: 1 }];
    client.setQueryData<DatabaseList>(key, { databases: [db], total: 1, page: 1, page_size: 100 });
    applyDatabaseEvent(client, event({ status: "deleted" }));
    expect(client.getQueryState(key)?.isInvalidated).toBe(true);
  });

  it("updates the progress of a cached operation", () => {
    const client = new QueryClient();
    client.setQueryData(["operation", "op-1"], { id: "op-1", status: "queued", progress: 0 });
    applyDatabaseEvent(client, event({ operation: { id: "op-1", type: "create", status: "in_progress", progress: 40, message: "placing" } }));
    expect(client.getQueryData(["operation", "op-1"])).toMatchObject({ status: "in_progress", progress: 40 });
  });
});
