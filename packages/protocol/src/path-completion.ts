/*
 * Tab completion of remote paths in a live-response line, as the console's terminal and
 * `cordon live` do it: which word the cursor is in (read as parseCommandLine reads words, an
 * unterminated quote being the word still typed), whether it names a path on the device, and the
 * line once an answer of the device is applied. Pure and free of zod: the console bundles it.
 */

/** Commands whose operands are paths on the device (`remediate` only after `file` or `cron`). */
export const LIVE_PATH_COMMANDS: readonly string[] = ['cd', 'ls', 'fileinfo', 'findfile', 'getfile', 'analyze', 'remediate'];

/** The word the cursor is at the end of. */
export interface WordAtCursor {
  /** Which word of the line it is (0: the command name). */
  index: number;
  /** Where it starts in the line (its quotes and backslashes included). */
  start: number;
  /** The word as the agent will read it (quotes and escapes taken away). */
  word: string;
  /** The words before it, read. */
  before: string[];
  /** The quote it is still inside (its closing quote not typed yet), or null. */
  quote: "'" | '"' | null;
}

/** A device's answer to a completion request (as POST …/complete gives it). */
export interface PathCompletion {
  base: string;
  entries: { name: string; type: 'dir' | 'file' | 'link' | 'other' }[];
  truncated: boolean;
}

/** The word that ends at the end of `line` (the text before the cursor); a blank at the end starts an empty word. */
export function wordAtCursor(line: string): WordAtCursor {
  const before: string[] = [];
  let word = '';
  let start = 0;
  let inWord = false;
  let quote: WordAtCursor['quote'] = null;
  let i = 0;
  while (i < line.length) {
    const c = line[i]!;
    quote = null;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      if (inWord) before.push(word);
      word = '';
      inWord = false;
      i++;
      continue;
    }
    if (!inWord) start = i;
    inWord = true;
    if (c === '\\') {
      const next = line[i + 1];
      if (next === undefined) word += '\\';
      else if (next !== '\n') word += next;
      i += 2;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      word += line.slice(i + 1, end < 0 ? line.length : end);
      if (end < 0) quote = "'";
      i = end < 0 ? line.length : end + 1;
    } else if (c === '"') {
      i++;
      while (i < line.length && line[i] !== '"') {
        if (line[i] === '\\' && i + 1 < line.length && '$`"\\\n'.includes(line[i + 1]!)) {
          if (line[i + 1] !== '\n') word += line[i + 1];
          i += 2;
        } else word += line[i++];
      }
      if (i >= line.length) quote = '"';
      i++;
    } else {
      word += c;
      i++;
    }
  }
  return { index: before.length, start: inWord ? start : line.length, word: inWord ? word : '', before, quote };
}

/** Whether the word at the cursor is a path on the device worth asking the device about. */
export function completesPath(w: WordAtCursor): boolean {
  const command = w.before[0];
  if (w.index === 0 || command === undefined || !LIVE_PATH_COMMANDS.includes(command)) return false;
  // `-l`, `--root`: options, not paths (the word after --root is one).
  if (w.word.startsWith('-')) return false;
  if (command === 'remediate') return w.index === 2 && (w.before[1] === 'file' || w.before[1] === 'cron');
  return true;
}

/** A word written so that parseCommandLine reads it back as it is: blanks and quotes escaped, a newline quoted. */
export function escapeWord(word: string): string {
  if (word === '' || /[\n\r]/.test(word)) return `'${word.replaceAll("'", `'\\''`)}'`;
  return word.replace(/[ \t\\'"]/g, '\\$&');
}

/** More of a word, written in the quoting it is typed in (inside an open quote, or bare). */
function continueWord(text: string, quote: WordAtCursor['quote']): string {
  if (quote === "'") return text.replaceAll("'", `'\\''`);
  if (quote === '"') return text.replace(/["\\$`]/g, '\\$&');
  return text.replace(/[ \t\\'"]/g, '\\$&');
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * For a readline completer (`cordon live`): the words that complete the one at the end of `head`,
 * each as typed so far followed by the rest of the name in the word's own quoting (a directory
 * with `/`; the only match, when not one, with its quote closed and a blank), and the text they
 * replace. Readline completes them as far as they agree and lists them on a second Tab.
 */
export function readlineCompletions(head: string, answer: PathCompletion): [string[], string] {
  const w = wordAtCursor(head);
  const typed = head.slice(w.start);
  const entries = answer.entries.filter((e) => e.name !== '' && !CONTROL.test(e.name) && (answer.base + e.name).startsWith(w.word));
  const hits = entries.map((e) => {
    const rest = (answer.base + e.name).slice(w.word.length) + (e.type === 'dir' ? '/' : '');
    const close = entries.length === 1 && e.type !== 'dir' ? `${w.quote ?? ''} ` : '';
    return typed + continueWord(rest, w.quote) + close;
  });
  return [hits, typed];
}

/** The longest start the words share. */
export function commonPrefix(words: readonly string[]): string {
  let p = words[0] ?? '';
  for (const w of words) while (!w.startsWith(p)) p = p.slice(0, -1);
  return p;
}

/**
 * The line after a device's answer for the word at the cursor: one entry is completed (a directory
 * with `/`, anything else with a blank after it), several are completed as far as they agree.
 * `list` holds the names to show when nothing could be added (a shell shows them on a second Tab).
 */
export function applyPathCompletion(text: string, cursor: number, answer: PathCompletion): { text: string; cursor: number; list: string[] } {
  const head = text.slice(0, cursor);
  const tail = text.slice(cursor);
  const w = wordAtCursor(head);
  // A name a terminal would take as control is never written (the agent leaves them out too).
  const entries = answer.entries.filter((e) => e.name !== '' && !CONTROL.test(e.name));
  const names = entries.map((e) => e.name);
  if (names.length === 0) return { text, cursor, list: [] };
  let completed: string;
  let suffix = '';
  if (names.length === 1) {
    const only = entries[0]!;
    completed = answer.base + only.name;
    suffix = only.type === 'dir' ? '/' : tail.startsWith(' ') ? '' : ' ';
  } else completed = answer.base + commonPrefix(names);
  // An answer for another word (the line changed meanwhile) changes nothing.
  if (!completed.startsWith(w.word)) return { text, cursor, list: [] };
  // Nothing to add: the word already says all the names share.
  if (suffix === '' && completed === w.word) return { text, cursor, list: entries.map((e) => (e.type === 'dir' ? `${e.name}/` : e.name)) };
  const replaced = head.slice(0, w.start) + escapeWord(completed) + suffix;
  return { text: replaced + tail, cursor: replaced.length, list: [] };
}
