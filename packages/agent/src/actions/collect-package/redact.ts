/** Keys whose values are secrets wherever they appear in the agent's files. */
const SECRET_KEY = /credential|secret|password|passphrase|token|private|apikey|api_key|authorization|cookie/i;

export const REDACTED = '[REDACTED]';

/** A copy of a JSON value with every secret-looking key's value replaced. */
export function redactJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactJson);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET_KEY.test(k) ? REDACTED : redactJson(v)]));
  }
  return value;
}

/**
 * Redacts secrets from free text (log lines): JSON-ish `"credential":"..."` pairs, key=value
 * pairs, bearer tokens, enrollment tokens (cet.<secret>.<pin>) and PEM private keys.
 */
export function redactText(text: string): string {
  return text
    .replace(/-----BEGIN ([A-Z ]*)PRIVATE KEY-----[\s\S]*?-----END \1PRIVATE KEY-----/g, `-----BEGIN $1PRIVATE KEY-----${REDACTED}-----END $1PRIVATE KEY-----`)
    .replace(/("([A-Za-z0-9_]*)"\s*:\s*)"((?:[^"\\]|\\.)*)"/g, (m, pre: string, key: string) => (SECRET_KEY.test(key) ? `${pre}"${REDACTED}"` : m))
    .replace(/\b([A-Za-z0-9_]+)=(\S+)/g, (m, key: string) => (SECRET_KEY.test(key) ? `${key}=${REDACTED}` : m))
    .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, `$1 ${REDACTED}`)
    .replace(/\bcet\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/g, `cet.${REDACTED}`);
}
