import { listServices } from '../../actions/collect-package/collectors/services.js';
import { parseArgs } from '../args.js';
import { printable, table } from '../format.js';
import type { LiveCommand } from '../types.js';

/** `services`: systemd services (and SysV scripts) with their enablement and state. */
export const services: LiveCommand = {
  name: 'services',
  summary: 'List services (systemd units, SysV scripts): enabled, state, what they run',
  usage: 'services',
  level: 'basic',
  async run(args, ctx) {
    parseArgs(this, args, { maxOperands: 0 });
    ctx.trace('reading unit files in the systemd search path and /etc/init.d; asking systemctl for live states');
    const { rows, live } = await listServices(ctx.collect);
    ctx.signal.throwIfAborted();
    if (!live) ctx.write('systemd is not running here: states come from the unit files only.\n');
    ctx.write(table(['SERVICE', 'ENABLED', 'STATE', 'DESCRIPTION'], rows.map((s) => [printable(s.name), s.enabled, [s.active, s.sub].filter(Boolean).join('/') || '-', printable(s.description)])));
    return { data: { systemdRunning: live, services: rows } };
  },
};
