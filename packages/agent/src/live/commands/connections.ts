import { procNetConnections } from '../../actions/collect-package/collectors/network-connections.js';
import { parseArgs } from '../args.js';
import { printable, table } from '../format.js';
import type { LiveCommand } from '../types.js';

const PROTOCOLS = ['tcp', 'tcp6', 'udp', 'udp6'] as const;

/** `connections`: TCP and UDP sockets with the processes holding them, from /proc/net and /proc/<pid>/fd. */
export const connections: LiveCommand = {
  name: 'connections',
  summary: 'List TCP and UDP sockets with the process (pid/program) holding each',
  usage: 'connections',
  level: 'basic',
  async run(args, ctx) {
    parseArgs(this, args, { maxOperands: 0 });
    ctx.trace(`reading ${PROTOCOLS.map((p) => `/proc/net/${p}`).join(', ')} and /proc/<pid>/fd`);
    const sockets = await procNetConnections(ctx.collect, PROTOCOLS);
    ctx.signal.throwIfAborted();
    ctx.write(table(['PROTO', 'STATE', 'LOCAL', 'REMOTE', 'PROCESS'], sockets.map((s) => [s.proto, s.state, s.local, s.remote, s.owners.map((o) => `${o.pid}/${printable(o.program)}`).join(',')])));
    return { data: sockets };
  },
};
