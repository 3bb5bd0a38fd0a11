import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parseCommandLine } from './command-line.js';

describe('parseCommandLine', () => {
  it.each<[string, string[]]>([
    ['', []],
    ['   \t ', []],
    ['ls', ['ls']],
    ['  ls   -l\t/tmp  ', ['ls', '-l', '/tmp']],
    ["fileinfo 'a file with spaces'", ['fileinfo', 'a file with spaces']],
    ['fileinfo "a file with spaces"', ['fileinfo', 'a file with spaces']],
    ['fileinfo a\\ file\\ with\\ spaces', ['fileinfo', 'a file with spaces']],
    ["x 'it'\\''s'", ['x', "it's"]],
    ['x "say \\"hi\\""', ['x', 'say "hi"']],
    // In double quotes a backslash escapes only $ ` " \ and newline, as in a shell.
    ['x "a\\b\\$c\\\\d"', ['x', 'a\\b$c\\d']],
    ["x 'a\\b'", ['x', 'a\\b']],
    ['x a"b c"d', ['x', 'ab cd']],
    ["x '' \"\" ''\"\"", ['x', '', '', '']],
    ['x a\\', ['x', 'a\\']],
    ['x a\\\nb', ['x', 'ab']],
  ])('%j', (line, words) => {
    expect(parseCommandLine(line)).toEqual(words);
  });

  it('takes ; | & $ ( ) < > ` * ? # and ~ as plain characters: no second command, no expansion, no redirection', () => {
    expect(parseCommandLine('fileinfo /tmp/a;rm -rf /')).toEqual(['fileinfo', '/tmp/a;rm', '-rf', '/']);
    expect(parseCommandLine('ls $(id)|cat&&echo `x`>out<in *? #c ~')).toEqual(['ls', '$(id)|cat&&echo', '`x`>out<in', '*?', '#c', '~']);
    expect(parseCommandLine("fileinfo 'we ird;|&$().txt'")).toEqual(['fileinfo', 'we ird;|&$().txt']);
    expect(parseCommandLine('fileinfo "$HOME/x ${PATH} $((1+1))"')).toEqual(['fileinfo', '$HOME/x ${PATH} $((1+1))']);
  });

  it('a newline separates words like a space; it never starts another command', () => {
    expect(parseCommandLine('ls\nrm -rf /')).toEqual(['ls', 'rm', '-rf', '/']);
    expect(parseCommandLine("ls 'a\nb'")).toEqual(['ls', 'a\nb']);
  });

  it('an unterminated quote is an error naming it', () => {
    expect(parseCommandLine("ls 'abc")).toEqual({ error: "unterminated single quote (') opened at column 4" });
    expect(parseCommandLine('ls "abc\\"')).toEqual({ error: 'unterminated double quote (") opened at column 4' });
    expect(parseCommandLine('ls x "a\'b')).toEqual({ error: 'unterminated double quote (") opened at column 6' });
  });

  it('splits words exactly as a POSIX shell does, for lines without expansions', () => {
    // Only these fixed lines go to a shell, to compare its word splitting with ours.
    const lines = ["a 'b c' \"d e\" f\\ g", "'it'\\''s' \"q\\\"q\" x\\\\y", 'a"b c"d \'\' ""', '"a\\b" \'a\\b\' a\\b', '  lead   trail  ', 'x\\\ny "p\\\nq"'];
    for (const line of lines) {
      const words = execFileSync('/bin/sh', ['-c', `set -- ${line}; for w in "$@"; do printf '%s\\0' "$w"; done`], { encoding: 'utf8' }).split('\0').slice(0, -1);
      expect(parseCommandLine(line), line).toEqual(words);
    }
  });
});
