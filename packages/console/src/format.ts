import { useSyncExternalStore } from 'react';

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

// --- the time zone times are shown in -------------------------------------------------------

const UTC_KEY = 'cordon.timesInUtc';
const readUtc = (): boolean => {
  try {
    return globalThis.localStorage?.getItem(UTC_KEY) === '1';
  } catch {
    return false; // storage refused (privacy settings): local times, not remembered
  }
};
let utc = readUtc();
const listeners = new Set<() => void>();

/** Shows every time in the console in UTC (as the CLI and CSV exports do), or in the browser's zone; remembered in this browser. */
export function setTimesInUtc(on: boolean): void {
  utc = on;
  try {
    if (on) localStorage.setItem(UTC_KEY, '1');
    else localStorage.removeItem(UTC_KEY);
  } catch {
    // not remembered, still applied
  }
  for (const l of listeners) l();
}

/** Whether times are shown in UTC; components using it re-render when the switch moves. */
export function useTimesInUtc(): boolean {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => utc,
  );
}

const pad = (n: number) => String(n).padStart(2, '0');

/**
 * "2026-11-30 01:02:03 UTC+01:00" in the browser's zone, or "2026-11-30 00:02:03 UTC": the zone is
 * always said, since the CLI, the CSV export and colleagues elsewhere use other zones.
 */
export function formatTime(iso: string | null | undefined, inUtc = utc): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const offset = inUtc ? 0 : -d.getTimezoneOffset();
  const text = new Date(d.getTime() + offset * 60_000).toISOString();
  const zone = inUtc ? 'UTC' : `UTC${offset < 0 ? '-' : '+'}${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`;
  return `${text.slice(0, 10)} ${text.slice(11, 19)} ${zone}`;
}

/** "3 minutes ago": for last-seen columns, where the order of magnitude matters. */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return 'never';
  const s = Math.round((new Date(iso).getTime() - now) / 1000);
  const abs = Math.abs(s);
  if (abs < 60) return relative.format(s, 'second');
  if (abs < 3600) return relative.format(Math.round(s / 60), 'minute');
  if (abs < 86400) return relative.format(Math.round(s / 3600), 'hour');
  return relative.format(Math.round(s / 86400), 'day');
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}
