import type { ResponseActionAvailability } from '@cordon/api-client';

type Entry = Pick<ResponseActionAvailability, 'action' | 'available' | 'undoes'> & { destructive?: boolean };

/** Bar entries that are not machine actions: they open a dialog or a page of their own. */
const TOOLS = new Set(['ManageTags', 'LiveResponse']);

/**
 * The order actions claim a place in a crowded row: what undoes a state the device is in, what
 * contains a device (Isolate: `destructive`), the other usable machine actions, the usable tools
 * (tags, live response), then unavailable entries.
 */
const CLAIMS: ((a: Entry) => boolean)[] = [
  (a) => a.available && a.undoes !== null,
  (a) => a.available && a.undoes === null && a.destructive === true,
  (a) => a.available && a.undoes === null && a.destructive !== true && !TOOLS.has(a.action),
  (a) => a.available && a.undoes === null && a.destructive !== true && TOOLS.has(a.action),
  (a) => !a.available,
];

/**
 * Which of the action bar's entries fit in a row `room` wide, each taking `width(key)` (gap
 * included; the keys `ActionCenter` and `More` are those buttons): all of them when they do;
 * otherwise, with room kept for the Action center and the "More actions" button, first what undoes a
 * state the device is in (Release from isolation: the way out stays in sight), then what contains a
 * device (Isolate stays in sight too), then the other usable machine actions, then the usable tools
 * (tags, live response), then unavailable ones, each in the catalog's order, as long as any fits.
 */
export function fitInRow(actions: Entry[], width: (key: string) => number, room: number): Set<string> {
  room -= width('ActionCenter');
  if (actions.reduce((sum, a) => sum + width(a.action), 0) <= room) return new Set(actions.map((a) => a.action));
  room -= width('More');
  const shown = new Set<string>();
  for (const a of CLAIMS.flatMap((claims) => actions.filter(claims))) {
    if (width(a.action) > room) continue;
    room -= width(a.action);
    shown.add(a.action);
  }
  return shown;
}
