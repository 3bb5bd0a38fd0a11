import { afterEach, describe, expect, it, vi } from 'vitest';
import { print, safeText } from './output.js';

// Text a device controls (host names, tags, progress messages) must not drive the analyst's terminal.
const HOSTILE = 'web-01\x1b[2J\x1b]0;pwned\x07\rfake\u009b31m\u202eevil\u2066x\x7f\nrow';
// eslint-disable-next-line no-control-regex
const RAW = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

let out = '';
afterEach(() => {
  vi.restoreAllMocks();
  out = '';
});
const capture = () => vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((out += String(chunk)), true));

describe('CLI output', () => {
  it('shows control, C1 and bidirectional characters of stored text escaped in tables', () => {
    capture();
    print(false, null, () => ({ head: ['name'], rows: [[HOSTILE]] }));
    expect(out).not.toMatch(RAW);
    expect(out).toContain('web-01\\x1b[2J');
    expect(out).toContain('\\u202e');
    // A line break in a value cannot fake a row of its own.
    expect(out.split('\n').filter((l) => l.includes('row'))).toEqual([expect.stringContaining('\\nrow')]);
  });

  it('keeps JSON exact for scripts while no raw control character reaches the terminal', () => {
    capture();
    print(true, { name: HOSTILE });
    expect(out).not.toMatch(RAW);
    expect(JSON.parse(out)).toEqual({ name: HOSTILE });
  });

  it('leaves ordinary text alone', () => {
    expect(safeText('web-01 — café 東京 (Isolated)')).toBe('web-01 — café 東京 (Isolated)');
  });
});
