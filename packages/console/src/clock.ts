import { useCallback, useSyncExternalStore } from 'react';

/** One timer per rate, shared by every component that reads it (a list of fifty "… ago" cells costs one). */
interface Ticker {
  now: number;
  listeners: Set<() => void>;
  timer: number | undefined;
}
const tickers = new Map<number, Ticker>();

function tickerOf(everyMs: number): Ticker {
  let t = tickers.get(everyMs);
  if (!t) tickers.set(everyMs, (t = { now: Date.now(), listeners: new Set(), timer: undefined }));
  return t;
}

function subscribe(everyMs: number, listener: () => void): () => void {
  const t = tickerOf(everyMs);
  t.listeners.add(listener);
  if (t.timer === undefined) {
    t.now = Date.now(); // an idle ticker's time is old: the store sees the change and renders again
    t.timer = window.setInterval(() => {
      t.now = Date.now();
      for (const l of t.listeners) l();
    }, everyMs);
  }
  return () => {
    t.listeners.delete(listener);
    if (t.listeners.size === 0) {
      window.clearInterval(t.timer);
      t.timer = undefined;
    }
  };
}

/** The current time, read again every `everyMs`, so relative times ("5 seconds ago") move on while a page stays open. */
export function useNow(everyMs: number): number {
  const sub = useCallback((listener: () => void) => subscribe(everyMs, listener), [everyMs]);
  return useSyncExternalStore(sub, () => tickerOf(everyMs).now);
}
