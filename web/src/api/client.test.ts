import { afterEach, describe, expect, it, vi } from "vitest";
import { authFetch } from "./client";
import { ApiProblem } from "./errors";
import { currentToken, refreshSession, signIn } from "./token";

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

afterEach(() => vi.unstubAllGlobals());

describe("the console session", () => {
  it("keeps the token in memory only, and refreshes once on a 401 and retries", async () => {
    document.cookie = "dbaas_csrf=csrf-value; path=/";
    const calls: { url: string; auth: string | null; csrf: string | null }[] = [];
    let apiCalls = 0;
    vi.stubGlobal(
      "fetch",
      vi.fn((input: RequestInfo | URL, init?: RequestInit) => {
        const req = input instanceof Request ? input : new Request(new URL(String(input), "http://localhost"), init);
        calls.push({ url: new URL(req.url).pathname, auth: req.headers.get("authorization"), csrf: req.headers.get("x-csrf-token") });
        if (req.url.endsWith("/auth/console/login")) return Promise.resolve(json(200, { access_token: "first", token_type: "bearer", expires_in: 900 }));
        if (req.url.endsWith("/auth/console/refresh")) return Promise.resolve(json(200, { access_token: "second", token_type: "bearer", expires_in: 900 }));
        apiCalls++;
        return Promise.resolve(
          apiCalls === 1 ? json(401, { error: { code: "unauthenticated", message: "expired", details: null, status_code: 401 } }) : json(200, { ok: true }),
        );
      }),
    );
    await signIn("a@b.c", "pw");
    expect(currentToken()).toBe("first");
    expect(localStorage.length + sessionStorage.length).toBe(0);
    const res = await authFetch(new Request("http://localhost/api/v1/auth/me"));
    expect(res.status).toBe(200);
    expect(calls.map((c) => c.url)).toEqual(["/api/v1/auth/console/login", "/api/v1/auth/me", "/api/v1/auth/console/refresh", "/api/v1/auth/me"]);
    expect(calls[1]?.auth).toBe("Bearer first");
    expect(calls[2]?.csrf).toBe("csrf-value");
    expect(calls[3]?.auth).toBe("Bearer second");
  });

  it("shares one refresh between concurrent callers and ends the session when it is refused", async () => {
    const fetchMock = vi.fn(() => Promise.resolve(json(401, { error: { code: "unauthenticated", message: "Not signed in", details: null, status_code: 401 } })));
    vi.stubGlobal("fetch", fetchMock);
    const [a, b] = await Promise.all([refreshSession(), refreshSession()]);
    expect(a).toBeNull();
    expect(b).toBeNull();
    expect(fetchMock).toHaveBeenCalledTimes(1);
    expect(currentToken()).toBeNull();
  });

  it("turns a refused sign-in into an ApiProblem with the API's words", async () => {
    const body = { error: { code: "validation_error", message: "Check the fields", details: [{ field: "body.email", message: "Not an e-mail" }], status_code: 422 } };
    vi.stubGlobal("fetch", vi.fn(() => Promise.resolve(json(422, body))));
    const refused = await signIn("nobody", "pw").then(
      () => null,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(ApiProblem);
    const problem = refused as ApiProblem;
    expect(problem.status).toBe(422);
    expect(problem.message).toBe("Check the fields");
    expect(problem.fieldMessage("email")).toBe("Not an e-mail");
    expect(currentToken()).toBeNull();
  });
});
