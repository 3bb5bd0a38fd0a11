import { describe, expect, it } from 'vitest';
import { parseCommandLine } from './command-line.js';
import { applyPathCompletion, completesPath, escapeWord, wordAtCursor } from './path-completion.js';

describe('path completion in a live-response line', () => {
  it('reads the word at the cursor as the agent will, an open quote being the word still typed', () => {
    expect(wordAtCursor('ls /et')).toEqual({ index: 1, start: 3, word: '/et', before: ['ls'] });
    expect(wordAtCursor('ls ')).toEqual({ index: 1, start: 3, word: '', before: ['ls'] });
    expect(wordAtCursor('')).toEqual({ index: 0, start: 0, word: '', before: [] });
    expect(wordAtCursor(`cd 'a b/c`)).toMatchObject({ index: 1, start: 3, word: 'a b/c' });
    expect(wordAtCursor(`cd "a \\"b`)).toMatchObject({ word: 'a "b' });
    expect(wordAtCursor('cd a\\ b\\')).toMatchObject({ word: 'a b\\' });
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
