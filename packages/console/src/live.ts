import type { LiveEvent } from '@cordon/api-client';
import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { keys } from './api';

export type LiveState = 'connecting' | 'live' | 'reconnecting';

/**
 * Changes are gathered this long before views refetch: a busy fleet (or an ingest of hundreds of
 * alerts a second) costs one refetch per view per second.
 */
const FLUSH_MS = 1000;

/**
 * Keeps every open view current: the server pushes each change as a server-sent event, and the
 * queries it touches are refetched (batched, so a burst of changes costs one refetch per view).
 * EventSource retries by itself after a dropped connection; when the server refuses the stream
 * (e.g. the session ended) it is reopened with a growing delay. After any gap everything is
 * refetched, since events sent meanwhile were missed.
 */
export function useLiveUpdates(): LiveState {
  const queryClient = useQueryClient();
  const [state, setState] = useState<LiveState>('connecting');

  useEffect(() => {
    let source: EventSource | null = null;
    let retryTimer: number | undefined;
    let flushTimer: number | undefined;
    let delay = 1000;
    let hadGap = false;
    const pending = new Set<string>();

    const flush = () => {
      flushTimer = undefined;
      for (const key of pending) void queryClient.invalidateQueries({ queryKey: JSON.parse(key) as readonly unknown[] });
      pending.clear();
    };
    const touch = (...queryKeys: (readonly unknown[])[]) => {
      for (const k of queryKeys) pending.add(JSON.stringify(k));
      flushTimer ??= window.setTimeout(flush, FLUSH_MS);
    };
    const onEvent = (e: MessageEvent<string>) => {
      const ev = JSON.parse(e.data) as LiveEvent;
      // Alerts come one event per ingest batch, possibly hundreds of ids: every alert list and open alert page refetch once.
      // An open scan's detections link to their alerts once these are stored.
      if (ev.kind === 'alerts') touch(keys.alerts(), keys.alert(), keys.action());
      else if (ev.kind === 'action') touch(keys.actions(), keys.machine(ev.machineId), keys.timeline(ev.machineId), keys.responseActions(ev.machineId), keys.quarantine(ev.machineId));
      else if (ev.kind === 'machine') touch(keys.machines(), keys.machine(ev.machineId), keys.responseActions(ev.machineId));
      else touch(keys.timeline(ev.machineId));
    };

    const open = () => {
      source = new EventSource('/api/events');
      source.onopen = () => {
        setState('live');
        delay = 1000;
        if (hadGap) void queryClient.invalidateQueries();
        hadGap = false;
      };
      source.onerror = () => {
        hadGap = true;
        setState('reconnecting');
        if (source?.readyState === EventSource.CLOSED) {
          source.close();
          retryTimer = window.setTimeout(open, delay);
          delay = Math.min(delay * 2, 30_000);
          // A refused stream may mean the session ended: let the session query find out.
          void queryClient.invalidateQueries({ queryKey: keys.me });
        }
      };
      for (const kind of ['action', 'machine', 'timeline', 'alerts']) source.addEventListener(kind, onEvent as EventListener);
    };
    open();
    return () => {
      source?.close();
      window.clearTimeout(retryTimer);
      window.clearTimeout(flushTimer);
    };
  }, [queryClient]);

  return state;
}
