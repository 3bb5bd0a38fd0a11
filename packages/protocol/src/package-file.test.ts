import { describe, expect, it } from 'vitest';
import { packageFileName } from './package-file.js';

describe('packageFileName', () => {
  it.each([
    ['web-01', '2026-11-30T01:02:03.456Z', 'web-01-20261130T010203Z-investigation-package.zip'],
    ['db.corp.example', new Date('2026-01-02T03:04:05Z'), 'db.corp.example-20260102T030405Z-investigation-package.zip'],
    ['../x"; y', '2026-11-30T01:02:03Z', 'x_y-20261130T010203Z-investigation-package.zip'],
    ['..', '2026-11-30T01:02:03Z', 'device-20261130T010203Z-investigation-package.zip'],
    ['héllo wörld\r\n', '2026-11-30T01:02:03Z', 'h_llo_w_rld-20261130T010203Z-investigation-package.zip'],
  ])('%j at %s -> %s', (host, time, name) => expect(packageFileName(host, time)).toBe(name));

  it('is at most a sensible length whatever the host name', () => {
    expect(packageFileName('a'.repeat(500), '2026-11-30T01:02:03Z').length).toBeLessThan(160);
  });
});
