import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Command } from 'commander';
import { ApiRequestError, type RulePack } from '../api-client.js';
import { clientFrom, CliError } from '../context.js';
import { print, safeText } from '../output.js';
import { withConn } from './machines.js';

interface Conn {
  server?: string;
  token?: string;
  json?: boolean;
}

const rows = (list: RulePack[]) => ({
  head: ['name', 'version', 'rules', 'uploaded by', 'uploaded at', 'description'],
  rows: list.map((p) => [p.name, p.builtIn ? 'built in' : String(p.version), String(p.ruleCount), p.uploadedBy ?? '', p.uploadedAt ?? '', p.description ?? '']),
});

/** A rule pack that did not compile, as a compiler says it: one `file:line:column: message` line per error. */
export function compilerErrors(e: ApiRequestError, file: string): CliError {
  const lines = e.details.map((d) => {
    const at = /^source:(\d+)(?::(\d+))?$/.exec(d.target ?? '');
    return `${file}${at ? `:${at[1]}${at[2] ? `:${at[2]}` : ''}` : ''}: ${d.message.replace(/^[^:]+: /, '')} (${d.code})`;
  });
  return new CliError(lines.length > 0 ? `${e.message.replace(/:.*$/s, '')}:\n${lines.join('\n')}` : e.message);
}

/** `cordon rulepacks list|show|upload|delete`: the YARA rule packs scans use. */
export function registerRulePackCommands(program: Command): void {
  const packs = program.command('rulepacks').description('YARA rule packs that scans use besides the built-in one (admins upload and delete them)');

  withConn(packs.command('list').description('list the rule packs in force'))
    .action(async (o: Conn) => {
      const list = await clientFrom(o).rulePacks();
      print(!!o.json, list, () => rows(list));
    });

  withConn(packs.command('show').description("print a rule pack's YARA source (with --json: its versions too)").argument('<name>', 'the pack'))
    .action(async (name: string, o: Conn) => {
      const p = await clientFrom(o).rulePack(name);
      if (o.json) print(true, p);
      else process.stdout.write(p.source.endsWith('\n') ? p.source : `${p.source}\n`);
    });

  withConn(packs.command('upload').description('upload a rule pack, or the next version of one; refused with the compiler\'s errors when it does not compile').argument('<file>', 'a .yar file'))
    .option('--name <name>', 'the pack\'s name (default: the file name without .yar)')
    .option('--description <text>', 'what the pack is for')
    .option('--comment <text>', 'why (kept in the audit log)')
    .action(async (path: string, o: Conn & { name?: string; description?: string; comment?: string }) => {
      let source: string;
      try {
        source = readFileSync(path, 'utf8');
      } catch (e) {
        throw new CliError(`cannot read ${path}: ${(e as Error).message}`);
      }
      const file = basename(path);
      const name = o.name ?? file.replace(/\.(yara?|rules?)$/i, '');
      const p = await clientFrom(o)
        .uploadRulePack({ name, source, ...(o.description ? { description: o.description } : {}), ...(o.comment ? { comment: o.comment } : {}) })
        .catch((e: unknown) => {
          throw e instanceof ApiRequestError && e.code === 'InvalidRulePack' ? compilerErrors(e, safeText(file)) : e;
        });
      print(!!o.json, p, () => rows([p]));
    });

  withConn(packs.command('delete').description('delete a rule pack (every version); agents stop using it at once').argument('<name>', 'the pack'))
    .option('--comment <text>', 'why (kept in the audit log)')
    .action(async (name: string, o: Conn & { comment?: string }) => {
      await clientFrom(o).deleteRulePack(name, o.comment);
      if (o.json) print(true, { deleted: name });
      else process.stdout.write(`deleted rule pack ${safeText(name)}\n`);
    });
}
