import { createInterface } from 'node:readline';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parseCommandLine } from './command-line.js';
import { applyPathCompletion, completesPath, escapeWord, readlineCompletions, wordAtCursor, type PathCompletion } from './path-completion.js';

describe('path completion in a live-response line', () => {
  it('reads the word at the cursor as the agent will, an open quote being the word still typed', () => {
    expect(wordAtCursor('ls /et')).toEqual({ index: 1, start: 3, word: '/et', before: ['ls'], quote: null });
    expect(wordAtCursor('ls ')).toEqual({ index: 1, start: 3, word: '', before: ['ls'], quote: null });
    expect(wordAtCursor('')).toEqual({ index: 0, start: 0, word: '', before: [], quote: null });
    expect(wordAtCursor(`cd 'a b/c`)).toMatchObject({ index: 1, start: 3, word: 'a b/c', quote: "'" });
    expect(wordAtCursor(`cd "a \\"b`)).toMatchObject({ word: 'a "b', quote: '"' });
    expect(wordAtCursor(`cd "a"b`)).toMatchObject({ word: 'ab', quote: null });
    expect(wordAtCursor('cd a\\ b\\')).toMatchObject({ word: 'a b\\', quote: null });
    expect(wordAtCursor(`findfile x --root 'd i'r`)).toMatchObject({ index: 3, start: 18, word: 'd ir', before: ['findfile', 'x', '--root'] });
  });

  it('asks the device only for operands of commands that take paths', () => {
    const asks = (line: string) => completesPath(wordAtCursor(line));
    expect(['ls /', 'cd ', 'fileinfo a', 'getfile x', 'analyze y', 'findfile n --root /v', 'remediate file /t', 'remediate cron /etc/c'].map(asks)).toEqual(Array(8).fill(true));
    expect(['ls', 'l', 'ls -l', 'processes ', 'run x', 'putfile a', 'remediate process 1', 'remediate fi', 'trace o'].map(asks)).toEqual(Array(9).fill(false));
  });

  it('writes a word back so that the agent reads exactly it', () => {
    for (const w of ['plain', 'a b', `it's`, 'q"x', 'back\\slash', 'tab\there', 'new\nline', '$(id);|&*', "'", '']) {
      expect(parseCommandLine(`ls ${escapeWord(w)}`)).toEqual(['ls', w]);
    }
  });

  it('leaves the line alone for an answer to another word', () => {
    expect(applyPathCompletion('ls /va', 6, { base: '/', entries: [{ name: 'etc', type: 'dir' }], truncated: false })).toEqual({ text: 'ls /va', cursor: 6, list: [] });
  });
});

describe('path completion in a readline completer (cordon live)', () => {
  /** Types `keys` into a real readline whose completer answers `answer`; the line it ends with, and what it wrote. */
  async function typed(keys: string[], answer: PathCompletion): Promise<{ line: string; shown: string }> {
    const input = new PassThrough();
    const output = new PassThrough();
    let shown = '';
    output.on('data', (d: Buffer) => (shown += d.toString()));
    const rl = createInterface({ input, output, terminal: true, completer: (line: string, cb: (e: null, r: [string[], string]) => void) => void Promise.resolve().then(() => cb(null, readlineCompletions(line, answer))) });
    for (const k of keys) {
      input.write(k);
      await new Promise((r) => setTimeout(r, 20));
    }
    const line = (rl as unknown as { line: string }).line;
    rl.close();
    return { line, shown };
  }
  const dir = (name: string) => ({ name, type: 'dir' as const });
  const file = (name: string) => ({ name, type: 'file' as const });

  it('completes one name, a directory with / and a file with a blank', async () => {
    expect((await typed(['ls /et', '\t'], { base: '/', entries: [dir('etc')], truncated: false })).line).toBe('ls /etc/');
    expect((await typed(['fileinfo /etc/hostn', '\t'], { base: '/etc/', entries: [file('hostname')], truncated: false })).line).toBe('fileinfo /etc/hostname ');
  });

  it('completes as far as several names agree, and lists them on a second Tab', async () => {
    const several = { base: '/usr/', entries: [dir('lib'), dir('lib32'), dir('libexec')], truncated: false };
    expect((await typed(['ls /usr/l', '\t'], several)).line).toBe('ls /usr/lib');
    const twice = await typed(['ls /usr/lib', '\t', '\t'], several);
    expect(twice.line).toBe('ls /usr/lib');
    expect(twice.shown).toMatch(/lib32\/\s+.*libexec\//);
  });

  it('keeps the word in its quoting, and the agent reads the name exactly', async () => {
    const spaced = { base: '', entries: [file(`case "it's" notes`)], truncated: false };
    for (const start of ['cat ca', `cat 'ca`, 'cat "ca']) {
      const { line } = await typed([start.replace('cat', 'getfile'), '\t'], spaced);
      expect(parseCommandLine(line), line).toEqual(['getfile', `case "it's" notes`]);
      expect(line.endsWith(' ')).toBe(true);
    }
    expect(readlineCompletions(`cd 'my d`, { base: '', entries: [dir('my dir')], truncated: false })).toEqual([[`'my dir/`], `'my d`]);
  });
});
