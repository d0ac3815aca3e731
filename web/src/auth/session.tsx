import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { api } from "../api/client";
import { unwrap } from "../api/errors";
import { onSessionChange, refreshSession, signIn, signOut } from "../api/token";
import type { Me } from "./roles";

type SessionState = { status: "loading" } | { status: "signed-out" } | { status: "signed-in"; me: Me };

interface SessionValue {
  state: SessionState;
  /** Throws the refused Response (401, 422, 429) for the sign-in page to word. */
  login: (email: string, password: string) => Promise<void>;
  logout: () => Promise<void>;
}

const SessionContext = createContext<SessionValue | null>(null);

async function loadMe(): Promise<Me> {
  return unwrap(api.GET("/api/v1/auth/me"));
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<SessionState>({ status: "loading" });
  const queryClient = useQueryClient();

  useEffect(() => {
    let live = true;
    // Silent sign-in: the refresh cookie, if the browser has one, keeps a reload signed in.
    void (async () => {
      const token = await refreshSession();
      if (!live) return;
      if (!token) return setState({ status: "signed-out" });
      try {
        const me = await loadMe();
        if (live) setState({ status: "signed-in", me });
      } catch {
        if (live) setState({ status: "signed-out" });
      }
    })();
    const off = onSessionChange((signedIn) => {
      if (!signedIn) {
        queryClient.clear();
        setState({ status: "signed-out" });
      }
    });
    return () => {
      live = false;
      off();
    };
  }, [queryClient]);

  const login = useCallback(async (email: string, password: string) => {
    await signIn(email, password);
    setState({ status: "signed-in", me: await loadMe() });
  }, []);

  const logout = useCallback(async () => {
    await signOut();
    queryClient.clear();
    setState({ status: "signed-out" });
  }, [queryClient]);

  const value = useMemo(() => ({ state, login, logout }), [state, login, logout]);
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

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
