import { EventEmitter } from 'node:events';

/** What changed, pushed to live views (console, SSE) as it happens. */
export type CordonEvent =
  | { kind: 'action'; actionId: string; machineId: string; status: string }
  | { kind: 'machine'; machineId: string; change: 'online' | 'offline' | 'inventory' | 'tags' | 'enrolled' | 'isolation' | 'inactive' | 'credentialRevoked' | 'credentialInUseTwice' | 'risk' | 'restriction' }
  | { kind: 'timeline'; machineId: string; eventType: string }
  | { kind: 'alerts'; change: 'created' | 'updated'; alertIds: string[]; machineIds: string[] }
  /** A live-response session stored something new (a line, output, an end): its followers read it from the store. */
  | { kind: 'liveResponse'; sessionId: string; machineId: string }
  /** A Tab completion's answer was stored: the node that asked takes it from the store. */
  | { kind: 'liveCompletion'; completionId: string };

/** Live events of this node; with several nodes each event is also sent to the others (`forward`). */
export class EventHub {
  readonly #emitter = new EventEmitter();
  #forward: ((event: CordonEvent) => void) | null = null;
  constructor() {
    this.#emitter.setMaxListeners(0);
  }
  emit(event: CordonEvent): void {
    this.#emitter.emit('event', event);
    this.#forward?.(event);
  }
  /** An event this node's listeners were told of another way: sent to the other nodes only. */
  emitElsewhere(event: CordonEvent): void {
    this.#forward?.(event);
  }
  /** An event another node emitted: told to this node's listeners only. */
  emitLocal(event: CordonEvent): void {
    this.#emitter.emit('event', event);
  }
  forward(to: (event: CordonEvent) => void): void {
    this.#forward = to;
  }
  subscribe(listener: (e: CordonEvent) => void): () => void {
    this.#emitter.on('event', listener);
    return () => this.#emitter.off('event', listener);
  }
}

/**
 * Told when a credential is revoked (a token, an app, a user): long-lived answers such as the
 * event stream check their caller again at once instead of at their next periodic check.
 */
export class RevocationSignal {
  readonly #emitter = new EventEmitter();
  #forward: (() => void) | null = null;
  constructor() {
    this.#emitter.setMaxListeners(0);
  }
  revoked(): void {
    this.#emitter.emit('revoked');
    this.#forward?.();
  }
  /** A revocation on another node. */
  revokedLocal(): void {
    this.#emitter.emit('revoked');
  }
  forward(to: () => void): void {
    this.#forward = to;
  }
  subscribe(listener: () => void): () => void {
    this.#emitter.on('revoked', listener);
    return () => this.#emitter.off('revoked', listener);
  }
}
