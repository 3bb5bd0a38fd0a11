import { scheduledTasks } from '../../actions/collect-package/collectors/scheduled-tasks.js';
import { parseArgs } from '../args.js';
import { printable, table } from '../format.js';
import type { LiveCommand } from '../types.js';

/** `scheduledtasks`: cron and anacron entries, systemd timers and at jobs. */
export const scheduledtasks: LiveCommand = {
  name: 'scheduledtasks',
  summary: 'List scheduled tasks: cron and anacron entries, systemd timers, at jobs',
  usage: 'scheduledtasks',
  level: 'basic',
  async run(args, ctx) {
    parseArgs(this, args, { maxOperands: 0 });
    ctx.trace('reading /etc/crontab, /etc/cron.d, /var/spool/cron, /etc/anacrontab, /etc/cron.*, *.timer units, at spool');
    const tasks = await scheduledTasks(ctx.collect);
    ctx.signal.throwIfAborted();
    ctx.write(table(['TYPE', 'USER', 'SCHEDULE', 'ENABLED', 'COMMAND', 'FILE'], tasks.map((t) => [t.type, printable(t.user), printable(t.schedule), t.enabled, printable(t.command), printable(t.file)])));
    return { data: tasks };
  },
};
