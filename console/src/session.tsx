// The signed-in operator: GET /api/v1/session on load; sign-in, sign-out and the agency's
// enterprise switch go through the API like everything else.
import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from "react";
import { api, call, type Schemas } from "./api/client";

export type Session = Schemas["SessionView"];
type Ctx = {
  session: Session | null | undefined; // undefined: still asking
  signIn: (username: string, password: string) => Promise<void>;
  signOut: () => Promise<void>;
  switchTo: (code: string) => Promise<void>;
};

const SessionContext = createContext<Ctx>(null as unknown as Ctx);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  useEffect(() => {
    api.GET("/api/v1/session").then(({ data }) => setSession(data ?? null), () => setSession(null));
  }, []);
  const signIn = useCallback(async (username: string, password: string) => {
    setSession(await call(api.POST("/api/v1/session", { body: { username, password } })));
  }, []);
  const signOut = useCallback(async () => {
    await api.DELETE("/api/v1/session");
    setSession(null);
  }, []);
  const switchTo = useCallback(async (code: string) => {
    setSession(await call(api.PUT("/api/v1/session/enterprise", { body: { enterprise_code: code } })));
  }, []);
  return <SessionContext.Provider value={{ session, signIn, signOut, switchTo }}>{children}</SessionContext.Provider>;
}

export function useSession(): Ctx {
  return useContext(SessionContext);
}
