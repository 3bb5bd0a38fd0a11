import type { ResponseActionAvailability } from '@cordon/api-client';
import { useQuery } from '@tanstack/react-query';
import { useCallback } from 'react';
import { api, keys, ok } from './api';

/** The server's action catalog (labels, endpoints, options): fetched once per session, it changes only with the server. */
export function useActionTypes() {
  return useQuery({ queryKey: keys.actionTypes, queryFn: () => ok(api.GET('/api/actionTypes')), staleTime: Infinity });
}

/** Names an action type as people do; a type not (yet) known is shown as it is. */
export function useActionLabel(): (type: string) => string {
  const types = useActionTypes();
  return useCallback((type: string) => types.data?.value.find((t) => t.type === type)?.label ?? type, [types.data]);
}

/** Whether an action of a type can be cancelled while it runs (a scan stops), not only while it is Pending. */
export function useCancelWhileRunning(): (type: string) => boolean {
  const types = useActionTypes();
  return useCallback((type: string) => types.data?.value.find((t) => t.type === type)?.cancelWhileRunning ?? false, [types.data]);
}

/** Whether an action can be cancelled now: Pending, or running and of a type that stops when cancelled. */
export function useCancellable(): (action: { type: string; status: string }) => boolean {
  const stoppable = useCancelWhileRunning();
  return useCallback((a: { type: string; status: string }) => a.status === 'Pending' || (a.status === 'InProgress' && stoppable(a.type)), [stoppable]);
}

/** A catalog sentence for one device: `{device}` stands for its name. */
export const forDevice = (text: string, device: string): string => text.replaceAll('{device}', device);

/** A catalog action as its dialog takes it, for a page that offers it outside the action bar (the server checks role, agent and what is under way when it is submitted). */
export function useCatalogAction(type: string): ResponseActionAvailability | undefined {
  const types = useActionTypes();
  const t = types.data?.value.find((x) => x.type === type);
  if (!t) return undefined;
  const { type: action, barPosition: _onBar, ...info } = t;
  return { action, ...info, available: true, reason: null, undoes: null };
}
