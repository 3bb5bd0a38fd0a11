import { EventEmitter } from 'node:events';

/** What changed, pushed to live views (console, SSE) as it happens. */
export type CordonEvent =
  | { kind: 'action'; actionId: string; machineId: string; status: string }
  | { kind: 'machine'; machineId: string; change: 'online' | 'offline' | 'inventory' | 'tags' | 'enrolled' | 'isolation' | 'inactive' | 'credentialRevoked' | 'credentialInUseTwice' }
  | { kind: 'timeline'; machineId: string; eventType: string };

export class EventHub {
  readonly #emitter = new EventEmitter();
  constructor() {
    this.#emitter.setMaxListeners(0);
  }
  emit(event: CordonEvent): void {
    this.#emitter.emit('event', event);
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
  constructor() {
    this.#emitter.setMaxListeners(0);
  }
  revoked(): void {
    this.#emitter.emit('revoked');
  }
  subscribe(listener: () => void): () => void {
    this.#emitter.on('revoked', listener);
    return () => this.#emitter.off('revoked', listener);
  }
}
