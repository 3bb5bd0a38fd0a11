import { createHash } from 'node:crypto';
import { backoffMs, returnHomeDelayMs } from './backoff.js';

/**
 * The server URLs given at enrollment (`--server URL[,URL…]`, one node each), checked: each must be
 * an https URL (the agent gateway speaks TLS only). Answers their origins, in the order given,
 * without repeats; throws naming the first bad one.
 */
export function parseServerUrls(input: string | readonly string[]): string[] {
  const pieces = (typeof input === 'string' ? input.split(',') : input).map((s) => s.trim()).filter((s) => s !== '');
  if (pieces.length === 0) throw new Error('No server URL given; use the agent URL the server printed, e.g. https://server:8443 (several nodes: comma-separated)');
  const origins: string[] = [];
  for (const piece of pieces) {
    let url: URL;
    try {
      url = new URL(piece);
    } catch {
      throw new Error(`'${piece}' is not a URL; use the agent URL the server printed, e.g. https://server:8443`);
    }
    if (url.protocol !== 'https:') throw new Error(`'${piece}' is not an https URL: the agent gateway speaks TLS, use https://…`);
    if (!origins.includes(url.origin)) origins.push(url.origin);
  }
  return origins;
}

/** A URL's weight for one machine (rendezvous hashing): the same on every run, unrelated between machines. */
const weight = (machineId: string, url: string): bigint => BigInt(`0x${createHash('sha256').update(`${machineId}\n${url}`).digest('hex').slice(0, 16)}`);

/**
 * The order in which this machine tries the servers: its home first, then the others. Rendezvous
 * hashing spreads a fleet evenly over the nodes whatever order each agent was given the URLs in,
 * and the agents of a node that is gone spread evenly over the ones left (each has its own next).
 */
export function rankServers(machineId: string, urls: readonly string[]): string[] {
  const weights = new Map(urls.map((u) => [u, weight(machineId, u)]));
  return [...urls].sort((a, b) => {
    const wa = weights.get(a)!;
    const wb = weights.get(b)!;
    return wa === wb ? a.localeCompare(b) : wa > wb ? -1 : 1;
  });
}

export interface FailoverOptions {
  /** Longest wait between two connection attempts. */
  reconnectMaxSeconds: number;
  /** Away from home, the agent tries home again after a random wait in this window (seconds). */
  returnHomeSeconds: { min: number; max: number };
  random?: () => number;
}

/**
 * Which server an agent connects to: its home while home answers; when a connection fails or
 * drops, the next one in its order after a backoff with jitter; and, connected away from home,
 * when to try going back.
 */
export class ServerChoice {
  /** Home first. */
  readonly order: readonly string[];
  #index = 0;
  #attempt = 0;
  readonly #random: () => number;

  constructor(
    machineId: string,
    urls: readonly string[],
    private readonly opts: FailoverOptions,
  ) {
    if (urls.length === 0) throw new Error('no server URL to connect to');
    this.order = rankServers(machineId, urls);
    this.#random = opts.random ?? Math.random;
  }

  get home(): string {
    return this.order[0]!;
  }

  get current(): string {
    return this.order[this.#index]!;
  }

  get atHome(): boolean {
    return this.#index === 0;
  }

  /** The servers for a request: the current one first, then the others in order. */
  preferred(): string[] {
    return [...this.order.slice(this.#index), ...this.order.slice(0, this.#index)];
  }

  /** Connected to the current server: the backoff starts over. Answers when to try home again (ms), or null at home. */
  connected(): number | null {
    this.#attempt = 0;
    return this.atHome ? null : this.homeRetryMs();
  }

  /** The connection to the current server failed or dropped: the next server, and how long to wait before trying it. */
  failed(): { url: string; waitMs: number } {
    this.#index = (this.#index + 1) % this.order.length;
    return { url: this.current, waitMs: backoffMs(this.#attempt++, this.opts.reconnectMaxSeconds, this.#random) };
  }

  /** A random wait before asking home again. */
  homeRetryMs(): number {
    return returnHomeDelayMs(this.opts.returnHomeSeconds, this.#random);
  }

  /** Home answered: the next connection goes there. */
  returnHome(): void {
    this.#index = 0;
  }
}

/** For one-off HTTP requests: sticks to the server that last answered, and moves on from one that did not. */
export class ServerCursor {
  #index = 0;

  constructor(readonly urls: readonly string[]) {
    if (urls.length === 0) throw new Error('no server URL to send requests to');
  }

  get current(): string {
    return this.urls[this.#index]!;
  }

  /** No answer from `url` (refused, reset, timed out): the next request goes to the next server. */
  failed(url: string): void {
    if (this.current === url) this.#index = (this.#index + 1) % this.urls.length;
  }
}
