import { EventEmitter } from 'node:events';

/** What changed, pushed to live views (console, SSE) as it happens. */
export type CordonEvent =
  | { kind: 'action'; actionId: string; machineId: string; status: string }
  | { kind: 'machine'; machineId: string; change: 'online' | 'offline' | 'inventory' | 'tags' | 'enrolled' | 'isolation' | 'inactive' }
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
