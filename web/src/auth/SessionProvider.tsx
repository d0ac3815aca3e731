// Holds the console session: a silent sign-in on load, then sign-in and sign-out (hooks: session.ts).
import { useCallback, useEffect, useMemo, useState, type ReactNode } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { api } from "../api/client";
import { unwrap } from "../api/errors";
import { onSessionChange, refreshSession, signIn, signOut } from "../api/token";
import type { Me } from "./roles";
import { SessionContext, type SessionState } from "./session";

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
