import type { Provider } from "../types";

export type ProviderHealth = "healthy" | "degraded" | "unhealthy" | "unknown";

/** Connected with KubeDB installed is healthy; connected without it is degraded. */
export function providerHealth(p: Pick<Provider, "connection" | "kubedb">): ProviderHealth {
  switch (p.connection.status) {
    case "connected":
      return p.kubedb.installed ? "healthy" : "degraded";
    case "unknown":
      return "unknown";
    default:
      return "unhealthy";
  }
}

export type ProviderState = "active" | "maintenance" | "inactive";

export function providerState(p: Pick<Provider, "is_active" | "is_maintenance">): ProviderState {
  if (!p.is_active) return "inactive";
  return p.is_maintenance ? "maintenance" : "active";
}

export const STATE_WORDS: Record<ProviderState, string> = {
  active: "Takes new databases",
  maintenance: "Maintenance: no new databases",
  inactive: "Inactive: no new databases",
};
