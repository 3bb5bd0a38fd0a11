import type { ComponentPropsWithRef } from 'react';
import { useNow } from '../clock';
import { ago } from '../format';

/** How often the words can change: every second under a minute, then every 15 s, then every minute. */
const tickFor = (ageMs: number): number => (ageMs < 60_000 ? 1000 : ageMs < 3_600_000 ? 15_000 : 60_000);

/** "5 seconds ago", kept current as time passes; the exact time is in `datetime`. */
export function Ago({ iso, ...props }: { iso: string | null | undefined } & Omit<ComponentPropsWithRef<'time'>, 'children' | 'dateTime'>) {
  const now = useNow(tickFor(iso ? Math.abs(Date.now() - Date.parse(iso)) : Infinity));
  return (
    <time dateTime={iso ?? undefined} {...props}>
      {ago(iso, now)}
    </time>
  );
}
