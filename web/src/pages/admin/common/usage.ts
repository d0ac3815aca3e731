// The arithmetic behind every usage bar: how much of a limit is used, and how worried to be.

export type UsageLevel = "ok" | "high" | "full";

export interface Usage {
  used: number;
  limit: number;
  /** 0–100 for the bar; an over-used limit shows as 100. */
  percent: number;
  /** The real share, which may pass 100 (a limit lowered below what is in use). */
  rawPercent: number;
  level: UsageLevel;
}

/** Bars turn "high" at this share of the limit. */
export const HIGH_AT = 0.8;

export function usage(used: number, limit: number): Usage {
  const u = Math.max(0, used);
  const l = Math.max(0, limit);
  const share = l > 0 ? u / l : u > 0 ? Infinity : 0;
  const rawPercent = Number.isFinite(share) ? Math.round(share * 100) : 100;
  const level: UsageLevel = share >= 1 && u > 0 ? "full" : share >= HIGH_AT ? "high" : "ok";
  return { used: u, limit: l, percent: Math.min(100, rawPercent), rawPercent, level };
}

/** One resource of a provider as the API reports it. */
export interface ProviderResource {
  total: number;
  allocated: number;
  available: number;
  reservationPercent: number;
}

/**
 * A provider's resource as a bar: what is allocated of what databases may use. The usable part is
 * the API's own `allocated + available` (= total × reservation_percent / 100), so the bar never
 * disagrees with placement.
 */
export function providerUsage(r: ProviderResource): Usage & { usable: number } {
  const usable = Math.max(0, r.allocated + r.available);
  return { ...usage(r.allocated, usable), usable };
}
