import { openAsBlob, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Command } from 'commander';
import type { LibraryFile } from '../api-client.js';
import { clientFrom, CliError } from '../context.js';
import { print, safeText } from '../output.js';
import { withConn } from './machines.js';

interface Conn {
  server?: string;
  token?: string;
  json?: boolean;
}

const mib = (n: number) => (n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MiB` : `${n} B`);

const rows = (list: LibraryFile[]) => ({
  head: ['name', 'size', 'sha256', 'parameters', 'signed by', 'updated by', 'updated at', 'description'],
  rows: list.map((f) => [f.fileName, mib(f.size), f.sha256.slice(0, 16), f.hasParameters ? (f.parametersDescription ?? 'yes') : '', f.signedBy ?? '', f.lastUpdatedBy, f.lastUpdatedTime, f.description ?? '']),
});

/** Reads a file the CLI was pointed at, or says which one it could not read. */
function readable(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read ${what} ${path}: ${(e as Error).message}`);
  }
}

/** `cordon library list|upload|delete`: the live-response library (scripts and tools responders put on devices). */
export function registerLibraryCommands(program: Command): void {
  const library = program.command('library').description('the live-response library: scripts and tools responders put on devices and run there (admins upload and delete)');

  withConn(library.command('list').description('list the library files'))
    .action(async (o: Conn) => {
      const list = await clientFrom(o).libraryFiles();
      print(!!o.json, list, () => rows(list));
    });

  withConn(library.command('upload').description('upload a file to the library (streamed from disk, up to the server\'s libraryMaxFileBytes)').argument('<path>', 'the file'))
    .option('--name <name>', "the file's name in the library (default: the file's own name)")
    .option('--description <text>', 'what it does')
    .option('--parameters <text>', 'the parameters it takes (marks it as taking parameters)')
    .option('--override', 'replace a file of the same name')
    .option('--signature <file>', 'a file holding the base64 Ed25519 signature of the file (required when the server says libraryRequireSignature)')
    .option('--comment <text>', 'why (kept in the audit log)')
    .action(async (path: string, o: Conn & { name?: string; description?: string; parameters?: string; override?: boolean; signature?: string; comment?: string }) => {
      let file: Blob;
      try {
        file = await openAsBlob(path);
      } catch (e) {
        throw new CliError(`cannot read ${path}: ${(e as Error).message}`);
      }
      const signature = o.signature === undefined ? undefined : readable(o.signature, 'the signature file').trim();
      const f = await clientFrom(o).uploadLibraryFile(file, {
        fileName: o.name ?? basename(path),
        description: o.description,
        parametersDescription: o.parameters,
        override: o.override,
        signature,
        comment: o.comment,
      });
      print(!!o.json, f, () => rows([f]));
    });

  withConn(library.command('delete').description('delete a file from the library').argument('<name>', "the file's name in the library"))
    .option('--comment <text>', 'why (kept in the audit log)')
    .action(async (name: string, o: Conn & { comment?: string }) => {
      await clientFrom(o).deleteLibraryFile(name, o.comment);
      if (o.json) print(true, { deleted: name });
      else process.stdout.write(`deleted library file ${safeText(name)}\n`);
    });
}
