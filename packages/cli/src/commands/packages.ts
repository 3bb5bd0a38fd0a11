import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { packageFileName } from '@cordon/protocol';
import type { CordonClient, MachineAction } from '../api-client.js';
import { clientFrom, CliError } from '../context.js';
import { print } from '../output.js';
import { actionProgress, bar, progressLine } from '../progress.js';
import { withConn } from './machines.js';

interface Conn {
  server?: string;
  token?: string;
  json?: boolean;
}

const mb = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MB`;

/**
 * The name the server gives the download (`<host>-<UTC time>-investigation-package.zip`), taken
 * only when it is a plain file name: a header never chooses a directory or a hidden file.
 */
export function serverFileName(contentDisposition: string | null): string | undefined {
  const name = /filename="([^"]*)"/.exec(contentDisposition ?? '')?.[1];
  return name && /^[A-Za-z0-9][A-Za-z0-9._-]*\.zip$/.test(name) ? name : undefined;
}

/**
 * Downloads a package through GetPackageUri, checking its SHA-256; written to a temp name first.
 * Saved as `file`, or else under the name the server gives it (in the current directory).
 */
export async function downloadPackage(client: CordonClient, action: MachineAction, file: string | undefined, showProgress: boolean): Promise<{ file: string; size: number; sha256: string }> {
  const { value } = await client.packageUri(action.id);
  const res = await fetch(value);
  if (!res.ok || !res.body) throw new CliError(`downloading the package failed: HTTP ${res.status}`);
  file ??= serverFileName(res.headers.get('content-disposition')) ?? packageFileName(action.computerDnsName, action.lastUpdateDateTimeUtc);
  const total = Number(res.headers.get('content-length') ?? 0);
  const expected = res.headers.get('x-content-sha256');
  const hash = createHash('sha256');
  let got = 0;
  const line = progressLine(showProgress);
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      got += chunk.length;
      line.show(`downloading ${bar(total ? got / total : 0)} ${mb(got)}${total ? ` of ${mb(total)}` : ''}`);
      done(null, chunk);
    },
  });
  const tmp = `${file}.part`;
  try {
    await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), tap, createWriteStream(tmp, { mode: 0o600 }));
  } catch (e) {
    await rm(tmp, { force: true });
    throw new CliError(`downloading the package failed: ${(e as Error).message}`);
  } finally {
    line.done();
  }
  const sha256 = hash.digest('hex');
  if (expected && expected !== sha256) {
    await rm(tmp, { force: true });
    throw new CliError(`the downloaded package does not match its SHA-256 (${sha256} instead of ${expected}); try again`);
  }
  await rename(tmp, file);
  return { file, size: got, sha256 };
}

export function registerPackageCommands(program: Command): void {
  withConn(program.command('package').description('collect an investigation package from a machine and download it (or download an earlier one with --action)').argument('[machine]', 'id, name or IP'))
    .option('--comment <text>', 'why (required to collect; recorded with the action)')
    .option('--action <id>', 'download the package of this earlier CollectInvestigationPackage action instead of collecting')
    .option('-o, --output <file>', 'where to write the zip (default: <host>-<UTC time>-investigation-package.zip, here)')
    .option('--timeout <minutes>', 'how long to wait for the collection', '60')
    .action(async (ref: string | undefined, o: Conn & { comment?: string; action?: string; output?: string; timeout: string }) => {
      const client = clientFrom(o);
      const tty = !o.json && process.stderr.isTTY === true;
      let action: MachineAction;
      if (o.action) {
        action = await client.action(o.action);
      } else {
        if (!ref) throw new CliError('name the machine to collect from, or give --action <id> to download an earlier package');
        if (!o.comment?.trim()) throw new CliError('--comment is required: say why you collect this package');
        const m = await client.resolveMachine(ref);
        action = await client.submit(m.id, 'collectInvestigationPackage', { Comment: o.comment });
        const shown = actionProgress(!!o.json);
        action = await client.waitFor(action.id, Number(o.timeout) * 60_000, (a) => shown.show(a));
        shown.done();
        if (action.status !== 'Succeeded') throw new CliError(`action ${action.id} ended ${action.status}${action.error ? `: ${action.error}` : ''}`);
      }
      const d = await downloadPackage(client, action, o.output, tty);
      const out = { actionId: action.id, machine: action.computerDnsName, file: d.file, size: d.size, sha256: d.sha256, result: action.result };
      print(!!o.json, out, () => ({ head: ['action', 'machine', 'file', 'size', 'sha256'], rows: [[action.id, action.computerDnsName, d.file, mb(d.size), d.sha256]] }));
    });

  withConn(program.command('packages').description("list a machine's investigation packages, newest first").argument('<machine>', 'id, name or IP')).action(async (ref: string, o: Conn) => {
    const client = clientFrom(o);
    const list = await client.packages((await client.resolveMachine(ref)).id);
    print(!!o.json, list, () => ({ head: ['action', 'created', 'size', 'sha256', 'expires', 'available'], rows: list.map((p) => [p.actionId, p.createdAt, mb(p.size), p.sha256, p.expiresAt, p.available ? 'yes' : 'no (retention ended)']) }));
  });
}
