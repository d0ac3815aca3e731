// Editing an onboarded provider: the fields the console offers, and the PATCH body holding only
// what changed (a new kubeconfig only when one was given).
import { z } from "zod";
import type { Provider, ProviderUpdate } from "../types";
import { providerSchema } from "./providerForm";

export const editProviderSchema = providerSchema
  .pick({
    region: true,
    availability_zone: true,
    cpu_total_cores: true,
    memory_total_gb: true,
    storage_total_gb: true,
    cpu_reservation_percent: true,
    memory_reservation_percent: true,
    storage_reservation_percent: true,
    priority: true,
  })
  .extend({ kubeconfig_content: z.string() });
export type EditProviderValues = z.infer<typeof editProviderSchema>;

export function editValues(p: Provider): EditProviderValues {
  const r = p.resources;
  return {
    region: p.region,
    availability_zone: p.availability_zone ?? "",
    cpu_total_cores: r.cpu.total_cores,
    memory_total_gb: r.memory.total_gb,
    storage_total_gb: r.storage.total_gb,
    cpu_reservation_percent: r.cpu.reservation_percent,
    memory_reservation_percent: r.memory.reservation_percent,
    storage_reservation_percent: r.storage.reservation_percent,
    priority: p.priority,
    kubeconfig_content: "",
  };
}

export function providerChanges(p: Provider, v: EditProviderValues): ProviderUpdate {
  const before = editValues(p);
  const out: ProviderUpdate = {};
  const numbers = [
    "cpu_total_cores",
    "memory_total_gb",
    "storage_total_gb",
    "cpu_reservation_percent",
    "memory_reservation_percent",
    "storage_reservation_percent",
    "priority",
  ] as const;
  for (const k of numbers) if (v[k] !== before[k]) out[k] = v[k];
  if (v.region !== before.region) out.region = v.region;
  if (v.availability_zone !== before.availability_zone) out.availability_zone = v.availability_zone || null;
  if (v.kubeconfig_content.trim()) out.kubeconfig_content = v.kubeconfig_content;
  return out;
}

/** Resources the new capacity would leave below what is already allocated. */
export function capacityBelowAllocation(p: Provider, v: EditProviderValues): string[] {
  const r = p.resources;
  const rows = [
    { what: "CPU", unit: " cores", usable: (v.cpu_total_cores * v.cpu_reservation_percent) / 100, allocated: r.cpu.allocated_cores },
    { what: "Memory", unit: " GB", usable: (v.memory_total_gb * v.memory_reservation_percent) / 100, allocated: r.memory.allocated_gb },
    { what: "Storage", unit: " GB", usable: (v.storage_total_gb * v.storage_reservation_percent) / 100, allocated: r.storage.allocated_gb },
  ];
  return rows.filter((x) => Number.isFinite(x.usable) && x.usable < x.allocated).map((x) => `${x.what}: ${x.allocated}${x.unit} are allocated`);
}
