/* The agent runs the line; the server reads its command name the same way to check its level. */
/**
 * Splits a live-response command line into words the way a POSIX shell reads words, and does
 * nothing else a shell does: no expansion ($, `, *, ?, ~), no operators (; | & < > ( )), no
 * comments (#). Those characters are plain parts of words, so a path holding them is just a path.
 *
 * - Unquoted blanks (space, tab, newline, carriage return) separate words; a newline never ends a command.
 * - '…' keeps every character up to the next ' as it is.
 * - "…" keeps every character, except that \ before $ ` " \ or a newline escapes it (a backslash
 *   before anything else stays a backslash), as in a shell.
 * - Outside quotes, \ escapes the next character (\ before a newline joins lines); a \ at the very
 *   end of the line stays a backslash.
 * - '' and "" make an empty word.
 *
 * An unterminated quote is an error naming the quote and where it opened.
 */
export function parseCommandLine(line: string): string[] | { error: string } {
  const words: string[] = [];
  let word = '';
  // A word has started (even an empty one, from '' or "").
  let inWord = false;
  let i = 0;
  while (i < line.length) {
    const c = line[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i++;
    } else if (c === '\\') {
      inWord = true;
      const next = line[i + 1];
      if (next === undefined) word += '\\';
      else if (next !== '\n') word += next;
      i += 2;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) return { error: `unterminated single quote (') opened at column ${i + 1}` };
      word += line.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      const open = i;
      inWord = true;
      i++;
      for (;;) {
        const d = line[i];
        if (d === undefined) return { error: `unterminated double quote (") opened at column ${open + 1}` };
        i++;
        if (d === '"') break;
        if (d === '\\' && i < line.length && '$`"\\\n'.includes(line[i]!)) {
          if (line[i] !== '\n') word += line[i];
          i++;
        } else word += d;
      }
    } else {
      word += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** A word quoted so that {@link parseCommandLine} reads it back exactly as it is, whatever it holds. */
export function quoteWord(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}
