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

/** A catalog sentence for one device: `{device}` stands for its name. */
export const forDevice = (text: string, device: string): string => text.replaceAll('{device}', device);
