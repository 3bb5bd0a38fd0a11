import { Tooltip } from '@mantine/core';
import type { ComponentPropsWithRef } from 'react';
import { useNow } from '../clock';
import { ago, formatTime, useTimesInUtc } from '../format';

/** A point in time with its zone, following the UTC switch. */
export function Time({ value }: { value: string | null | undefined }) {
  const utc = useTimesInUtc();
  return <time dateTime={value ?? undefined}>{formatTime(value, utc)}</time>;
}

/** How often "… ago" can change: every second under a minute, then every 15 s, then every minute. */
const tickFor = (ageMs: number): number => (ageMs < 60_000 ? 1000 : ageMs < 3_600_000 ? 15_000 : 60_000);

/**
 * "3 minutes ago", kept current while the page stays open, with the exact time and its zone on
 * hover: a Tooltip where there is one such time (focusable too), a title in tables (fifty tooltip
 * instances cost more to mount than the rest of the rows).
 */
export function Ago({ value, tooltip = false, ...props }: { value: string | null | undefined; tooltip?: boolean } & Omit<ComponentPropsWithRef<'time'>, 'children' | 'dateTime' | 'title'>) {
  const utc = useTimesInUtc();
  const now = useNow(tickFor(value ? Math.abs(Date.now() - Date.parse(value)) : Infinity));
  if (!value) return <span {...props}>{ago(value, now)}</span>;
  const time = (
    <time dateTime={value} title={tooltip ? undefined : formatTime(value, utc)} tabIndex={tooltip ? 0 : undefined} {...props}>
      {ago(value, now)}
    </time>
  );
  return tooltip ? <Tooltip label={formatTime(value, utc)}>{time}</Tooltip> : time;
}
