import { BadRequestError } from '../errors.js';

/**
 * MDE clients send PascalCase keys (`Comment`, `IsolationType`); ours use camelCase. Top-level keys
 * are normalised to camelCase, remembering how each was spelt so errors name the field as sent.
 */
export function normalizeBodyKeys(body: unknown): { body: unknown; spelling: Record<string, string> } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return { body, spelling: {} };
  const out: Record<string, unknown> = {};
  const spelling: Record<string, string> = {};
  for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
    const camel = key.length > 0 ? key[0]!.toLowerCase() + key.slice(1) : key;
    if (camel in out) throw new BadRequestError(`${key} is given twice (as ${spelling[camel]} and ${key}); send it once`, key);
    out[camel] = value;
    spelling[camel] = key;
  }
  return { body: out, spelling };
}

/** The field name to show in an error: as the client spelt it, or PascalCase as MDE documents it. */
export function fieldName(path: string, spelling: Record<string, string>): string {
  const [head, ...rest] = path.split('/').filter(Boolean);
  if (!head) return 'body';
  const shown = spelling[head] ?? head[0]!.toUpperCase() + head.slice(1);
  return [shown, ...rest].join('.');
}

/** Refuses a body with a NUL character anywhere in it, naming the field as the client spelt it. */
export function refuseNul(body: unknown, spelling: Record<string, string>): void {
  const nul = pathOfNul(body);
  if (nul === null) return;
  const name = fieldName(nul, spelling);
  throw new BadRequestError(`${name} must not contain NUL characters`, name);
}

/**
 * The 400 for a body its schema refused, worded alike for a request (`whole` is "request body")
 * and a socket message ("message"): `path` is a JSON pointer to the field, `unknownKey` a field
 * the schema does not know.
 */
export function invalidBody(issue: { path: string; message: string; unknownKey?: string }, spelling: Record<string, string>, whole: string): BadRequestError {
  if (issue.unknownKey !== undefined) {
    const name = fieldName(`${issue.path}/${issue.unknownKey}`, spelling);
    return new BadRequestError(`${name} is not a known field here; remove it`, name);
  }
  if (!issue.path.split('/').some(Boolean)) return new BadRequestError(`The ${whole} must be a JSON object: ${issue.message}`, whole === 'message' ? 'message' : 'body');
  const name = fieldName(issue.path, spelling);
  return new BadRequestError(`${name}: ${issue.message}`, name);
}

/**
 * Where a NUL character hides in a JSON value (`/evidence/0/sha256`), or null. No text of the API
 * may hold one: PostgreSQL refuses it in text, so it is refused up front, on either store alike,
 * instead of failing (500) when stored.
 */
export function pathOfNul(value: unknown, path = ''): string | null {
  // Nearly every body has none: a scan that builds no paths says so first.
  if (path === '' && !hasNul(value)) return null;
  if (typeof value === 'string') return value.includes('\u0000') ? path || '/' : null;
  if (value === null || typeof value !== 'object') return null;
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (k.includes('\u0000')) return `${path}/${k.replaceAll('\u0000', '')}`;
    const found = pathOfNul(v, `${path}/${k}`);
    if (found !== null) return found;
  }
  return null;
}

function hasNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (value === null || typeof value !== 'object') return false;
  for (const k in value) if (k.includes('\u0000') || hasNul((value as Record<string, unknown>)[k])) return true;
  return false;
}
