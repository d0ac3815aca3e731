import { describe, expect, it } from "vitest";
import type { Me } from "../../auth/roles";
import { sectionsFor } from "./sections";

const me = (bindings: Me["bindings"]) => ({ id: "user-1", email: "a@b.io", full_name: "A", is_active: true, created_at: "", bindings }) as unknown as Me;

describe("sectionsFor", () => {
  it("gives platform admins every section", () => {
    expect(sectionsFor(me([{ role: "platform_admin" }])).map((s) => s.path)).toEqual(["providers", "tenants", "users", "audit", "api-keys"]);
  });

  it("leaves providers and users out for domain admins", () => {
    expect(sectionsFor(me([{ role: "domain_admin", domain: "acme" }])).map((s) => s.path)).toEqual(["tenants", "audit", "api-keys"]);
  });
});
