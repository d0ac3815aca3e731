import { describe, expect, it } from "vitest";
import { canMutate, hasAdminPages, roleIn, type Me } from "./roles";

const me = (bindings: Me["bindings"]): Me => ({ id: "user-1", email: "a@b.c", full_name: "A", bindings }) as Me;

describe("roles", () => {
  it("a developer reads but does not change", () => {
    const dev = me([{ role: "developer", domain: "demo", project: "default" }]);
    expect(roleIn(dev, "demo", "default")).toBe("developer");
    expect(canMutate(dev, "demo", "default")).toBe(false);
    expect(roleIn(dev, "demo", "other")).toBeNull();
    expect(hasAdminPages(dev)).toBe(false);
  });

  it("the strongest binding wins, and a domain admin covers every project of the domain", () => {
    const admin = me([
      { role: "developer", domain: "demo", project: "default" },
      { role: "domain_admin", domain: "demo" },
    ]);
    expect(roleIn(admin, "demo", "default")).toBe("domain_admin");
    expect(canMutate(admin, "demo", "another")).toBe(true);
    expect(canMutate(admin, "acme", "default")).toBe(false);
    expect(hasAdminPages(admin)).toBe(true);
  });

  it("a platform admin may do anything anywhere", () => {
    const root = me([{ role: "platform_admin" }]);
    expect(roleIn(root, "x", "y")).toBe("platform_admin");
    expect(canMutate(root, "x", "y")).toBe(true);
  });
});
