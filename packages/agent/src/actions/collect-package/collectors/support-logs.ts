import { AGENT_VERSION } from '../../../version.js';
import { notPresent, section } from '../format.js';
import { redactJson, redactText } from '../redact.js';
import type { CollectContext, CollectedFile, Collector } from '../types.js';
import { DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT_MS } from './common.js';

/** The agent's JSON files in its data dir, redacted (enrollment.json holds the device credential). */
const JSON_FILES: [string, string][] = [
  ['agent.json', 'AgentConfig.json'],
  ['enrollment.json', 'Enrollment.json'],
  ['isolation.json', 'Isolation.json'],
];

/** Largest log tail copied per file; older lines are in the journal or rotated away. */
const LOG_TAIL_BYTES = 20 * 1024 * 1024;

async function redactedJsonFile(ctx: CollectContext, src: string, name: string): Promise<CollectedFile | null> {
  const text = await ctx.readText(src);
  if (text === null) return null;
  let content: string;
  try {
    content = `${JSON.stringify(redactJson(JSON.parse(text)), null, 2)}\n`;
  } catch {
    // Not JSON (damaged file): still useful, but only after free-text redaction.
    content = redactText(text);
  }
  return { name, source: `${src} (secrets redacted)`, content };
}

async function tail(ctx: CollectContext, path: string, size: number): Promise<string> {
  const start = Math.max(0, size - LOG_TAIL_BYTES);
  const buf = (await ctx.readRange(path, start, size - start)) ?? Buffer.alloc(0);
  return `${start ? `(first ${start} bytes left out)\n` : ''}${buf.toString('utf8')}`;
}

/** Support logs: the agent's own logs, config, journal and state, never its credential. */
export const supportLogs: Collector = {
  folder: 'Support logs',
  name: 'support-logs',
  source: '<dataDir>/{agent.json,enrollment.json,isolation.json,journal/,*.log}, journalctl -u cordon-agent (all redacted)',
  timeoutMs: DEFAULT_TIMEOUT_MS,
  maxBytes: DEFAULT_MAX_BYTES,
  async *collect(ctx) {
    const dir = ctx.dataDir;
    const listing: string[] = [];
    for (const n of ((await ctx.readDir(dir)) ?? []).sort()) {
      const st = await ctx.lstat(`${dir}/${n}`);
      if (st) listing.push(`${(st.mode & 0o7777).toString(8).padStart(4, '0')}  ${String(st.size).padStart(10)}  ${st.mtime.toISOString()}  ${n}${st.isDirectory() ? '/' : ''}`);
    }
    const env = Object.entries(process.env)
      .filter(([k]) => k.startsWith('CORDON_AGENT_'))
      .map(([k, v]) => redactText(`${k}=${v ?? ''}`));
    yield {
      name: 'AgentInfo.txt',
      source: `agent process; ${dir}`,
      content: [
        section('Agent', [`Version: ${AGENT_VERSION}`, `Node.js: ${process.version}`, `PID: ${process.pid}`, `Data directory: ${dir}`, `Uptime: ${Math.round(process.uptime())} s`].join('\n')),
        section('CORDON_AGENT_* environment (secrets redacted)', env.join('\n') || '(none set)'),
        section(`Data directory listing (${dir})`, listing.join('\n') || 'not present on this device'),
      ].join('\n'),
    };

    for (const [src, name] of JSON_FILES) {
      const f = await redactedJsonFile(ctx, `${dir}/${src}`, name);
      yield f ?? notPresent(name, `${dir}/${src}`);
    }

    const journal: string[] = [];
    for (const n of ((await ctx.readDir(`${dir}/journal`)) ?? []).sort()) {
      const t = await ctx.readText(`${dir}/journal/${n}`).catch(() => null);
      if (t !== null) journal.push(section(n, redactText(t)));
    }
    yield journal.length ? { name: 'ActionJournal.txt', source: `${dir}/journal/*.json (redacted)`, content: journal.join('\n') } : notPresent('ActionJournal.txt', `${dir}/journal`, 'no action in flight');

    let logs = 0;
    for (const d of [dir, `${dir}/logs`]) {
      for (const n of ((await ctx.readDir(d)) ?? []).sort()) {
        if (!/\.log(\.\d+)?$/.test(n)) continue;
        const st = await ctx.stat(`${d}/${n}`);
        if (!st?.isFile()) continue;
        logs++;
        yield { name: `AgentLog_${n}.txt`, source: `${d}/${n} (redacted)`, content: redactText(await tail(ctx, `${d}/${n}`, st.size)) };
      }
    }
    // The agent logs to stderr; under systemd that is the journal.
    const j = await ctx.run('journalctl', ['--no-pager', '-q', '-o', 'short-iso', '-u', 'cordon-agent', '-n', '20000']);
    if (j.code === 0 && j.stdout.trim()) {
      logs++;
      yield { name: 'AgentJournal.txt', source: 'journalctl -u cordon-agent -n 20000 (redacted)', content: redactText(j.stdout) };
    }
    if (!logs) yield notPresent('AgentLog.txt', `${dir}/*.log and journalctl -u cordon-agent`, 'the agent logs to stderr; no log file or journal unit was found');
  },
};
