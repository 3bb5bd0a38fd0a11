/**
 * The live-response terminal's line editor, pure: it takes the bytes xterm's onData gives (typed
 * text, pasted text, escape sequences of special keys) and answers the new line state, what to
 * write to the terminal to show it, and what the user asked for (send a line, cancel). The
 * terminal is drawn incrementally: the line is redrawn after the prompt with `\r`, the prompt, the
 * text and a cursor move back, so no bookkeeping of wrapped rows is needed for one-row lines.
 */

import { applyPathCompletion, commonPrefix, completesPath, wordAtCursor, type PathCompletion } from '@cordon/protocol/path-completion';

/**
 * Every command a session knows (LIVE_COMMAND_LEVELS in @cordon/protocol, whose module the console
 * does not bundle: it carries zod schemas). line-editor.test.ts checks the two lists agree.
 */
export const LIVE_COMMANDS = [
  'help', 'cd', 'pwd', 'ls', 'fileinfo', 'findfile', 'processes', 'connections', 'persistence', 'services', 'scheduledtasks',
  'getfile', 'analyze', 'library', 'jobs', 'fg', 'cancel', 'trace', 'putfile', 'run', 'remediate', 'undo', 'shell',
] as const;

export interface LineState {
  text: string;
  /** Cursor position in `text` (0…text.length). */
  cursor: number;
  /** Lines sent before, oldest first. */
  history: string[];
  /** Where Up/Down is in the history: history.length is the line being typed. */
  historyAt: number;
  /** The line being typed when the user went up into the history, to come back to. */
  draft: string;
}

/** `complete`: Tab on a path on the device; the terminal asks the device and applies its answer with {@link completeLine}. */
export type EditorAction = { kind: 'send'; line: string } | { kind: 'cancel' } | { kind: 'complete'; path: string };

export interface EditResult {
  state: LineState;
  /** What to write to the terminal. */
  output: string;
  actions: EditorAction[];
  /** Input after a sent line, not applied: it is typed ahead of the next prompt. */
  rest: string;
}

export const emptyLine = (history: string[] = []): LineState => ({ text: '', cursor: 0, history, historyAt: history.length, draft: '' });

/** What redraws `state` after `prompt` on the current row: back to its start, prompt and text, clear the rest, cursor in place. */
export function render(prompt: string, state: LineState): string {
  const back = state.text.length - state.cursor;
  return `\r${prompt}${state.text}\x1b[K${back > 0 ? `\x1b[${back}D` : ''}`;
}

/** The command names `word` starts, in the list's order. */
export function completionsOf(word: string, commands: readonly string[] = LIVE_COMMANDS): string[] {
  return commands.filter((c) => c.startsWith(word));
}

/**
 * Applies the device's answer to a path completion asked for at `state` (the caller checks the
 * line has not changed since): the word is completed as far as the names agree; when nothing could
 * be added and `list` (a second Tab, as in a shell), the names are shown above a new prompt.
 */
export function completeLine(state: LineState, answer: PathCompletion & { error: string | null }, prompt: string, list: boolean): { state: LineState; output: string; added: boolean } {
  const r = applyPathCompletion(state.text, state.cursor, answer);
  const added = r.text !== state.text;
  const s = added ? { ...state, text: r.text, cursor: r.cursor } : state;
  let output = '';
  if (!added && list) {
    if (r.list.length) output += `\r\n${r.list.join('  ')}${answer.truncated ? '  …' : ''}\r\n`;
    // eslint-disable-next-line no-control-regex
    else if (answer.error) output += `\r\n\x1b[2m${answer.error.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?')}\x1b[0m\r\n`;
  }
  return { state: s, output: added || output ? output + render(prompt, s) : '', added };
}

// Special keys as xterm sends them (normal and application cursor modes).
const KEYS: Record<string, string> = {
  '\x1b[A': 'up', '\x1bOA': 'up',
  '\x1b[B': 'down', '\x1bOB': 'down',
  '\x1b[C': 'right', '\x1bOC': 'right',
  '\x1b[D': 'left', '\x1bOD': 'left',
  '\x1b[H': 'home', '\x1bOH': 'home', '\x1b[1~': 'home', '\x01': 'home',
  '\x1b[F': 'end', '\x1bOF': 'end', '\x1b[4~': 'end', '\x05': 'end',
  '\x1b[3~': 'delete',
};

/** Splits onData's input into keys: escape sequences whole, every other character alone. */
export function keysOf(data: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < data.length; ) {
    if (data[i] === '\x1b') {
      // CSI (ESC [ … final byte) or SS3 (ESC O x): matching escape sequences is this regex's job.
      // eslint-disable-next-line no-control-regex
      const m = /^\x1b(\[[0-9;]*[@-~]|O.)?/.exec(data.slice(i))!;
      out.push(m[0]);
      i += m[0].length;
    } else {
      const cp = data.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      out.push(ch);
      i += ch.length;
    }
  }
  return out;
}

/**
 * Applies `data` (one onData call) to `state`. While `running` (a line is being answered) typing
 * is ignored and only Ctrl-C means something: cancel. Enter sends the line, even empty lines are
 * not sent (a new prompt is drawn instead).
 */
export function edit(state: LineState, data: string, prompt: string, running: boolean): EditResult {
  let s = state;
  let output = '';
  const actions: EditorAction[] = [];
  let rest = '';
  const redraw = () => {
    output += render(prompt, s);
  };
  const keys = keysOf(data);
  for (const [i, key] of keys.entries()) {
    if (key === '\x03') {
      if (running) actions.push({ kind: 'cancel' });
      else {
        // As a shell: the line is dropped and a fresh prompt drawn.
        output += '^C\r\n';
        s = { ...s, text: '', cursor: 0, historyAt: s.history.length, draft: '' };
        redraw();
      }
      continue;
    }
    if (running) continue;
    const named = KEYS[key];
    if (key === '\r' || key === '\n') {
      const line = s.text;
      output += '\r\n';
      if (line.trim()) {
        const history = s.history[s.history.length - 1] === line ? s.history : [...s.history, line];
        s = emptyLine(history);
        actions.push({ kind: 'send', line });
        // Keys after Enter in the same paste wait for the answer: the line runs first.
        rest = keys.slice(i + 1).join('');
        break;
      }
      s = { ...s, text: '', cursor: 0 };
      redraw();
    } else if (key === '\x7f' || key === '\b') {
      if (s.cursor > 0) s = { ...s, text: s.text.slice(0, s.cursor - 1) + s.text.slice(s.cursor), cursor: s.cursor - 1 };
      redraw();
    } else if (named === 'delete') {
      s = { ...s, text: s.text.slice(0, s.cursor) + s.text.slice(s.cursor + 1) };
      redraw();
    } else if (named === 'left') {
      s = { ...s, cursor: Math.max(0, s.cursor - 1) };
      redraw();
    } else if (named === 'right') {
      s = { ...s, cursor: Math.min(s.text.length, s.cursor + 1) };
      redraw();
    } else if (named === 'home') {
      s = { ...s, cursor: 0 };
      redraw();
    } else if (named === 'end') {
      s = { ...s, cursor: s.text.length };
      redraw();
    } else if (named === 'up') {
      if (s.historyAt > 0) {
        const draft = s.historyAt === s.history.length ? s.text : s.draft;
        const text = s.history[s.historyAt - 1]!;
        s = { ...s, historyAt: s.historyAt - 1, draft, text, cursor: text.length };
      }
      redraw();
    } else if (named === 'down') {
      if (s.historyAt < s.history.length) {
        const at = s.historyAt + 1;
        const text = at === s.history.length ? s.draft : s.history[at]!;
        s = { ...s, historyAt: at, text, cursor: text.length };
      }
      redraw();
    } else if (key === '\t') {
      // The command name completes here; a path on the device is asked of the device.
      const before = s.text.slice(0, s.cursor);
      const w = wordAtCursor(before);
      if (completesPath(w)) actions.push({ kind: 'complete', path: w.word });
      else if (/^\s*\S*$/.test(before)) {
        const word = before.trimStart();
        const matches = completionsOf(word);
        if (matches.length === 1) {
          const add = matches[0]!.slice(word.length) + (s.text.slice(s.cursor).startsWith(' ') ? '' : ' ');
          s = { ...s, text: before + add + s.text.slice(s.cursor), cursor: s.cursor + add.length };
        } else if (matches.length > 1) {
          const add = commonPrefix(matches).slice(word.length);
          if (add) s = { ...s, text: before + add + s.text.slice(s.cursor), cursor: s.cursor + add.length };
          else output += `\r\n${matches.join('  ')}\r\n`;
        }
      }
      redraw();
    } else if (key.startsWith('\x1b') || key < ' ' || key === '\x7f') {
      // Other control keys and sequences: ignored rather than typed as garbage.
    } else {
      s = { ...s, text: s.text.slice(0, s.cursor) + key + s.text.slice(s.cursor), cursor: s.cursor + key.length };
      redraw();
    }
  }
  return { state: s, output, actions, rest };
}
