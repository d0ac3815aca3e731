// The typed API client (types generated from /openapi.json into schema.d.ts by `npm run gen`).
// Every call carries the in-memory access token; a 401 triggers one refresh and one retry.
import createClient from "openapi-fetch";
import type { paths } from "./schema";
import { currentToken, refreshSession } from "./token";

async function authFetch(request: Request): Promise<Response> {
  const retry = request.clone();
  const token = currentToken();
  if (token) request.headers.set("authorization", `Bearer ${token}`);
  const res = await fetch(request);
  if (res.status !== 401 || !token) return res;
  const fresh = await refreshSession();
  if (!fresh) return res;
  retry.headers.set("authorization", `Bearer ${fresh}`);
  return fetch(retry);
}

export const api = createClient<paths>({ baseUrl: "", fetch: authFetch });

/** For calls outside the typed client (the event stream): the same auth header and retry. */
export { authFetch };
