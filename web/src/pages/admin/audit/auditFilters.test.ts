import { describe, expect, it } from "vitest";
import { activeFilterCount, filterProblems, filtersFromParams, localToIso, NO_FILTERS, paramsFromFilters, toAuditQuery } from "./auditFilters";

describe("audit filters", () => {
  it("round-trips through the URL, leaving out empty filters and page 1", () => {
    const f = { ...NO_FILTERS, action: "provider.create", status: "success" };
    const params = paramsFromFilters(f, 1);
    expect(params.toString()).toBe("action=provider.create&status=success");
    expect(filtersFromParams(params)).toEqual({ filters: f, page: 1 });
    expect(filtersFromParams(paramsFromFilters(f, 3)).page).toBe(3);
  });

  it("ignores nonsense in the URL", () => {
    const { filters, page } = filtersFromParams(new URLSearchParams("status=maybe&page=-4"));
    expect(filters.status).toBe("");
    expect(page).toBe(1);
  });

  it("becomes the API's query, with times in UTC", () => {
    const since = "2026-12-04T10:00";
    const q = toAuditQuery({ ...NO_FILTERS, action: " tenant.create ", user_id: "user-1", status: "failure", since }, 2);
    expect(q).toEqual({ page: 2, page_size: 25, action: "tenant.create", user_id: "user-1", status: "failure", since: new Date(since).toISOString() });
    expect(localToIso("not a date")).toBeNull();
  });

  it("refuses a time range that ends before it starts", () => {
    expect(filterProblems({ ...NO_FILTERS, since: "2026-12-04T10:00", until: "2026-12-03T10:00" })).toEqual({ until: "Must be after “From”" });
    expect(filterProblems({ ...NO_FILTERS, since: "2026-12-03T10:00", until: "2026-12-04T10:00" })).toEqual({});
  });

  it("counts the filters in use", () => {
    expect(activeFilterCount(NO_FILTERS)).toBe(0);
    expect(activeFilterCount({ ...NO_FILTERS, domain: "demo", project: "default" })).toBe(2);
  });
});
