import { sql, type Expression, type SqlBool } from 'kysely';
import { BadRequestError } from '../errors.js';
import { FilterSyntaxError, parseFilter, type FilterNode, type Literal, type TextFunction } from './filter.js';

/** How one public field of a `$filter` maps onto the store. */
export type FieldSpec =
  /** `alsoLowerCase`: eq, ne and in also match the value in lower case (a hash sent in capitals finds the stored one). */
  | { kind: 'text'; column: string; values?: readonly string[]; alsoLowerCase?: boolean }
  | { kind: 'datetime'; column: string }
  /** `machineTags/any(t: t eq 'x')`: a tag row exists for the machine. */
  | { kind: 'tags'; machineIdColumn: string }
  /** `ipAddresses/any(a: a eq '10.1.2.3')`: the device has reported this address (the history findbyip uses). */
  | { kind: 'ips'; machineIdColumn: string }
  /**
   * `usableActions/any(a: a eq 'Isolate')`: names kept in one text column as `,A,B,` (letters
   * only, from `values`); `negate` selects the rows whose column lacks the name instead.
   */
  | { kind: 'names'; column: string; values: readonly string[]; negate?: boolean }
  /** A value derived at query time from a timestamp (healthStatus from lastSeen). */
  | { kind: 'derived'; build: (op: 'eq' | 'ne', value: string) => Expression<SqlBool>; values: readonly string[] };

export type FieldMap = Record<string, FieldSpec>;

function invalid(message: string): BadRequestError {
  return new BadRequestError(message, '$filter', 'InvalidInput');
}

function literalText(field: string, lit: Literal): string {
  if (lit.kind === 'string' || lit.kind === 'datetime') return lit.value;
  if (lit.kind === 'number' || lit.kind === 'boolean') return String(lit.value);
  throw invalid(`${field} cannot be compared with null`);
}

function checkEnum(field: string, spec: { values?: readonly string[] }, value: string): string {
  if (!spec.values) return value;
  const match = spec.values.find((v) => v.toLowerCase() === value.toLowerCase());
  if (!match) throw invalid(`'${value}' is not a valid ${field}; use one of ${spec.values.join(', ')}`);
  return match;
}

function isoOf(field: string, lit: Literal): string {
  const text = literalText(field, lit);
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw invalid(`${field} needs a date such as 2026-11-22T10:00:00Z, not '${text}'`);
  return new Date(t).toISOString();
}

/**
 * A case-insensitive prefix or substring match: lower-cased on both sides so SQLite and PostgreSQL
 * agree; LIKE's wildcards in the text are escaped.
 */
function like(column: Expression<unknown>, fn: TextFunction, text: string): Expression<SqlBool> {
  const escaped = text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`);
  const pattern = fn === 'startswith' ? `${escaped}%` : `%${escaped}%`;
  return sql<SqlBool>`lower(${column}) like ${pattern} escape '\\'`;
}

const SQL_OPS = { eq: '=', ne: '<>', gt: '>', ge: '>=', lt: '<', le: '<=' } as const;

/**
 * Parses `$filter` and turns it into a SQL condition over the fields in `fields` only; any other
 * field, a wrong enum value or a bad date is a 400 naming what to send instead.
 */
export function compileFilter(filter: string, fields: FieldMap): Expression<SqlBool> {
  let ast: FilterNode;
  try {
    ast = parseFilter(filter);
  } catch (e) {
    if (e instanceof FilterSyntaxError) throw invalid(`$filter: ${e.message}`);
    throw e;
  }
  return compileNode(ast, fields);
}

function specOf(field: string, fields: FieldMap): FieldSpec {
  const key = Object.keys(fields).find((k) => k.toLowerCase() === field.toLowerCase());
  if (!key) throw invalid(`Cannot filter on '${field}'; filterable fields are ${Object.keys(fields).join(', ')}`);
  return fields[key]!;
}

function compileNode(node: FilterNode, fields: FieldMap): Expression<SqlBool> {
  switch (node.type) {
    case 'and':
    case 'or': {
      const l = compileNode(node.left, fields);
      const r = compileNode(node.right, fields);
      return node.type === 'and' ? sql<SqlBool>`(${l} and ${r})` : sql<SqlBool>`(${l} or ${r})`;
    }
    case 'compare': {
      const spec = specOf(node.field, fields);
      if (spec.kind === 'tags' || spec.kind === 'ips' || spec.kind === 'names') throw invalid(`Use ${node.field}/any(x: x eq 'value') to filter on ${node.field}`);
      if (spec.kind === 'derived') {
        if (node.op !== 'eq' && node.op !== 'ne') throw invalid(`${node.field} supports eq and ne only`);
        return spec.build(node.op, checkEnum(node.field, spec, literalText(node.field, node.value)));
      }
      const op = sql.raw(SQL_OPS[node.op]);
      if (node.value.kind === 'null') {
        if (node.op === 'eq') return sql<SqlBool>`${sql.ref(spec.column)} is null`;
        if (node.op === 'ne') return sql<SqlBool>`${sql.ref(spec.column)} is not null`;
        throw invalid(`${node.field} cannot be ordered against null`);
      }
      if (spec.kind === 'datetime') return sql<SqlBool>`${sql.ref(spec.column)} ${op} ${isoOf(node.field, node.value)}`;
      if (node.op !== 'eq' && node.op !== 'ne') throw invalid(`${node.field} supports eq, ne and in; gt/lt are for dates`);
      const value = checkEnum(node.field, spec, literalText(node.field, node.value));
      if (spec.alsoLowerCase) return sql<SqlBool>`${sql.ref(spec.column)} ${sql.raw(node.op === 'eq' ? 'in' : 'not in')} (${sql.join(withLowerCase([value]))})`;
      return sql<SqlBool>`${sql.ref(spec.column)} ${op} ${value}`;
    }
    case 'in': {
      const spec = specOf(node.field, fields);
      if (spec.kind === 'tags' || spec.kind === 'ips' || spec.kind === 'names') throw invalid(`Use ${node.field}/any(x: x in ('a','b')) to filter on ${node.field}`);
      if (spec.kind === 'derived') {
        const parts = node.values.map((v) => spec.build('eq', checkEnum(node.field, spec, literalText(node.field, v))));
        return parts.reduce((a, b) => sql<SqlBool>`(${a} or ${b})`);
      }
      const values = node.values.map((v) => (spec.kind === 'datetime' ? isoOf(node.field, v) : checkEnum(node.field, spec, literalText(node.field, v))));
      return sql<SqlBool>`${sql.ref(spec.column)} in (${sql.join(spec.kind === 'text' && spec.alsoLowerCase ? withLowerCase(values) : values)})`;
    }
    case 'startswith':
    case 'contains': {
      const spec = specOf(node.field, fields);
      if (spec.kind !== 'text') throw invalid(`${node.type} works on text fields; ${node.field} is not one`);
      return like(sql.ref(spec.column), node.type, node.type === 'startswith' ? node.prefix : node.text);
    }
    case 'any': {
      const spec = specOf(node.field, fields);
      if (spec.kind === 'names') return namesCondition(node.field, spec, node.op, node.values);
      if (spec.kind !== 'tags' && spec.kind !== 'ips') throw invalid(`${node.field} is not a collection; any() works on ${collections(fields)}`);
      const values = node.values.map((v) => literalText(node.field, v));
      const [table, column] = spec.kind === 'tags' ? ['machine_tags', 'tag'] : ['machine_ips', 'ip'];
      const col = sql.ref(`${table}.${column}`);
      const cond =
        node.op === 'in' ? sql`${col} in (${sql.join(values)})` : node.op === 'eq' ? sql`${col} = ${values[0]}` : node.op === 'ne' ? sql`${col} <> ${values[0]}` : like(col, node.op, values[0]!);
      return sql<SqlBool>`exists (select 1 from ${sql.table(table)} where ${sql.ref(`${table}.machine_id`)} = ${sql.ref(spec.machineIdColumn)} and ${cond})`;
    }
  }
}

const withLowerCase = (values: string[]): string[] => [...new Set(values.flatMap((v) => [v, v.toLowerCase()]))];

function collections(fields: FieldMap): string {
  return Object.entries(fields).filter(([, f]) => f.kind === 'tags' || f.kind === 'ips' || f.kind === 'names').map(([k]) => k).join(', ');
}

/** `any()` over a names column: LIKE on `,name,` (names are checked against `values`, so hold no wildcard). */
function namesCondition(field: string, spec: { column: string; values: readonly string[]; negate?: boolean }, op: 'eq' | 'ne' | 'in' | TextFunction, values: Literal[]): Expression<SqlBool> {
  if (op !== 'eq' && op !== 'in') throw invalid(`${field}/any() takes eq or in`);
  const names = values.map((v) => checkEnum(field, spec, literalText(field, v)));
  const col = sql.ref(spec.column);
  const has = names.map((n) => sql<SqlBool>`${col} like ${`%,${n},%`}`).reduce((a, b) => sql<SqlBool>`(${a} or ${b})`);
  return spec.negate ? sql<SqlBool>`not (${has})` : has;
}

/** A list request as the API takes it: OData $filter, $orderby, $top, $skip and $count. */
export interface ListParams {
  filter?: string;
  orderby?: string;
  top: number;
  skip: number;
  count?: boolean;
}

/**
 * A list request's `$filter` and `$orderby`, compiled: the condition in the form repositories take
 * (none without a filter) and the sort keys (none: the repository's default order).
 */
export function compileList(q: ListParams, fields: FieldMap, sortable: Record<string, Expression<unknown>> = {}): { where?: () => Expression<SqlBool>; order: OrderKey[] } {
  const condition = q.filter ? compileFilter(q.filter, fields) : undefined;
  return { where: condition ? () => condition : undefined, order: q.orderby ? compileOrderBy(q.orderby, fields, sortable) : [] };
}

/** One `$orderby` key compiled to SQL: an expression and its direction. */
export interface OrderKey {
  expr: Expression<unknown>;
  dir: 'asc' | 'desc';
}

/**
 * `$orderby=lastSeen desc,computerDnsName`: up to three keys over the text and date fields of
 * `fields`, or over `sortable` expressions for fields whose order is not their text's (risk by
 * severity). Anything else is a 400 listing what can be sorted on.
 */
export function compileOrderBy(orderby: string, fields: FieldMap, sortable: Record<string, Expression<unknown>> = {}): OrderKey[] {
  const names = [...Object.entries(fields).filter(([k, f]) => f.kind === 'text' || f.kind === 'datetime' || k in sortable).map(([k]) => k), ...Object.keys(sortable).filter((k) => !(k in fields))];
  const parts = orderby.split(',').map((p) => p.trim()).filter(Boolean);
  if (parts.length === 0 || parts.length > 3) throw new BadRequestError('$orderby takes one to three fields, e.g. lastSeen desc,computerDnsName', '$orderby', 'InvalidInput');
  return parts.map((part) => {
    const m = /^([A-Za-z][A-Za-z0-9]*)(?:\s+(asc|desc))?$/i.exec(part);
    const name = m && names.find((n) => n.toLowerCase() === m[1]!.toLowerCase());
    if (!m || !name) throw new BadRequestError(`$orderby: cannot sort on '${part.slice(0, 60)}'; sort on one of ${names.join(', ')}, optionally followed by asc or desc`, '$orderby', 'InvalidInput');
    const spec = fields[name];
    const expr = sortable[name] ?? (spec && 'column' in spec ? sql.ref(spec.column) : undefined);
    return { expr: expr!, dir: (m[2]?.toLowerCase() ?? 'asc') as 'asc' | 'desc' };
  });
}
