// The console's session: the access token lives only in this module's memory; the refresh token
// is an HttpOnly cookie the browser sends to /api/v1/auth/console/* by itself, and those calls
// repeat the readable `dbaas_csrf` cookie in the X-CSRF-Token header.

import { toProblem } from "./errors";
import type { components } from "./schema";

type ConsoleSession = components["schemas"]["ConsoleSession"];

const CONSOLE_AUTH = "/api/v1/auth/console";
/** Refresh this many seconds before the access token expires. */
const REFRESH_MARGIN_SECS = 60;

let accessToken: string | null = null;
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
let inflight: Promise<string | null> | null = null;
const listeners = new Set<(signedIn: boolean) => void>();

export function currentToken(): string | null {
  return accessToken;
}

/** Called with `false` when the session ends (refresh refused or sign-out). */
export function onSessionChange(listener: (signedIn: boolean) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function csrfToken(): string {
  const match = document.cookie.split("; ").find((c) => c.startsWith("dbaas_csrf="));
  return match ? decodeURIComponent(match.slice("dbaas_csrf=".length)) : "";
}

function adopt(session: ConsoleSession): string {
  accessToken = session.access_token;
  clearTimeout(refreshTimer);
  const delay = Math.max(session.expires_in - REFRESH_MARGIN_SECS, 5) * 1000;
  refreshTimer = setTimeout(() => void refreshSession(), delay);
  return session.access_token;
}

export function clearSession(): void {
  const wasSignedIn = accessToken !== null;
  accessToken = null;
  clearTimeout(refreshTimer);
  if (wasSignedIn) listeners.forEach((l) => l(false));
}

/**
 * Signs in with the console login route. A refusal throws an ApiProblem built from the answer
 * (401, 422 with the fields, 429 with Retry-After); a network failure throws as fetch does.
 */
export async function signIn(email: string, password: string): Promise<void> {
  const res = await fetch(`${CONSOLE_AUTH}/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, password }),
    credentials: "same-origin",
  });
  if (!res.ok) throw toProblem(await res.json().catch(() => null), res);
  adopt((await res.json()) as ConsoleSession);
}

/**
 * Trades the refresh cookie for a new access token. Concurrent callers share one request.
 * Resolves to null when there is no session (401/403): the user has to sign in.
 */
export function refreshSession(): Promise<string | null> {
  inflight ??= (async () => {
    try {
      const res = await acrossTabs(() =>
        fetch(`${CONSOLE_AUTH}/refresh`, {
          method: "POST",
          headers: { "x-csrf-token": csrfToken() },
          credentials: "same-origin",
        }),
      );
      if (!res.ok) {
        clearSession();
        return null;
      }
      return adopt((await res.json()) as ConsoleSession);
    } finally {
      inflight = null;
    }
  })();
  return inflight;
}

/**
 * Runs a refresh while no other tab of this origin refreshes. Each refresh rotates the shared
 * cookie, and the server treats a rotated token presented again as stolen and ends the session:
 * two tabs refreshing at once would sign each other out.
 */
async function acrossTabs<T>(refresh: () => Promise<T>): Promise<T> {
  if (typeof navigator === "undefined" || !("locks" in navigator)) return refresh();
  let result: T | undefined;
  await navigator.locks.request("dbaas-console-refresh", async () => {
    result = await refresh();
  });
  return result as T;
}

export async function signOut(): Promise<void> {
  try {
    await fetch(`${CONSOLE_AUTH}/logout`, {
      method: "POST",
      headers: { "x-csrf-token": csrfToken() },
      credentials: "same-origin",
    });
  } finally {
    clearSession();
  }
}
