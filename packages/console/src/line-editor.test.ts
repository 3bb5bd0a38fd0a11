import { LIVE_COMMAND_LEVELS } from '@cordon/protocol';
import { describe, expect, it } from 'vitest';
import { completeLine, completionsOf, edit, emptyLine, keysOf, LIVE_COMMANDS, render, type EditorAction, type LineState } from './line-editor';

const P = '/$ ';
/** Types each chunk in turn (each one onData call); answers the final state and every action. */
function type(chunks: string[], start: LineState = emptyLine(), running = false) {
  let s = start;
  const actions: EditorAction[] = [];
  let output = '';
  for (const c of chunks) {
    const r = edit(s, c, P, running);
    s = r.state;
    actions.push(...r.actions);
    output += r.output;
  }
  return { s, actions, output };
}

describe('the live terminal line editor', () => {
  it('knows the same commands as the protocol', () => {
    expect([...LIVE_COMMANDS].sort()).toEqual(Object.keys(LIVE_COMMAND_LEVELS).sort());
  });

  it('types, deletes and moves the cursor, and sends the line on Enter', () => {
    const { s, actions } = type(['ls /et', 'x', '\x7f', 'c', '\x1b[D', '\x1b[D', '\x1b[D', '\x7f', '\x1b[F', '\r']);
    // "ls /etc": three lefts put the cursor after "/", Backspace removes it.
    expect(actions).toEqual([{ kind: 'send', line: 'ls etc' }]);
    expect(s).toMatchObject({ text: '', cursor: 0, history: ['ls etc'] });
  });

  it('inserts at the cursor after Home, and ignores keys it does not know', () => {
    const { s } = type(['wd', '\x1b[H', 'p', '\x1b[5~', '\x1b[1;5C']);
    expect(s).toMatchObject({ text: 'pwd', cursor: 1 });
  });

  it('walks this session’s history with Up and Down and comes back to the line being typed', () => {
    const start = emptyLine(['ls /', 'cd /tmp']);
    const up1 = type(['dra', '\x1b[A'], start).s;
    expect(up1).toMatchObject({ text: 'cd /tmp', cursor: 7 });
    const up2 = type(['\x1b[A', '\x1b[A'], up1).s;
    expect(up2.text).toBe('ls /');
    expect(type(['\x1b[B', '\x1b[B'], up2).s.text).toBe('dra');
    // Sending a line from the history adds it again at the end, unless it is already last.
    expect(type(['\x1b[A', '\r'], start).s.history).toEqual(['ls /', 'cd /tmp']);
    expect(type(['\x1b[A', '\x1b[A', '\r'], start).s.history).toEqual(['ls /', 'cd /tmp', 'ls /']);
  });

  it('does not send an empty line, and Ctrl-C drops the line being typed', () => {
    expect(type(['   ', '\r']).actions).toEqual([]);
    const c = type(['rm -rf', '\x03']);
    expect(c.actions).toEqual([]);
    expect(c.s.text).toBe('');
    expect(c.output).toContain('^C');
  });

  it('while a line runs, ignores typing and turns Ctrl-C into cancel', () => {
    const r = type(['ls', '\x03', '\r'], emptyLine(), true);
    expect(r.actions).toEqual([{ kind: 'cancel' }]);
    expect(r.s.text).toBe('');
  });

  it('sends the first line of a paste and leaves the rest', () => {
    const r = edit(emptyLine(), 'pwd\rls\x1b[A\r', P, false);
    expect(r.actions).toEqual([{ kind: 'send', line: 'pwd' }]);
    expect(r.rest).toBe('ls\x1b[A\r');
  });

  it('completes command names with Tab in the first word', () => {
    expect(type(['pw', '\t']).s).toMatchObject({ text: 'pwd ', cursor: 4 });
    // Several matches: their common start, then the list.
    expect(type(['p', '\t']).s.text).toBe('p');
    expect(type(['p', '\t']).output).toContain('pwd  processes  persistence  putfile');
    expect(type(['fi', '\t']).output).toContain('fileinfo  findfile');
    expect(type(['fil', '\t', 'x']).s.text).toBe('fileinfo x');
    expect(type(['ls pw', '\t']).s.text).toBe('ls pw');
    expect(completionsOf('re')).toEqual(['remediate']);
  });

  it('asks the device on Tab in a path of a command that takes paths, the word unquoted', () => {
    expect(type(['ls /et', '\t']).actions).toEqual([{ kind: 'complete', path: '/et' }]);
    expect(type(['cd ', '\t']).actions).toEqual([{ kind: 'complete', path: '' }]);
    expect(type(["fileinfo 'my dir/re", '\t']).actions).toEqual([{ kind: 'complete', path: 'my dir/re' }]);
    expect(type(['getfile a\\ b', '\t']).actions).toEqual([{ kind: 'complete', path: 'a b' }]);
    expect(type(['remediate file /tm', '\t']).actions).toEqual([{ kind: 'complete', path: '/tm' }]);
    // The cursor's word, not the line's last one.
    expect(type(['ls /et x', '\x1b[D', '\x1b[D', '\t']).actions).toEqual([{ kind: 'complete', path: '/et' }]);
    // Not a path: options, the command name, commands whose operands are no paths.
    for (const typed of ['ls -', 'l', 'processes x', 'run sc', 'remediate process 1', 'cancel 1']) expect(type([typed, '\t']).actions, typed).toEqual([]);
  });

  it('applies the device’s answer: one name completes (a directory with /), several as far as they agree, a second Tab lists them', () => {
    const at = (text: string): LineState => ({ ...emptyLine(), text, cursor: text.length });
    const dir = (name: string) => ({ name, type: 'dir' as const });
    const file = (name: string) => ({ name, type: 'file' as const });
    const answer = (base: string, entries: { name: string; type: 'dir' | 'file' }[], truncated = false) => ({ base, entries, truncated, error: null });

    const etc = completeLine(at('ls /et'), answer('/', [dir('etc')]), P, false);
    expect(etc.state).toMatchObject({ text: 'ls /etc/', cursor: 8 });
    expect(etc.output).toBe(render(P, etc.state));
    expect(completeLine(at('fileinfo /etc/host'), answer('/etc/', [file('hostname')]), P, false).state.text).toBe('fileinfo /etc/hostname ');
    // Typed in the middle: the rest of the line stays after it.
    expect(completeLine({ ...at('ls /et -l'), cursor: 6 }, answer('/', [dir('etc')]), P, false).state).toMatchObject({ text: 'ls /etc/ -l', cursor: 8 });

    const several = answer('/usr/', [dir('lib'), dir('lib32'), dir('libexec'), dir('local')]);
    expect(completeLine(at('ls /usr/l'), several, P, false)).toMatchObject({ state: { text: 'ls /usr/l' }, output: '', added: false });
    const libs = answer('/usr/', [dir('lib'), dir('lib32'), dir('libexec')]);
    expect(completeLine(at('ls /usr/l'), libs, P, false).state.text).toBe('ls /usr/lib');
    const listed = completeLine(at('ls /usr/l'), several, P, true);
    expect(listed.state.text).toBe('ls /usr/l');
    expect(listed.output).toBe(`\r\nlib/  lib32/  libexec/  local/\r\n${render(P, listed.state)}`);
    expect(completeLine(at('ls /usr/l'), answer('/usr/', [dir('lib'), dir('local')], true), P, true).output).toContain('local/  …');
    // Nothing there: the line stays; a second Tab says why.
    expect(completeLine(at('ls /nope/x'), { base: '/nope/', entries: [], truncated: false, error: '/nope: no such file or directory' }, P, true).output).toContain('/nope: no such file or directory');

    // Names are written back so the agent reads them as they are; a quoted word is rewritten escaped.
    expect(completeLine(at("cd 'case fi"), answer('', [dir('case files')]), P, false).state.text).toBe('cd case\\ files/');
    expect(completeLine(at('getfile it'), answer('', [file(`it's "x"`)]), P, false).state.text).toBe(`getfile it\\'s\\ \\"x\\" `);
    // A name with terminal control in it is never written.
    expect(completeLine(at('ls e'), answer('', [file('e\x1b[2Jvil')]), P, true).output).toBe('');
  });

  it('splits input into keys, escape sequences whole', () => {
    expect(keysOf('a\x1b[Ab\x1bOD\x1b[3~é')).toEqual(['a', '\x1b[A', 'b', '\x1bOD', '\x1b[3~', 'é']);
  });

  it('redraws the line with the cursor in place', () => {
    expect(render(P, { ...emptyLine(), text: 'ls /x', cursor: 3 })).toBe('\r/$ ls /x\x1b[K\x1b[2D');
    expect(render(P, { ...emptyLine(), text: 'ls', cursor: 2 })).toBe('\r/$ ls\x1b[K');
  });
});
