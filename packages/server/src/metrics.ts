import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The server's Prometheus metrics, one registry per server instance (tests run several). */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'cordon_' });
  return {
    registry,
    agentsConnected: new Gauge({ name: 'cordon_agents_connected', help: 'Agents with an open connection', registers: [registry] }),
    agentFrames: new Counter({ name: 'cordon_agent_frames_total', help: 'Frames received from agents', labelNames: ['type'], registers: [registry] }),
    agentFramesRejected: new Counter({ name: 'cordon_agent_frames_rejected_total', help: 'Agent frames dropped before routing', labelNames: ['reason'], registers: [registry] }),
    actions: new Counter({ name: 'cordon_actions_total', help: 'Machine-action state changes', labelNames: ['type', 'status'], registers: [registry] }),
    commandsRefused: new Counter({ name: 'cordon_commands_refused_total', help: 'Commands agents refused to run', labelNames: ['reason'], registers: [registry] }),
    unauthenticated: new Counter({ name: 'cordon_unauthenticated_requests_total', help: 'Requests refused before anyone could be identified (unknown token, user, client or enrollment token): counted here, not audited', labelNames: ['route'], registers: [registry] }),
    auditWriteFailures: new Counter({ name: 'cordon_audit_write_failures_total', help: 'Audit records of refused requests that could not be written', registers: [registry] }),
    busMessagesSent: new Counter({ name: 'cordon_bus_notifications_sent_total', help: 'Notifications this node sent to the other nodes (PostgreSQL NOTIFY)', registers: [registry] }),
    notifyLag: new Histogram({ name: 'cordon_bus_notify_lag_seconds', help: 'Time from another node sending a notification to this node receiving it', buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5], registers: [registry] }),
    httpDuration: new Histogram({ name: 'cordon_http_request_duration_seconds', help: 'API request duration', labelNames: ['method', 'route', 'status'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry] }),
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
