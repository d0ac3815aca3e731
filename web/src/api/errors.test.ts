import { describe, expect, it } from "vitest";
import { toProblem } from "./errors";

const res = (status: number, headers: Record<string, string> = {}) => ({ status, headers: new Headers(headers) });

describe("toProblem", () => {
  it("takes the envelope's code and message", () => {
    const p = toProblem({ error: { code: "quota_exceeded", message: "Project quota exceeded: storage", details: null, status_code: 403 } }, res(403));
    expect(p.status).toBe(403);
    expect(p.code).toBe("quota_exceeded");
    expect(p.message).toBe("Project quota exceeded: storage");
  });

  it("lists the fields a 422 names", () => {
    const p = toProblem(
      { error: { code: "validation_error", message: "Invalid request", details: [{ field: "body.name", message: "too short" }], status_code: 422 } },
      res(422),
    );
    expect(p.fields).toEqual([{ field: "body.name", message: "too short" }]);
    expect(p.fieldMessage("name")).toBe("too short");
    expect(p.fieldMessage("version")).toBeUndefined();
  });

  it("says when to retry a 429", () => {
    const p = toProblem({ error: { code: "rate_limited", message: "Too many requests.", details: null, status_code: 429 } }, res(429, { "retry-after": "30" }));
    expect(p.retryAfter).toBe(30);
    expect(p.message).toBe("Too many requests. Try again in 30 seconds.");
  });

  it("words a status without an envelope", () => {
    expect(toProblem(null, res(404)).message).toMatch(/Not found/);
    expect(toProblem("oops", res(418)).message).toBe("The request failed (HTTP 418).");
  });
});
