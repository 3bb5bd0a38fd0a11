import { listProcesses, type ProcessRow } from '../../actions/collect-package/collectors/processes.js';
import { parseArgs } from '../args.js';
import { printable, table } from '../format.js';
import type { LiveCommand } from '../types.js';

/** `processes`: every process with its parent, user, start time and command line, from /proc. */
export const processes: LiveCommand = {
  name: 'processes',
  summary: 'List running processes: pid, parent, user, start time, command line',
  usage: 'processes',
  level: 'basic',
  async run(args, ctx) {
    parseArgs(this, args, { maxOperands: 0 });
    ctx.trace('reading /proc/<pid>/{stat,status,cmdline,exe,cwd}');
    const rows: Omit<ProcessRow, 'exeSha256'>[] = [];
    // A quick listing: executables are not hashed (fileinfo hashes one).
    for await (const { exeSha256: _, ...p } of listProcesses(ctx.collect, { hashes: false })) rows.push(p);
    ctx.signal.throwIfAborted();
    ctx.write(table(['PID', 'PPID', 'USER', 'STARTED', 'COMMAND'], rows.map((p) => [String(p.pid), String(p.ppid), printable(p.user), p.startTime.replace(/\.\d{3}Z$/, 'Z'), printable(p.commandLine)])));
    return { data: rows };
  },
};
