import { ApiRequestError, createCordonClient, ok } from '@cordon/api-client';
import { MutationCache, QueryCache, QueryClient } from '@tanstack/react-query';

export { ApiRequestError, ok };

/**
 * The console's one API client. The session cookie rides along by itself (same origin); every
 * change also carries the session's CSRF token, which the server checks against the cookie.
 */
let csrfToken: string | undefined;
export const setCsrfToken = (token: string | undefined): void => {
  csrfToken = token;
};

/** Where an expired session sends the user: sign-in, remembering the page they were on (the start page needs no remembering). */
export function signInPath(next = window.location.pathname + window.location.search): string {
  return next.startsWith('/signin') || next === '/' ? '/signin' : `/signin?next=${encodeURIComponent(next)}`;
}

let onUnauthorized: () => void = () => undefined;
export const whenUnauthorized = (fn: () => void): void => {
  onUnauthorized = fn;
};

export const api = createCordonClient({
  baseUrl: window.location.origin,
  headers: (): Record<string, string> => (csrfToken ? { 'x-csrf-token': csrfToken } : {}),
});

/** Turns an API failure into the sentence to show; the API's own message when it sent one. */
export function messageOf(err: unknown): string {
  if (err instanceof ApiRequestError) return err.message;
  return err instanceof Error ? err.message : String(err);
}

// An expired session anywhere returns to sign-in; the page the user was on is kept in `next`.
// A CSRF token replaced by a sign-in elsewhere is fetched again, so the user's retry goes through.
function onApiError(err: unknown): void {
  if (err instanceof ApiRequestError && err.status === 401) onUnauthorized();
  if (err instanceof ApiRequestError && err.code === 'CsrfTokenMissing') void queryClient.invalidateQueries({ queryKey: keys.me });
}

export const queryClient = new QueryClient({
  queryCache: new QueryCache({ onError: onApiError }),
  mutationCache: new MutationCache({ onError: onApiError }),
  defaultOptions: {
    queries: {
      staleTime: 10_000,
      retry: (count, err) => !(err instanceof ApiRequestError && err.status >= 400 && err.status < 500) && count < 2,
      refetchOnWindowFocus: true,
    },
  },
});

/** OData string literal: quotes doubled, as the API's $filter expects. */
export const literal = (s: string): string => `'${s.replace(/'/g, "''")}'`;

/** Query keys, one place: live updates invalidate by these prefixes. */
export const keys = {
  me: ['me'] as const,
  machines: (params?: object) => (params ? (['machines', params] as const) : (['machines'] as const)),
  machine: (id: string) => ['machine', id] as const,
  actions: (params?: object) => (params ? (['actions', params] as const) : (['actions'] as const)),
  /** One action (its detail pane): under `actions`, so every action change refreshes it too. */
  action: (id?: string) => (id ? (['actions', 'one', id] as const) : (['actions', 'one'] as const)),
  timeline: (id: string, params?: object) => (params ? (['timeline', id, params] as const) : (['timeline', id] as const)),
  responseActions: (id: string) => ['responseActions', id] as const,
  /** A device's quarantined files: every action on the device refreshes them. */
  quarantine: (id: string) => ['quarantine', id] as const,
  isolationPolicy: (id: string) => ['isolationPolicy', id] as const,
  actionTypes: ['actionTypes'] as const,
  /** Credentials of one kind (tokens, apps, users, enrollmentTokens): every revocation refreshes them all. */
  credentials: (kind?: string) => (kind ? (['credentials', kind] as const) : (['credentials'] as const)),
  audit: (params?: object) => (params ? (['audit', params] as const) : (['audit'] as const)),
  /** Every list of alerts (the queue, a device's tab, the dashboard card): any alert change refreshes them all. */
  alerts: (params?: object) => (params ? (['alerts', params] as const) : (['alerts'] as const)),
  alert: (id?: string) => (id ? (['alert', id] as const) : (['alert'] as const)),
  deviceGroups: ['deviceGroups'] as const,
  indicators: (params?: object) => (params ? (['indicators', params] as const) : (['indicators'] as const)),
};
