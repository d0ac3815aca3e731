// The console session as components see it: useSession() for the state and sign-in/out, useMe()
// for the signed-in user. SessionProvider.tsx provides it.
import { createContext, useContext } from "react";
import type { Me } from "./roles";

export type SessionState = { status: "loading" } | { status: "signed-out" } | { status: "signed-in"; me: Me };

export interface SessionValue {
  state: SessionState;
  /** Throws an ApiProblem when the sign-in is refused (401, 422, 429), for the sign-in page to word. */
  login: (email: string, password: string) => Promise<void>;
  logout: () => Promise<void>;
}

export const SessionContext = createContext<SessionValue | null>(null);

export function useSession(): SessionValue {
  const v = useContext(SessionContext);
  if (!v) throw new Error("useSession outside SessionProvider");
  return v;
}

/** The signed-in user; only for components rendered behind the sign-in gate. */
export function useMe(): Me {
  const { state } = useSession();
  if (state.status !== "signed-in") throw new Error("useMe while signed out");
  return state.me;
}
