// Parser for the subset of OData `$filter` accepted by Microsoft Defender for
// Endpoint's API. Hand-written (tokenizer + recursive descent) so it has no
// dependencies and its recursion depth is bounded by `maxDepth`.
// Field names are not validated here: the consumer maps them to columns.

/** A literal value on the right-hand side of a condition. */
export type Literal =
  | { kind: 'string'; value: string }
  | { kind: 'number'; value: number }
  | { kind: 'boolean'; value: boolean }
  | { kind: 'null' }
  | { kind: 'datetime'; value: string };

/** Binary comparison operators. */
export type ComparisonOp = 'eq' | 'ne' | 'gt' | 'ge' | 'lt' | 'le';

/** Parsed `$filter` expression. */
export type FilterNode =
  | { type: 'and' | 'or'; left: FilterNode; right: FilterNode }
  | { type: 'compare'; field: string; op: ComparisonOp; value: Literal }
  | { type: 'in'; field: string; values: Literal[] }
  /** `startswith(field,'prefix')`: a case-insensitive prefix match, as MDE's API offers. */
  | { type: 'startswith'; field: string; prefix: string }
  /** `contains(field,'part')`: a case-insensitive substring match (OData's `contains`). */
  | { type: 'contains'; field: string; text: string }
  /** `machineTags/any(t: t eq 'x')`; also `contains(t,'x')` and `startswith(t,'x')` inside, case-insensitive. */
  | { type: 'any'; field: string; op: 'eq' | 'ne' | 'in' | TextFunction; values: Literal[] };

/** The text functions: `startswith(field,'x')` and `contains(field,'x')`. */
export type TextFunction = 'startswith' | 'contains';
const TEXT_FUNCTIONS: readonly string[] = ['startswith', 'contains'];

/** Thrown for malformed or oversized `$filter` input; `position` is a 0-based offset into the input. */
export class FilterSyntaxError extends Error {
  readonly position: number;

  constructor(message: string, position: number) {
    super(message);
    this.name = 'FilterSyntaxError';
    this.position = position;
  }
}

const DEFAULT_MAX_LENGTH = 4096;
const DEFAULT_MAX_DEPTH = 32;

const COMPARISON_OPS: readonly string[] = ['eq', 'ne', 'gt', 'ge', 'lt', 'le'];

type Token =
  | { kind: 'ident'; text: string; pos: number }
  | { kind: 'punct'; text: '(' | ')' | ',' | ':' | '/'; pos: number }
  | { kind: 'literal'; text: string; pos: number; literal: Literal }
  | { kind: 'eof'; text: ''; pos: number };

const IDENT_RE = /[A-Za-z_][A-Za-z0-9_]*/y;
const NUMBER_RE = /-?\d+(?:\.\d+)?/y;
// Range-checked so an impossible date is a syntax error rather than a surprise later.
const DATETIME_RE =
  /\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])(?:[Tt](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,9})?)?(?:[Zz]|[+-](?:[01]\d|2[0-3]):[0-5]\d)?)?/y;
const DATE_START_RE = /\d{4}-/y;
// Characters that may not directly follow a number or date-time.
const LITERAL_TAIL_RE = /[A-Za-z0-9_.:]/;
const BAD_LITERAL_RE = /[A-Za-z0-9_.:+-]+/y;
const PUNCT = '(),:/';

function fail(pos: number, message: string, suffix = ''): never {
  throw new FilterSyntaxError(`${message} at position ${pos}${suffix}`, pos);
}

function matchAt(re: RegExp, input: string, pos: number): string | undefined {
  re.lastIndex = pos;
  return re.exec(input)?.[0];
}

function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const ch = input.charAt(i);
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    if (PUNCT.includes(ch)) {
      tokens.push({ kind: 'punct', text: ch as '(' | ')' | ',' | ':' | '/', pos: i });
      i++;
      continue;
    }
    if (ch === "'") {
      const start = i;
      let value = '';
      i++;
      for (;;) {
        const close = input.indexOf("'", i);
        if (close === -1) fail(start, 'Unterminated string starting');
        value += input.slice(i, close);
        // '' inside a string is an escaped quote.
        if (input.charAt(close + 1) === "'") {
          value += "'";
          i = close + 2;
          continue;
        }
        i = close + 1;
        break;
      }
      tokens.push({ kind: 'literal', text: input.slice(start, i), pos: start, literal: { kind: 'string', value } });
      continue;
    }
    if (/[0-9-]/.test(ch)) {
      let literal: Literal | undefined;
      let text: string | undefined;
      if (matchAt(DATE_START_RE, input, i) !== undefined) {
        text = matchAt(DATETIME_RE, input, i);
        if (text !== undefined) literal = { kind: 'datetime', value: text };
      } else {
        text = matchAt(NUMBER_RE, input, i);
        if (text !== undefined) literal = { kind: 'number', value: Number(text) };
      }
      if (text === undefined || literal === undefined || LITERAL_TAIL_RE.test(input.charAt(i + text.length))) {
        const bad = matchAt(BAD_LITERAL_RE, input, i) ?? ch;
        if (bad === '-') fail(i, "Unexpected character '-'");
        fail(i, `Invalid value '${clip(bad)}'`, '; expected a number such as 42 or -1.5, or a date-time such as 2026-11-22T10:00:00Z');
      }
      tokens.push({ kind: 'literal', text, pos: i, literal });
      i += text.length;
      continue;
    }
    const ident = matchAt(IDENT_RE, input, i);
    if (ident !== undefined) {
      tokens.push({ kind: 'ident', text: ident, pos: i });
      i += ident.length;
      continue;
    }
    fail(i, `Unexpected character '${ch}'`);
  }
  tokens.push({ kind: 'eof', text: '', pos: input.length });
  return tokens;
}

function clip(text: string): string {
  return text.length > 30 ? `${text.slice(0, 30)}…` : text;
}

function describe(tok: Token): string {
  if (tok.kind === 'eof') return 'end of $filter';
  if (tok.kind === 'literal' && tok.literal.kind === 'string') return `string ${clip(tok.text)}`;
  return `'${clip(tok.text)}'`;
}

class Parser {
  private readonly tokens: Token[];
  private readonly maxDepth: number;
  private index = 0;

  constructor(tokens: Token[], maxDepth: number) {
    this.tokens = tokens;
    this.maxDepth = maxDepth;
  }

  parse(): FilterNode {
    const node = this.parseOr(0);
    const tok = this.peek();
    if (tok.kind !== 'eof') {
      if (this.isPunct(tok, ')')) fail(tok.pos, "Unexpected ')'", "; it has no matching '('");
      fail(tok.pos, `Unexpected ${describe(tok)}`, "; expected 'and', 'or' or end of $filter");
    }
    return node;
  }

  private peek(offset = 0): Token {
    // The eof token is always last, so clamp to it.
    const tokens = this.tokens;
    return tokens[Math.min(this.index + offset, tokens.length - 1)] as Token;
  }

  private next(): Token {
    const tok = this.peek();
    if (tok.kind !== 'eof') this.index++;
    return tok;
  }

  private isPunct(tok: Token, text: string): boolean {
    return tok.kind === 'punct' && tok.text === text;
  }

  private isKeyword(tok: Token, keyword: string): boolean {
    return tok.kind === 'ident' && tok.text.toLowerCase() === keyword;
  }

  // Loops (not recursion) for and/or chains, so only parentheses add stack depth.
  private parseOr(depth: number): FilterNode {
    let left = this.parseAnd(depth, undefined);
    while (this.isKeyword(this.peek(), 'or')) {
      const op = this.next();
      left = { type: 'or', left, right: this.parseAnd(depth, op.text) };
    }
    return left;
  }

  private parseAnd(depth: number, after: string | undefined): FilterNode {
    let left = this.parseTerm(depth, after);
    while (this.isKeyword(this.peek(), 'and')) {
      const op = this.next();
      left = { type: 'and', left, right: this.parseTerm(depth, op.text) };
    }
    return left;
  }

  private parseTerm(depth: number, after: string | undefined): FilterNode {
    const tok = this.peek();
    if (this.isPunct(tok, '(')) {
      if (depth + 1 > this.maxDepth) fail(tok.pos, `Parentheses nested deeper than ${this.maxDepth} levels`);
      this.next();
      const inner = this.parseOr(depth + 1);
      const close = this.peek();
      if (!this.isPunct(close, ')')) {
        const found = close.kind === 'eof' ? '' : `, found ${describe(close)}`;
        fail(close.pos, "Expected ')'", ` to close the '(' opened at position ${tok.pos}${found}`);
      }
      this.next();
      return inner;
    }
    if (tok.kind === 'ident') return this.parseCondition();
    const context = after === undefined ? '' : ` after '${after}'`;
    if (tok.kind === 'eof') fail(tok.pos, `Expected a field name or '('${context}`);
    fail(tok.pos, `Expected a field name or '('${context}`, `, found ${describe(tok)}`);
  }

  private parseCondition(): FilterNode {
    const fieldTok = this.next();
    const field = fieldTok.text;
    const following = this.peek();
    if (this.isPunct(following, '(')) {
      const fn = field.toLowerCase();
      if (TEXT_FUNCTIONS.includes(fn)) {
        const { field: target, text } = this.parseTextFunction(fn as TextFunction, this.next());
        return fn === 'startswith' ? { type: 'startswith', field: target, prefix: text } : { type: 'contains', field: target, text };
      }
      fail(fieldTok.pos, `Unsupported function '${field}'`);
    }
    if (this.isPunct(following, '/')) return this.parseLambda(fieldTok);

    const opTok = this.next();
    if (opTok.kind !== 'ident') {
      if (field.toLowerCase() === 'not') fail(fieldTok.pos, "'not' is not supported");
      const found = opTok.kind === 'eof' ? '' : `, found ${describe(opTok)}`;
      fail(opTok.pos, `Expected an operator (eq, ne, gt, ge, lt, le, in) after '${field}'`, found);
    }
    const op = opTok.text.toLowerCase();
    if (op === 'in') return { type: 'in', field, values: this.parseList() };
    if (COMPARISON_OPS.includes(op)) {
      return { type: 'compare', field, op: op as ComparisonOp, value: this.parseLiteral(opTok.text) };
    }
    if (field.toLowerCase() === 'not') fail(fieldTok.pos, "'not' is not supported");
    fail(opTok.pos, `Unknown operator '${clip(opTok.text)}'`, '; expected eq, ne, gt, ge, lt, le or in');
  }

  // startswith(field,'prefix') and contains(field,'part')
  private parseTextFunction(fn: TextFunction, open: Token): { field: string; text: string } {
    const fieldTok = this.next();
    if (fieldTok.kind !== 'ident') fail(fieldTok.pos, `Expected a field name after '${fn}('`, `, e.g. ${fn}(computerDnsName,'web')`);
    const comma = this.next();
    if (!this.isPunct(comma, ',')) fail(comma.pos, `Expected ',' after '${fieldTok.text}' in ${fn}`);
    const litPos = this.peek().pos;
    const lit = this.parseLiteral(',');
    if (lit.kind !== 'string') fail(litPos, `${fn} needs a quoted text ${fn === 'startswith' ? 'prefix' : 'to find'}`, `, e.g. ${fn}(computerDnsName,'web')`);
    const close = this.next();
    if (!this.isPunct(close, ')')) fail(close.pos, "Expected ')'", ` to close the '${fn}(' opened at position ${open.pos}`);
    return { field: fieldTok.text, text: lit.value };
  }

  // field/any(v: v eq 'x') — also longer paths such as a/b/any(...).
  private parseLambda(fieldTok: Token): FilterNode {
    const segments = [fieldTok.text];
    while (this.isPunct(this.peek(), '/')) {
      const slash = this.next();
      const seg = this.next();
      if (seg.kind !== 'ident') fail(seg.pos, "Expected 'any' or a property name", ` after '/' at position ${slash.pos}`);
      const lower = seg.text.toLowerCase();
      if (lower === 'all') fail(seg.pos, "Lambda 'all' is not supported", "; use 'any'");
      if (lower === 'any' && this.isPunct(this.peek(), '(')) {
        return this.parseLambdaBody(segments.join('/'), this.next());
      }
      segments.push(seg.text);
    }
    fail(fieldTok.pos, `Property path '${clip(segments.join('/'))}' is only supported with '/any(...)'`);
  }

  private parseLambdaBody(field: string, open: Token): FilterNode {
    const varTok = this.next();
    if (varTok.kind !== 'ident') fail(varTok.pos, "Expected a range variable after 'any('", ", e.g. any(t: t eq 'x')");
    const colon = this.next();
    if (!this.isPunct(colon, ':')) fail(colon.pos, `Expected ':' after range variable '${varTok.text}'`);

    // any(t: contains(t,'x')) / any(t: startswith(t,'x'))
    const fnTok = this.peek();
    if (fnTok.kind === 'ident' && TEXT_FUNCTIONS.includes(fnTok.text.toLowerCase()) && this.isPunct(this.peek(1), '(')) {
      this.next();
      const fn = fnTok.text.toLowerCase() as TextFunction;
      const inner = this.parseTextFunction(fn, this.next());
      if (inner.field !== varTok.text) fail(fnTok.pos, `${fn} inside 'any' works on the range variable '${varTok.text}'`, `, e.g. ${fn}(${varTok.text},'x')`);
      const end = this.next();
      if (!this.isPunct(end, ')')) fail(end.pos, "Expected ')'", ` to close the 'any(' opened at position ${open.pos}; only one condition is supported inside 'any'`);
      return { type: 'any', field, op: fn, values: [{ kind: 'string', value: inner.text }] };
    }

    const useTok = this.next();
    if (useTok.kind !== 'ident') fail(useTok.pos, `Expected '${varTok.text}' after ':'`);
    if (useTok.text !== varTok.text) {
      fail(useTok.pos, `Lambda variable '${clip(useTok.text)}' does not match declared variable '${varTok.text}'`);
    }

    const opTok = this.next();
    const op = opTok.kind === 'ident' ? opTok.text.toLowerCase() : '';
    let node: FilterNode;
    if (op === 'in') {
      node = { type: 'any', field, op: 'in', values: this.parseList() };
    } else if (op === 'eq' || op === 'ne') {
      node = { type: 'any', field, op, values: [this.parseLiteral(opTok.text)] };
    } else {
      fail(opTok.pos, `Expected eq, ne or in after '${varTok.text}'`, " inside 'any(...)'");
    }

    const close = this.next();
    if (!this.isPunct(close, ')')) {
      fail(close.pos, "Expected ')'", ` to close the 'any(' opened at position ${open.pos}; only one condition is supported inside 'any'`);
    }
    return node;
  }

  private parseList(): Literal[] {
    const open = this.next();
    if (!this.isPunct(open, '(')) fail(open.pos, "Expected '(' after 'in'", ", e.g. in ('a','b')");
    const values: Literal[] = [];
    let after = '(';
    for (;;) {
      values.push(this.parseLiteral(after));
      const sep = this.next();
      if (this.isPunct(sep, ')')) return values;
      if (!this.isPunct(sep, ',')) fail(sep.pos, "Expected ',' or ')' in the 'in' list");
      after = ',';
    }
  }

  private parseLiteral(after: string): Literal {
    const tok = this.next();
    if (tok.kind === 'literal') return tok.literal;
    if (tok.kind === 'ident') {
      const lower = tok.text.toLowerCase();
      if (lower === 'true') return { kind: 'boolean', value: true };
      if (lower === 'false') return { kind: 'boolean', value: false };
      if (lower === 'null') return { kind: 'null' };
      fail(tok.pos, `Expected a value after '${after}'`, `, found '${clip(tok.text)}'; quote text values, e.g. '${clip(tok.text)}'`);
    }
    if (tok.kind === 'eof') fail(tok.pos, `Expected a value after '${after}'`);
    fail(tok.pos, `Expected a value after '${after}'`, `, found ${describe(tok)}`);
  }
}

/**
 * Parse an OData `$filter` string (the MDE subset) into an AST.
 * Throws FilterSyntaxError on malformed input, input longer than `maxLength`
 * (default 4096) or parentheses nested deeper than `maxDepth` (default 32).
 */
export function parseFilter(input: string, opts: { maxLength?: number; maxDepth?: number } = {}): FilterNode {
  const maxLength = opts.maxLength ?? DEFAULT_MAX_LENGTH;
  const maxDepth = opts.maxDepth ?? DEFAULT_MAX_DEPTH;
  if (input.length > maxLength) {
    throw new FilterSyntaxError(`$filter is too long (${input.length} characters; the maximum is ${maxLength})`, maxLength);
  }
  if (input.trim() === '') throw new FilterSyntaxError('Empty $filter', 0);
  return new Parser(tokenize(input), maxDepth).parse();
}
