import type { Me } from '@cordon/api-client';
import { useQuery } from '@tanstack/react-query';
import { createContext, useContext, type ReactNode } from 'react';
import { Navigate, useLocation } from 'react-router';
import { api, ApiRequestError, keys, ok, queryClient, setCsrfToken, signInPath } from './api';
import { FullPageLoader, ErrorState } from './components/QueryState';

const SessionContext = createContext<Me | null>(null);

/** The signed-in user; only used below <RequireSession>, where it is always set. */
export function useMe(): Me {
  const me = useContext(SessionContext);
  if (!me) throw new Error('useMe() outside <RequireSession>');
  return me;
}

/** Whether the signed-in role holds a permission (the server checks again on every call). */
export type Permission = Me['permissions'][number];

export function useCan(): (permission: Permission) => boolean {
  const me = useMe();
  return (p) => me.permissions.includes(p);
}

export async function fetchMe(): Promise<Me> {
  const me = await ok(api.GET('/api/auth/me'));
  setCsrfToken(me.csrfToken ?? undefined);
  return me;
}

const meQuery = { queryKey: keys.me, queryFn: fetchMe, staleTime: 60_000 };

/** Asks who is signed in ahead of the first render (the routes' loader). */
export function prefetchMe(): void {
  void queryClient.prefetchQuery(meQuery);
}

/** Renders its children for a signed-in user; otherwise goes to sign-in, remembering this page. */
export function RequireSession({ children }: { children: ReactNode }) {
  const location = useLocation();
  const me = useQuery(meQuery);
  if (me.isPending) return <FullPageLoader />;
  if (me.error instanceof ApiRequestError && me.error.status === 401) return <Navigate to={signInPath(location.pathname + location.search)} replace />;
  if (me.error) return <ErrorState error={me.error} onRetry={() => void me.refetch()} />;
  return <SessionContext.Provider value={me.data}>{children}</SessionContext.Provider>;
}
