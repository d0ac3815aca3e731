import { describe, expect, it } from "vitest";
import { connectionCommands } from "./connectionStrings";

const c = { username: "app", password: "p'ss word", host: "orders.demo.svc", port: 5432, database: "orders" };

describe("connectionCommands", () => {
  it("quotes the password for the shell", () => {
    const [psql] = connectionCommands("postgres", c);
    expect(psql?.tool).toBe("psql");
    expect(psql?.command).toBe("psql 'postgresql://app:p'\\''ss%20word@orders.demo.svc:5432/orders'");
  });

  it("offers the engine's own client", () => {
    expect(connectionCommands("mysql", { ...c, port: 3306 }).map((x) => x.tool)).toEqual(["mysql"]);
    expect(connectionCommands("mongodb", c).map((x) => x.tool)).toEqual(["mongosh"]);
    expect(connectionCommands("redis", c)[0]?.command).toContain("redis-cli -h orders.demo.svc -p 5432");
    expect(connectionCommands("elasticsearch", c)[0]?.tool).toBe("curl");
  });
});
