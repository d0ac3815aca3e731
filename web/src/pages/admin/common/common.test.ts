import { describe, expect, it, vi } from "vitest";
import { ApiProblem } from "../../../api/errors";
import { applyFieldErrors, formFieldFor } from "./formErrors";
import { jsonObjectText, parseJsonObject, showJson } from "./jsonObject";
import { limitsBelowUse, quotaChanges, quotaSchema } from "./quota";
import { providerUsage, usage } from "./usage";
import type { QuotaLimits, QuotaView } from "../types";

describe("usage", () => {
  it("is the share of the limit, rounded", () => {
    expect(usage(2.5, 8)).toMatchObject({ percent: 31, rawPercent: 31, level: "ok" });
    expect(usage(0, 10)).toMatchObject({ percent: 0, level: "ok" });
  });

  it("turns high at 80% and full at the limit", () => {
    expect(usage(8, 10).level).toBe("high");
    expect(usage(7.9, 10).level).toBe("ok");
    expect(usage(10, 10).level).toBe("full");
  });

  it("caps the bar at 100% but keeps the real share", () => {
    expect(usage(15, 10)).toMatchObject({ percent: 100, rawPercent: 150, level: "full" });
  });

  it("treats a zero limit as full only when something is used", () => {
    expect(usage(0, 0)).toMatchObject({ percent: 0, level: "ok" });
    expect(usage(1, 0)).toMatchObject({ percent: 100, level: "full" });
  });

  it("never goes below zero", () => {
    expect(usage(-1, 10)).toMatchObject({ used: 0, percent: 0 });
  });
});

describe("providerUsage", () => {
  it("measures the allocation against the usable part (allocated + available)", () => {
    // 10 cores at 80%: 8 usable, 2 allocated, 6 available.
    const u = providerUsage({ total: 10, allocated: 2, available: 6, reservationPercent: 80 });
    expect(u.usable).toBe(8);
    expect(u.percent).toBe(25);
  });

  it("shows an over-allocated provider (capacity lowered below use) as full", () => {
    const u = providerUsage({ total: 10, allocated: 9, available: -1, reservationPercent: 80 });
    expect(u.usable).toBe(8);
    expect(u).toMatchObject({ percent: 100, rawPercent: 113, level: "full" });
  });
});

describe("formFieldFor", () => {
  const fields = ["name", "max_cpu_cores", "role"] as const;
  it("finds the exact name, the last path segment, or an alias", () => {
    expect(formFieldFor("name", fields)).toBe("name");
    expect(formFieldFor("quota.max_cpu_cores", fields)).toBe("max_cpu_cores");
    expect(formFieldFor("bindings[0].role", fields)).toBe("role");
    expect(formFieldFor("bindings[0]", fields, { bindings: "role" })).toBe("role");
    expect(formFieldFor("kubeconfig", fields)).toBeNull();
  });
});

describe("applyFieldErrors", () => {
  it("marks the fields a 422 names and ignores the rest", () => {
    const setError = vi.fn();
    const err = new ApiProblem(422, "validation_error", "Invalid request", [
      { field: "region", message: "must not be empty" },
      { field: "unknown", message: "x" },
    ]);
    expect(applyFieldErrors(err, setError, ["name", "region"])).toBe(1);
    expect(setError).toHaveBeenCalledWith("region", { type: "server", message: "must not be empty" });
  });

  it("does nothing for other errors", () => {
    const setError = vi.fn();
    expect(applyFieldErrors(new Error("boom"), setError, ["name"])).toBe(0);
    expect(setError).not.toHaveBeenCalled();
  });
});

describe("metadata JSON", () => {
  it("accepts an object or nothing, refuses other JSON", () => {
    expect(jsonObjectText.safeParse("").success).toBe(true);
    expect(jsonObjectText.safeParse('{"team":"db"}').success).toBe(true);
    expect(jsonObjectText.safeParse("[1]").success).toBe(false);
    expect(jsonObjectText.safeParse("{nope").success).toBe(false);
    expect(parseJsonObject("  ")).toEqual({});
    expect(showJson({})).toBe("");
    expect(showJson({ a: 1 })).toContain('"a": 1');
  });
});

describe("quota form", () => {
  const limits: QuotaLimits = { max_cpu_cores: 10, max_memory_gb: 20, max_storage_gb: 100, max_databases: 10, max_backups: 50 };

  it("sends only the limits that changed", () => {
    expect(quotaChanges(limits, { ...limits, max_cpu_cores: 12 })).toEqual({ max_cpu_cores: 12 });
    expect(quotaChanges(limits, { ...limits })).toEqual({});
  });

  it("wants whole numbers of databases and non-negative limits", () => {
    expect(quotaSchema.safeParse({ ...limits, max_databases: 2.5 }).success).toBe(false);
    expect(quotaSchema.safeParse({ ...limits, max_cpu_cores: -1 }).success).toBe(false);
    expect(quotaSchema.safeParse({ ...limits, max_cpu_cores: Number.NaN }).success).toBe(false);
    expect(quotaSchema.safeParse(limits).success).toBe(true);
  });

  it("warns about limits below what is in use", () => {
    const view = { ...limits, used_cpu_cores: 4, used_memory_gb: 8, used_storage_gb: 40, used_databases: 3, used_backups: 0 } as unknown as QuotaView;
    expect(limitsBelowUse(view, { max_cpu_cores: 2, max_databases: 3 })).toEqual(["CPU: 2 cores is below the 4 cores in use"]);
  });
});
