import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Command } from 'commander';
import { indicatorsFromCsvRows, IndicatorCsvError, isIndicatorCsvColumn } from '@cordon/protocol/indicator-csv';
import { ApiRequestError, type Indicator, type IndicatorSubmission } from '../api-client.js';
import { clientFrom, CliError } from '../context.js';
import { print, safeText } from '../output.js';
import { withConn } from './machines.js';

interface Conn {
  server?: string;
  token?: string;
  json?: boolean;
}

/** At most this many indicators per import, as the API (and MDE) take them. */
const MAX_IMPORT = 500;


/** What the API answers about an indicator but does not take: left out when a listing is imported again. */
const READ_ONLY = ['id', 'source', 'sourceType', 'createdBySource', 'createdBy', 'creationTimeDateTimeUtc', 'lastUpdateTime', 'lastUpdatedBy', 'rbacGroupIds', 'isExpired', 'enforcement', 'enforcementNote'];

const rows = (list: Indicator[]) => ({
  head: ['id', 'type', 'value', 'action', 'severity', 'title', 'expires', 'on Linux'],
  rows: list.map((i) => [i.id, i.indicatorType, i.indicatorValue, i.action, i.severity, i.title, i.expirationTime ? `${i.expirationTime}${i.isExpired ? ' (expired)' : ''}` : 'never', i.enforcement]),
});

/** `2026-12-31T00:00:00Z`, or a time from now: `30d`, `12h`, `90m`. */
export function parseExpiry(text: string, now = new Date()): string {
  const m = /^(\d{1,5})([dhm])$/.exec(text.trim());
  if (m) return new Date(now.getTime() + Number(m[1]) * { d: 86400_000, h: 3600_000, m: 60_000 }[m[2] as 'd' | 'h' | 'm']).toISOString();
  const t = Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text.trim()) || Number.isNaN(t)) throw new CliError(`--expires takes a date and time such as 2026-12-31T00:00:00Z, or a time from now such as 30d, 12h or 90m; not '${text}'`);
  return new Date(t).toISOString();
}

/** RFC 4180 CSV: quoted fields may hold commas, doubled quotes and line breaks. Answers each record with the line it starts on. */
export function parseCsv(text: string): { line: number; cells: string[] }[] {
  const out: { line: number; cells: string[] }[] = [];
  let cells: string[] = [];
  let cell = '';
  let quoted = false;
  let line = 1;
  let start = 1;
  const s = text.replace(/^\uFEFF/, '');
  const endRecord = () => {
    cells.push(cell);
    if (cells.length > 1 || cells[0]!.trim() !== '') out.push({ line: start, cells });
    cells = [];
    cell = '';
  };
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quoted) {
      if (c === '"' && s[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else {
        if (c === '\n') line++;
        cell += c;
      }
    } else if (c === '"' && cell === '') quoted = true;
    else if (c === ',') {
      cells.push(cell);
      cell = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && s[i + 1] === '\n') i++;
      endRecord();
      start = ++line;
    } else cell += c;
  }
  if (quoted) throw new CliError(`line ${start}: a quoted field is not closed`);
  if (cell !== '' || cells.length > 0) endRecord();
  return out;
}

/** The indicators of an MDE import CSV (header row required), each with the line it is on. */
export function indicatorsFromCsv(text: string, file: string): { items: Record<string, unknown>[]; lines: number[] } {
  const rows = parseCsv(text);
  if (rows.length === 0) throw new CliError(`${file} is empty; it needs a header row (IndicatorType,IndicatorValue,ExpirationTime,Action,Severity,Title,Description,…)`);
  if (!rows[0]!.cells.some(isIndicatorCsvColumn)) throw new CliError(`${file}: the first row names no column of an indicator import; it must be the header row (IndicatorType,IndicatorValue,ExpirationTime,Action,Severity,Title,…)`);
  try {
    return indicatorsFromCsvRows(rows);
  } catch (e) {
    if (!(e instanceof IndicatorCsvError)) throw e;
    throw new CliError(safeText(e.line === null ? `${file}: ${e.message}` : `${file} line ${e.line}: ${e.message}`));
  }
}

/** The indicators of a JSON file: a list, `{"Indicators": [...]}`, or what `cordon indicators --json` printed. */
export function indicatorsFromJson(text: string, file: string): Record<string, unknown>[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new CliError(`${file} is not JSON: ${(e as Error).message}`);
  }
  const obj = parsed as Record<string, unknown> | null;
  const list = Array.isArray(parsed) ? parsed : (obj?.Indicators ?? obj?.indicators ?? obj?.value);
  if (!Array.isArray(list)) throw new CliError(`${file} holds no list of indicators: give a JSON list, or {"Indicators": [...]}`);
  return list.map((item: unknown) => (item && typeof item === 'object' && !Array.isArray(item) ? Object.fromEntries(Object.entries(item).filter(([k]) => !READ_ONLY.includes(k))) : (item as Record<string, unknown>)));
}

/** The API names a bad item `Indicators.<i>.<Field>`: said as the file's line (CSV) or item instead. */
function placeOf(e: unknown, file: string, lines: number[] | null): unknown {
  const m = e instanceof ApiRequestError && e.target ? /^Indicators\.(\d+)(?:\.(.+))?$/.exec(e.target) : null;
  if (!m) return e;
  const i = Number(m[1]);
  const where = lines ? `line ${lines[i]}` : `item ${i + 1}`;
  return new CliError(`${file} ${where}: ${e instanceof Error ? e.message.replace(/^Indicators\.\d+\./, '') : String(e)}; nothing was imported`);
}

export function registerIndicatorCommands(program: Command): void {
  const indicators = program.command('indicators').description('list, add, delete and import indicators (file hashes, IP addresses, domains, URLs)');

  withConn(indicators.command('list', { isDefault: true }).description('list indicators, newest first'))
    .option('--filter <odata>', "OData $filter, e.g. \"indicatorType eq 'IpAddress'\" or \"indicatorValue eq '10.1.2.3'\"")
    .option('--top <n>', 'at most this many', '1000')
    .action(async (o: Conn & { filter?: string; top: string }) => {
      const list = await clientFrom(o).indicators({ filter: o.filter, top: Number(o.top) });
      print(!!o.json, list, () => rows(list));
    });

  withConn(indicators.command('add').description('add an indicator, or update the one with the same type and value'))
    .requiredOption('--type <type>', 'FileSha256, FileSha1, FileMd5, IpAddress, DomainName or Url')
    .requiredOption('--value <value>', 'the hash, address, domain or URL')
    .requiredOption('--action <action>', 'Alert, AlertAndBlock, Allowed, Audit, Block, BlockAndRemediate or Warn')
    .requiredOption('--title <title>', 'what it is (shown on alerts)')
    .option('--severity <severity>', 'Informational, Low, Medium or High', 'Informational')
    .option('--expires <when>', 'when it stops applying: 2026-12-31T00:00:00Z, or from now: 30d, 12h, 90m (default: never)')
    .option('--description <text>', 'more about it')
    .option('--recommended-actions <text>', 'what to do when it is seen')
    .action(async (o: Conn & { type: string; value: string; action: string; title: string; severity: string; expires?: string; description?: string; recommendedActions?: string }) => {
      const body = {
        indicatorType: o.type,
        indicatorValue: o.value,
        action: o.action,
        title: o.title,
        severity: o.severity,
        ...(o.expires ? { expirationTime: parseExpiry(o.expires) } : {}),
        ...(o.description ? { description: o.description } : {}),
        ...(o.recommendedActions ? { recommendedActions: o.recommendedActions } : {}),
      } as IndicatorSubmission;
      const i = await clientFrom(o).submitIndicator(body);
      print(!!o.json, i, () => rows([i]));
      if (!o.json && i.enforcement !== 'Block') process.stderr.write(`note: ${safeText(i.enforcementNote)}\n`);
    });

  withConn(indicators.command('delete').description('delete indicators by id (all of them, or none when one is not found)').argument('<ids...>', 'indicator ids'))
    .action(async (ids: string[], o: Conn) => {
      await clientFrom(o).deleteIndicators(ids);
      if (o.json) print(true, { deleted: ids });
      else process.stdout.write(`deleted ${ids.length} indicator${ids.length === 1 ? '' : 's'}\n`);
    });

  withConn(indicators.command('import').description(`import up to ${MAX_IMPORT} indicators from a CSV (MDE's import columns, header row required) or JSON file; all of them, or none when one is not valid`).argument('<file>', 'a .csv or .json file'))
    .action(async (path: string, o: Conn) => {
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch (e) {
        throw new CliError(`cannot read ${path}: ${(e as Error).message}`);
      }
      const file = basename(path);
      const csv = !/\.json$/i.test(path);
      const { items, lines } = csv ? indicatorsFromCsv(text, file) : { items: indicatorsFromJson(text, file), lines: null };
      if (items.length === 0) throw new CliError(`${file} holds no indicators`);
      if (items.length > MAX_IMPORT) throw new CliError(`${file} holds ${items.length} indicators; an import takes at most ${MAX_IMPORT}: split the file`);
      const results = await clientFrom(o)
        .importIndicators(items)
        .catch((e: unknown) => {
          throw placeOf(e, file, lines);
        });
      print(!!o.json, results, () => ({ head: ['id', 'indicator'], rows: results.map((r) => [r.id, r.indicator]) }));
      if (!o.json) process.stderr.write(`imported ${results.length} indicator${results.length === 1 ? '' : 's'} from ${safeText(file)}\n`);
    });
}
