import type { Logger } from 'pino';
import type { DeviceEvent } from '@cordon/protocol';

/**
 * Where events agents report on their own (detections, blocked executions) go. Delivery is at
 * least once: an event may arrive again (after a reconnect) and is recognised by its `eventId`.
 */
export interface DeviceEventsSink {
  /** Takes one event from a device; the gateway acknowledges it once this resolves, and not if it throws. */
  accept(machineId: string, event: DeviceEvent): Promise<void>;
}

/** Until the alerts feature stores events, they are logged. */
export class LoggingDeviceEventsSink implements DeviceEventsSink {
  constructor(private readonly logger: Logger) {}

  async accept(machineId: string, event: DeviceEvent): Promise<void> {
    this.logger.info({ machineId, eventId: event.eventId, kind: event.kind, occurredAt: event.occurredAt, data: event.data }, 'device event');
  }
}
