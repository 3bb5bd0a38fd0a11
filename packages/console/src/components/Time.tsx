import { Tooltip } from '@mantine/core';
import { ago, formatTime, useTimesInUtc } from '../format';

/** A point in time with its zone, following the UTC switch. */
export function Time({ value }: { value: string | null | undefined }) {
  const utc = useTimesInUtc();
  return <time dateTime={value ?? undefined}>{formatTime(value, utc)}</time>;
}

/**
 * "3 minutes ago", with the exact time and its zone on hover: a Tooltip where there is one such
 * time (focusable too), a title in tables (fifty tooltip instances cost more to mount than the rest of the rows).
 */
export function Ago({ value, tooltip = false }: { value: string | null | undefined; tooltip?: boolean }) {
  const utc = useTimesInUtc();
  if (!value) return <span>{ago(value)}</span>;
  if (!tooltip) {
    return (
      <time dateTime={value} title={formatTime(value, utc)}>
        {ago(value)}
      </time>
    );
  }
  return (
    <Tooltip label={formatTime(value, utc)}>
      <time dateTime={value} tabIndex={0}>
        {ago(value)}
      </time>
    </Tooltip>
  );
}
