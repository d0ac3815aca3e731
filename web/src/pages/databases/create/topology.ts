import type { Engine } from "../../../api/types";

/** What "highly available" means for each engine, in words. */
export const HA_TOPOLOGY: Record<Engine, string> = {
  postgres: "a primary with hot-standby replicas and automatic failover",
  mysql: "a group-replication cluster",
  mariadb: "a Galera cluster",
  mongodb: "a replica set",
  redis: "a Redis cluster of 3 shards, each with this many pods (so 3× the pods count against the quota)",
  elasticsearch: "a cluster of this many nodes",
};

export const HA_REPLICAS = [3, 5, 7, 9] as const;

/** The replica rule the API enforces, stated for the form. */
export const REPLICA_RULE =
  "A single instance has exactly 1 replica. High availability needs an odd number of replicas, at least 3 (3, 5, 7 or 9), so a majority survives a failure.";
