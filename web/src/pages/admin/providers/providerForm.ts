// The onboarding form: its rules (the API's ProviderCreate limits, so most mistakes are caught
// before a round trip) and the request it becomes.
import { z } from "zod";
import type { ProviderCreate } from "../types";

const trimmed = (max: number, what: string) =>
  z
    .string()
    .min(1, `Enter the ${what}`)
    .max(max, `At most ${max} characters`)
    .refine((s) => s.trim() === s, "No spaces at the start or end");

const optionalText = (max: number) =>
  z
    .string()
    .max(max, `At most ${max} characters`)
    .refine((s) => s.trim() === s, "No spaces at the start or end");

const positive = (what: string) =>
  z
    .number({ error: `Enter the ${what}` })
    .gt(0, "Must be more than 0")
    .max(10_000_000, "At most 10,000,000");

const percent = z
  .number({ error: "Enter a percentage" })
  .min(0, "At least 0")
  .max(100, "At most 100");

export const providerSchema = z.object({
  name: trimmed(100, "name"),
  region: trimmed(50, "region"),
  availability_zone: optionalText(50),
  cloud_provider: optionalText(50),
  /** A tenant's name dedicates the provider to it; empty = shared. */
  domain: z.string(),
  cpu_total_cores: positive("number of CPU cores"),
  memory_total_gb: positive("memory in GB"),
  storage_total_gb: positive("storage in GB"),
  cpu_reservation_percent: percent,
  memory_reservation_percent: percent,
  storage_reservation_percent: percent,
  priority: z.number({ error: "Enter a priority" }).int("A whole number").min(0, "At least 0").max(1000, "At most 1000"),
  tags: z.string().refine((s) => splitTags(s).every((t) => t.length <= 64), "Each tag at most 64 characters").refine((s) => splitTags(s).length <= 50, "At most 50 tags"),
  kubeconfig_content: z.string().refine((s) => s.trim() !== "", "Paste the kubeconfig or choose its file"),
  verify_ssl: z.boolean(),
  enable_loadbalancer: z.boolean(),
  is_active: z.boolean(),
});

export type ProviderValues = z.infer<typeof providerSchema>;

export const PROVIDER_DEFAULTS: ProviderValues = {
  name: "",
  region: "",
  availability_zone: "",
  cloud_provider: "",
  domain: "",
  cpu_total_cores: 16,
  memory_total_gb: 64,
  storage_total_gb: 1000,
  cpu_reservation_percent: 80,
  memory_reservation_percent: 80,
  storage_reservation_percent: 80,
  priority: 100,
  tags: "",
  kubeconfig_content: "",
  verify_ssl: true,
  enable_loadbalancer: false,
  is_active: true,
};

export function splitTags(s: string): string[] {
  return s
    .split(",")
    .map((t) => t.trim())
    .filter((t) => t.length > 0);
}

/** The request body: empty optional texts are left out (absent = none). */
export function toProviderCreate(v: ProviderValues): ProviderCreate {
  const body: ProviderCreate = {
    name: v.name,
    region: v.region,
    cpu_total_cores: v.cpu_total_cores,
    memory_total_gb: v.memory_total_gb,
    storage_total_gb: v.storage_total_gb,
    cpu_reservation_percent: v.cpu_reservation_percent,
    memory_reservation_percent: v.memory_reservation_percent,
    storage_reservation_percent: v.storage_reservation_percent,
    priority: v.priority,
    tags: splitTags(v.tags),
    kubeconfig_content: v.kubeconfig_content,
    verify_ssl: v.verify_ssl,
    enable_loadbalancer: v.enable_loadbalancer,
    is_active: v.is_active,
  };
  if (v.availability_zone) body.availability_zone = v.availability_zone;
  if (v.cloud_provider) body.cloud_provider = v.cloud_provider;
  if (v.domain) body.domain = v.domain;
  return body;
}

/** Every form field, for putting the API's field errors on the form. */
export const PROVIDER_FIELDS = Object.keys(PROVIDER_DEFAULTS) as (keyof ProviderValues)[];
