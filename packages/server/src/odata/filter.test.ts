import { describe, it, expect } from 'vitest';
import { FilterSyntaxError, parseFilter } from './filter.js';
import type { ComparisonOp, FilterNode, Literal } from './filter.js';

// Small builders keep the expected ASTs readable.
const str = (value: string): Literal => ({ kind: 'string', value });
const num = (value: number): Literal => ({ kind: 'number', value });
const bool = (value: boolean): Literal => ({ kind: 'boolean', value });
const nul: Literal = { kind: 'null' };
const dt = (value: string): Literal => ({ kind: 'datetime', value });
const cmp = (field: string, op: ComparisonOp, value: Literal): FilterNode => ({ type: 'compare', field, op, value });
const eq = (field: string, value: Literal): FilterNode => cmp(field, 'eq', value);
const and = (left: FilterNode, right: FilterNode): FilterNode => ({ type: 'and', left, right });
const or = (left: FilterNode, right: FilterNode): FilterNode => ({ type: 'or', left, right });
const inList = (field: string, values: Literal[]): FilterNode => ({ type: 'in', field, values });
const any = (field: string, op: 'eq' | 'ne' | 'in' | 'contains' | 'startswith', values: Literal[]): FilterNode => ({ type: 'any', field, op, values });

function errorOf(input: string, opts?: { maxLength?: number; maxDepth?: number }): FilterSyntaxError {
  try {
    parseFilter(input, opts);
  } catch (err) {
    if (err instanceof FilterSyntaxError) return err;
    throw err;
  }
  throw new Error(`expected ${JSON.stringify(input.slice(0, 60))} to fail`);
}

describe('parseFilter', () => {
  describe('comparison operators', () => {
    it.each<[string, FilterNode]>([
      ["status eq 'Pending'", eq('status', str('Pending'))],
      ["status ne 'Pending'", cmp('status', 'ne', str('Pending'))],
      ['exposureScore gt 5', cmp('exposureScore', 'gt', num(5))],
      ['exposureScore ge 5', cmp('exposureScore', 'ge', num(5))],
      ['exposureScore lt 5', cmp('exposureScore', 'lt', num(5))],
      ['exposureScore le 5', cmp('exposureScore', 'le', num(5))],
    ])('%s', (input, expected) => {
      expect(parseFilter(input)).toEqual(expected);
    });
  });

  describe('literals', () => {
    it.each<[string, FilterNode]>([
      ['a eq 42', eq('a', num(42))],
      ['a eq -1.5', eq('a', num(-1.5))],
      ['a eq 0.25', eq('a', num(0.25))],
      ['a eq true', eq('a', bool(true))],
      ['a eq FALSE', eq('a', bool(false))],
      ['a eq null', eq('a', nul)],
      ['a ne Null', cmp('a', 'ne', nul)],
      ["name eq 'O''Brien'", eq('name', str("O'Brien"))],
      ["name eq ''", eq('name', str(''))],
      ["name eq ''''", eq('name', str("'"))],
      ["name eq 'a and b or (c)'", eq('name', str('a and b or (c)'))],
      ['lastSeen gt 2026-11-22T10:00:00Z', cmp('lastSeen', 'gt', dt('2026-11-22T10:00:00Z'))],
      ['lastSeen gt 2026-11-22T10:00:00.123Z', cmp('lastSeen', 'gt', dt('2026-11-22T10:00:00.123Z'))],
      ['lastSeen ge 2026-11-22', cmp('lastSeen', 'ge', dt('2026-11-22'))],
      ['lastSeen lt 2026-11-22T10:00', cmp('lastSeen', 'lt', dt('2026-11-22T10:00'))],
      ['lastSeen lt 2026-11-22T10:00:00-05:00', cmp('lastSeen', 'lt', dt('2026-11-22T10:00:00-05:00'))],
      // Quoted dates stay strings; the consumer decides.
      ["lastSeen gt '2026-11-22T10:00:00Z'", cmp('lastSeen', 'gt', str('2026-11-22T10:00:00Z'))],
    ])('%s', (input, expected) => {
      expect(parseFilter(input)).toEqual(expected);
    });
  });

  describe('in', () => {
    it.each<[string, FilterNode]>([
      ["computerDnsName in ('a','b')", inList('computerDnsName', [str('a'), str('b')])],
      ["computerDnsName in ('a')", inList('computerDnsName', [str('a')])],
      ['rbacGroupId in (1, 2 ,3)', inList('rbacGroupId', [num(1), num(2), num(3)])],
      ["a in ( 'x' , 7, null )", inList('a', [str('x'), num(7), nul])],
    ])('%s', (input, expected) => {
      expect(parseFilter(input)).toEqual(expected);
    });
  });

  describe('and / or / parentheses', () => {
    it.each<[string, FilterNode]>([
      ['a eq 1 or b eq 2 and c eq 3', or(eq('a', num(1)), and(eq('b', num(2)), eq('c', num(3))))],
      ['a eq 1 and b eq 2 or c eq 3', or(and(eq('a', num(1)), eq('b', num(2))), eq('c', num(3)))],
      ['(a eq 1 or b eq 2) and c eq 3', and(or(eq('a', num(1)), eq('b', num(2))), eq('c', num(3)))],
      ['a eq 1 and b eq 2 and c eq 3', and(and(eq('a', num(1)), eq('b', num(2))), eq('c', num(3)))],
      ['a eq 1 or b eq 2 or c eq 3', or(or(eq('a', num(1)), eq('b', num(2))), eq('c', num(3)))],
      ['((a eq 1))', eq('a', num(1))],
      ['a eq 1 and (b eq 2 or (c eq 3 and d eq 4))', and(eq('a', num(1)), or(eq('b', num(2)), and(eq('c', num(3)), eq('d', num(4)))))],
      ['  (  a   eq\t1 )\n', eq('a', num(1))],
    ])('%s', (input, expected) => {
      expect(parseFilter(input)).toEqual(expected);
    });
  });

  describe('any lambda', () => {
    it.each<[string, FilterNode]>([
      ["machineTags/any(t: t eq 'prod')", any('machineTags', 'eq', [str('prod')])],
      ["machineTags/any(tag:tag ne 'prod')", any('machineTags', 'ne', [str('prod')])],
      ["machineTags/any(t: t in ('prod','dev'))", any('machineTags', 'in', [str('prod'), str('dev')])],
      ["machineTags/any(t: contains(t,'ux'))", any('machineTags', 'contains', [str('ux')])],
      ["machineTags/any(tag: StartsWith( tag , 'ux-' ))", any('machineTags', 'startswith', [str('ux-')])],
      ["contains(computerDnsName,'web')", { type: 'contains', field: 'computerDnsName', text: 'web' }],
      ["a/b/any(x: x eq 1)", any('a/b', 'eq', [num(1)])],
      [
        "machineTags/any(t: t eq 'prod') and healthStatus eq 'Active'",
        and(any('machineTags', 'eq', [str('prod')]), eq('healthStatus', str('Active'))),
      ],
    ])('%s', (input, expected) => {
      expect(parseFilter(input)).toEqual(expected);
    });
  });

  describe('startswith', () => {
    it.each<[string, FilterNode]>([
      ["startswith(computerDnsName,'web')", { type: 'startswith', field: 'computerDnsName', prefix: 'web' }],
      ["startswith( lastIpAddress , '10.1.' ) or machineTags/any(t: t eq '10.1.')", or({ type: 'startswith', field: 'lastIpAddress', prefix: '10.1.' }, any('machineTags', 'eq', [str('10.1.')]))],
    ])('%s', (input, expected) => {
      expect(parseFilter(input)).toEqual(expected);
    });
  });

  describe('MDE examples', () => {
    it.each<[string, FilterNode]>([
      ["machineTags/any(t: t eq 'prod')", any('machineTags', 'eq', [str('prod')])],
      ["status eq 'Pending' and machineId eq 'abc'", and(eq('status', str('Pending')), eq('machineId', str('abc')))],
      ["computerDnsName in ('a','b')", inList('computerDnsName', [str('a'), str('b')])],
      ['lastSeen gt 2026-11-22T10:00:00Z', cmp('lastSeen', 'gt', dt('2026-11-22T10:00:00Z'))],
      ["healthStatus eq 'Active' and osPlatform eq 'Linux'", and(eq('healthStatus', str('Active')), eq('osPlatform', str('Linux')))],
      ["riskScore eq 'High'", eq('riskScore', str('High'))],
    ])('%s', (input, expected) => {
      expect(parseFilter(input)).toEqual(expected);
    });
  });

  describe('case-insensitive keywords', () => {
    it.each<[string, FilterNode]>([
      ["STATUS Eq 'x'", eq('STATUS', str('x'))],
      ['a GT 1 AND b Le 2 Or c NE 3', or(and(cmp('a', 'gt', num(1)), cmp('b', 'le', num(2))), cmp('c', 'ne', num(3)))],
      ["a IN ('x')", inList('a', [str('x')])],
      ["machineTags/ANY(t: t IN ('prod'))", any('machineTags', 'in', [str('prod')])],
      ['a eq TRUE', eq('a', bool(true))],
    ])('%s', (input, expected) => {
      expect(parseFilter(input)).toEqual(expected);
    });
  });

  describe('errors', () => {
    it.each<[string, string, number, string]>([
      ['empty', '', 0, 'Empty $filter'],
      ['blank', '   ', 0, 'Empty $filter'],
      ['unterminated string', "name eq 'abc", 8, 'Unterminated string starting at position 8'],
      ['unterminated after escaped quote', "a eq 'x''", 5, 'Unterminated string starting at position 5'],
      ['missing value', 'status eq', 9, "Expected a value after 'eq' at position 9"],
      ['missing value before and', "status eq and b eq 'x'", 10, "Expected a value after 'eq' at position 10"],
      ['unquoted text value', 'status eq Pending', 10, "quote text values, e.g. 'Pending'"],
      ['unknown operator', "status eqq 'x'", 7, "Unknown operator 'eqq' at position 7"],
      ['missing operator', 'status', 6, "Expected an operator (eq, ne, gt, ge, lt, le, in) after 'status' at position 6"],
      ['trailing garbage', 'a eq 1 b', 7, "Unexpected 'b' at position 7"],
      ['trailing value', "a eq 1 'x'", 7, "Unexpected string 'x' at position 7"],
      ['dangling and', 'a eq 1 and', 10, "Expected a field name or '(' after 'and' at position 10"],
      ['unclosed (', '(a eq 1', 7, "Expected ')' at position 7 to close the '(' opened at position 0"],
      ['extra )', 'a eq 1)', 6, "Unexpected ')' at position 6"],
      ['empty ()', '()', 1, "Expected a field name or '(' at position 1, found ')'"],
      ['stray ) in condition', 'a eq)', 4, "Expected a value after 'eq' at position 4, found ')'"],
      ['in without list', "a in 'x'", 5, "Expected '(' after 'in' at position 5"],
      ['empty in list', 'a in ()', 6, "Expected a value after '(' at position 6"],
      ['trailing comma in list', "a in ('x',)", 10, "Expected a value after ',' at position 10"],
      ['missing comma in list', "a in ('x' 'y')", 10, "Expected ',' or ')' in the 'in' list at position 10"],
      ['unclosed in list', "a in ('x'", 9, "Expected ',' or ')' in the 'in' list at position 9"],
      ['wrong lambda variable', "machineTags/any(t: x eq 'a')", 19, "Lambda variable 'x' does not match declared variable 't' at position 19"],
      ['lambda without variable', "tags/any(t eq 'a')", 11, "Expected ':' after range variable 't' at position 11"],
      ['unsupported lambda operator', 'tags/any(t: t gt 1)', 14, "Expected eq, ne or in after 't' at position 14"],
      ['two conditions in lambda', "tags/any(t: t eq 'a' or t eq 'b')", 21, "Expected ')' at position 21 to close the 'any(' opened at position 8"],
      ['all lambda', "tags/all(t: t eq 'a')", 5, "Lambda 'all' is not supported at position 5"],
      ['path without any', 'a/b eq 1', 0, "Property path 'a/b' is only supported with '/any(...)' at position 0"],
      ['function call', "endswith(name,'x')", 0, "Unsupported function 'endswith' at position 0"],
      ['contains on another variable', "machineTags/any(t: contains(x,'a'))", 19, "contains inside 'any' works on the range variable 't' at position 19, e.g. contains(t,'x')"],
      ['startswith without text', 'startswith(name,3)', 16, 'startswith needs a quoted text prefix'],
      ['startswith unclosed', "startswith(name,'x'", 19, "Expected ')' at position 19 to close the 'startswith(' opened at position 10"],
      ['not', 'not a eq 1', 0, "'not' is not supported at position 0"],
      ['unexpected character', 'a eq #', 5, "Unexpected character '#' at position 5"],
      ['invalid date', 'a gt 2026-13-01', 5, "Invalid value '2026-13-01' at position 5"],
      ['invalid number', 'a gt 12abc', 5, "Invalid value '12abc' at position 5"],
    ])('%s: %s', (_name, input, position, message) => {
      const err = errorOf(input);
      expect(err).toBeInstanceOf(FilterSyntaxError);
      expect(err.name).toBe('FilterSyntaxError');
      expect(err.position).toBe(position);
      expect(err.message).toContain(message);
    });

    it('rejects input longer than maxLength', () => {
      const err = errorOf(`a eq '${'x'.repeat(4096)}'`);
      expect(err.position).toBe(4096);
      expect(err.message).toMatch(/too long/);
      expect(() => parseFilter('a eq 1', { maxLength: 5 })).toThrow(FilterSyntaxError);
      expect(parseFilter('a eq 1', { maxLength: 6 })).toEqual(eq('a', num(1)));
    });

    it('rejects 10,000 opening parentheses without overflowing the stack', () => {
      expect(errorOf('('.repeat(10_000)).message).toMatch(/too long/);
      const err = errorOf('('.repeat(10_000), { maxLength: 20_000 });
      expect(err.position).toBe(32);
      expect(err.message).toBe('Parentheses nested deeper than 32 levels at position 32');
    });

    it('allows exactly maxDepth levels of nesting', () => {
      const nest = (n: number) => `${'('.repeat(n)}a eq 1${')'.repeat(n)}`;
      expect(parseFilter(nest(32))).toEqual(eq('a', num(1)));
      expect(errorOf(nest(33)).position).toBe(32);
      expect(parseFilter(nest(2), { maxDepth: 2 })).toEqual(eq('a', num(1)));
      expect(errorOf(nest(3), { maxDepth: 2 }).position).toBe(2);
    });

    it('does not recurse on long and/or chains', () => {
      const input = Array.from({ length: 300 }, (_, i) => `f${i} eq ${i}`).join(' and ');
      expect(parseFilter(input, { maxLength: 10_000 }).type).toBe('and');
    });
  });
});
