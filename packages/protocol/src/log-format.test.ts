import { describe, expect, it } from 'vitest';
import { formatLogLine, logDestination, resolveLogFormat } from './log-format.js';

const at = new Date(2026, 10, 30, 1, 2, 3).getTime(); // local time: the terminal's clock

describe('log format choice', () => {
  it.each([
    ['auto', true, 'pretty'],
    ['auto', false, 'json'],
    ['auto', undefined, 'json'],
    ['json', true, 'json'],
    ['pretty', false, 'pretty'],
  ] as const)('%s with a terminal %s is %s', (format, tty, out) => expect(resolveLogFormat(format, tty)).toBe(out));
});

describe('pretty log lines', () => {
  it('HH:MM:SS LEVEL component message key=value', () => {
    const line = JSON.stringify({ level: 30, time: at, pid: 7, hostname: 'h', svc: 'cordon-server', part: 'gateway', msg: 'agent connected', machineId: 'a'.repeat(40), agents: 3, server: 'https://127.0.0.1:8443' });
    expect(formatLogLine(line)).toBe('01:02:03 INFO  gateway agent connected agents=3 server=https://127.0.0.1:8443\n');
  });

  it('names the service when there is no part, and quotes values with spaces or quotes', () => {
    const line = JSON.stringify({ level: 40, time: at, svc: 'cordon-agent', msg: 'could not restore isolation', reason: 'nft not found', detail: { a: 1 }, ok: false });
    expect(formatLogLine(line)).toBe('01:02:03 WARN  agent could not restore isolation reason="nft not found" detail={"a":1} ok=false\n');
  });

  it('shows an error by its message, its stack on indented lines below', () => {
    const line = JSON.stringify({ level: 50, time: at, svc: 'cordon-server', msg: 'periodic task failed', err: { type: 'Error', message: 'boom', stack: 'Error: boom\n    at f (a.js:1:1)\n    at g (b.js:2:2)' } });
    expect(formatLogLine(line)).toBe('01:02:03 ERROR server periodic task failed err=boom\n    at f (a.js:1:1)\n    at g (b.js:2:2)\n');
  });

  it('passes a line that is not JSON on as it is', () => {
    expect(formatLogLine('plain text')).toBe('plain text\n');
  });

  it('as a destination: JSON is passed through untouched, pretty formats each line', () => {
    const out: string[] = [];
    const sink = { write: (s: string) => out.push(s) };
    const line = `${JSON.stringify({ level: 30, time: at, svc: 'cordon-server', msg: 'hi' })}\n`;
    expect(logDestination('json', sink)).toBe(sink);
    logDestination('pretty', sink).write(line + line);
    expect(out).toEqual(['01:02:03 INFO  server hi\n', '01:02:03 INFO  server hi\n']);
  });
});
