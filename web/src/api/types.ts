// Names for the generated API types (schema.d.ts), and the enum values the console offers,
// checked against those types so a change in the API fails the typecheck.
import type { components } from "./schema";

type Schemas = components["schemas"];
export type Database = Schemas["DatabaseResponse"];
export type DatabaseList = Schemas["DatabaseList"];
export type DatabaseCreate = Schemas["DatabaseCreate"];
export type Operation = Schemas["OperationResponse"];
export type Plan = Schemas["PlanResponse"];
export type Quota = Schemas["QuotaView"];
export type UpgradePolicy = Schemas["UpgradePolicy"];
export type StatusCondition = Schemas["StatusCondition"];
export type Engine = Database["engine"];
export type DatabaseStatus = Database["status"];
export type Size = Database["size"];

/** Every member of the union, exactly once: a missing or unknown one is a type error. */
type Exhaustive<U, A extends readonly U[]> = [U] extends [A[number]] ? A : never;
const exhaustive =
  <U,>() =>
  <const A extends readonly U[]>(values: Exhaustive<U, A>): A =>
    values;

export const ENGINES = exhaustive<Engine>()(["postgres", "mysql", "mariadb", "mongodb", "redis", "elasticsearch"]);

export const ENGINE_LABEL: Record<Engine, string> = {
  postgres: "PostgreSQL",
  mysql: "MySQL",
  mariadb: "MariaDB",
  mongodb: "MongoDB",
  redis: "Redis",
  elasticsearch: "Elasticsearch",
};

export const STATUSES = exhaustive<DatabaseStatus>()([
  "pending",
  "provisioning",
  "running",
  "updating",
  "scaling",
  "pausing",
  "paused",
  "resuming",
  "restoring",
  "failed",
  "deleting",
  "deleted",
]);

/** Sizes with what each one reserves per replica (requests = limits). */
export const SIZES = exhaustive<Size>()(["db.t3.micro", "db.t3.small", "db.t3.medium", "db.t3.large", "db.t3.xlarge", "db.t3.2xlarge"]);
export const SIZE_SHAPE: Record<Size, { cpu: number; memoryGb: number }> = {
  "db.t3.micro": { cpu: 0.5, memoryGb: 1 },
  "db.t3.small": { cpu: 1, memoryGb: 2 },
  "db.t3.medium": { cpu: 2, memoryGb: 4 },
  "db.t3.large": { cpu: 2, memoryGb: 8 },
  "db.t3.xlarge": { cpu: 4, memoryGb: 16 },
  "db.t3.2xlarge": { cpu: 8, memoryGb: 32 },
};

/** Statuses in which the database is still changing. */
export const BUSY_STATUSES: readonly DatabaseStatus[] = [
  "pending",
  "provisioning",
  "updating",
  "scaling",
  "pausing",
  "resuming",
  "restoring",
  "deleting",
];
