import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ApiRequestError, type LiveSession } from '../api-client.js';
import { clientFrom, CliError } from '../context.js';
import { print, safeJson, safeJsonLine, since } from '../output.js';
import { LiveTerminal } from './live-terminal.js';
import { withConn } from './machines.js';

interface Conn {
  server?: string;
  token?: string;
  json?: boolean;
}

const rows = (list: LiveSession[]) => ({
  head: ['id', 'machine', 'opened by', 'level', 'state', 'status', 'lines', 'opened', 'end reason', 'comment'],
  rows: list.map((s) => [s.id, s.computerDnsName, s.openedBy, s.level, s.state, s.status, s.commands, since(s.createdAt), s.endReason ?? '', s.comment]),
});

/** Writes to FILE, or stdout when none is given. */
function emit(text: string, file: string | undefined): void {
  if (file === undefined) return void process.stdout.write(text);
  try {
    writeFileSync(file, text, { mode: 0o600 });
  } catch (e) {
    throw new CliError(`cannot write ${file}: ${(e as Error).message}`);
  }
}

/** `cordon live <machine>`: a live-response session on a device; `live sessions`, `live transcript <id>`. */
export function registerLiveCommands(program: Command): void {
  const live = program
    .command('live')
    .description('a live-response session on a device: type commands, the device answers (or: live sessions | live transcript <id>)')
    .argument('<machine>', 'id, name or IP address')
    .option('--server <url>', 'server URL (or CORDON_SERVER)')
    .option('--token <token>', 'API token (or CORDON_TOKEN)')
    .option('--comment <text>', 'why (kept on the session, in the audit log and on the timeline)', 'Live response from the CLI')
    .addHelpText('after', '\nLines from a pipe are run one by one, then the session ends:\n  printf "pwd\\nls /\\n" | cordon live web-01 --comment IR-42\n');
  live.action(async (ref: string, o: Conn & { comment: string }) => {
    const client = clientFrom(o);
    const machine = await client.resolveMachine(ref);
    let session: LiveSession;
    try {
      session = await client.openLiveSession(machine.id, o.comment);
    } catch (e) {
      if (!(e instanceof ApiRequestError)) throw e;
      throw new CliError(`cannot open a live-response session on ${machine.computerDnsName}: ${e.message}`);
    }
    await new LiveTerminal(client, session).run();
  });

  withConn(live.command('sessions').description('live-response sessions, newest first'))
    .option('--machine <machine>', 'only sessions on this machine (id, name or IP)')
    .option('--top <n>', 'at most this many', '100')
    .action(async (_o: unknown, cmd: Command) => {
      // `live` has the same connection options: whichever of the two parsed them, both count.
      const o = cmd.optsWithGlobals<Conn & { machine?: string; top: string }>();
      const client = clientFrom(o);
      const machineId = o.machine === undefined ? undefined : (await client.resolveMachine(o.machine)).id;
      const list = await client.liveSessions(machineId, Number(o.top));
      print(!!o.json, list, () => rows(list));
    });

  live
    .command('transcript')
    .description("a session's transcript: JSON, or with --cast an asciicast v2 recording (asciinema play)")
    .argument('<sessionId>', 'the session id')
    .option('--cast', 'the asciicast v2 recording instead of JSON')
    .option('-o, --output <file>', 'write it to this file (default: stdout)')
    .option('--server <url>', 'server URL (or CORDON_SERVER)')
    .option('--token <token>', 'API token (or CORDON_TOKEN)')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<Conn & { cast?: boolean; output?: string }>();
      const client = clientFrom(o);
      // Escaped like everything the CLI shows, where JSON allows it: the same value once parsed.
      if (o.cast) emit((await client.liveCast(id)).split('\n').map(safeJsonLine).join('\n'), o.output);
      else emit(`${safeJson(await client.liveTranscript(id))}\n`, o.output);
    });
}
