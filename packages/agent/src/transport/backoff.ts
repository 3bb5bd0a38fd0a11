/** Exponential backoff with full jitter: spreads a fleet's reconnects after a server restart. */
export function backoffMs(attempt: number, maxSeconds: number, random = Math.random): number {
  const ceiling = Math.min(maxSeconds * 1000, 1000 * 2 ** Math.min(attempt, 16));
  return Math.round(500 + random() * ceiling);
}

/**
 * How long an agent connected away from its home server waits before trying home again: a random
 * point in the window, so that the agents of a node that restarts come back over the whole window
 * instead of all at once.
 */
export function returnHomeDelayMs(window: { min: number; max: number }, random = Math.random): number {
  return Math.round((window.min + random() * (window.max - window.min)) * 1000);
}
