import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../testing/harness.js';

describe('web console serving', () => {
  let h: Harness;
  let bare: Harness;
  const dir = mkdtempSync(join(tmpdir(), 'cordon-console-'));
  beforeAll(async () => {
    mkdirSync(join(dir, 'assets'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><div id="root"></div><script type="module" src="/assets/index-abc.js"></script>');
    writeFileSync(join(dir, 'assets', 'index-abc.js'), 'console.log(1)');
    writeFileSync(join(dir, 'secret.txt'), 'not an asset');
    h = await startHarness({ consoleDir: dir });
    bare = await startHarness({ consoleDir: join(dir, 'missing') });
  });
  afterAll(async () => {
    await h.close();
    await bare.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the app for every console page, uncached, with the security headers', async () => {
    for (const url of ['/', '/signin', '/alerts', '/alerts/abc', '/alerts?status=any&severity=High', '/devices', '/devices/abc', '/actions', '/indicators', '/devices?tag=x', '/admin/credentials', '/admin/credentials?kind=users', '/admin/audit', '/admin/groups']) {
      const r = await h.call('GET', url, { token: null });
      expect([url, r.status]).toEqual([url, 200]);
      expect(r.text).toContain('<div id="root">');
      expect(r.headers['cache-control']).toBe('no-cache');
      expect(String(r.headers['content-type'])).toContain('text/html');
      expect(String(r.headers['content-security-policy'])).toMatch(/script-src 'self';/);
      expect(r.headers['x-content-type-options']).toBe('nosniff');
    }
  });

  it('serves hashed assets cached for good, and nothing outside assets/', async () => {
    const js = await h.call('GET', '/assets/index-abc.js', { token: null });
    expect(js.status).toBe(200);
    expect(String(js.headers['cache-control'])).toContain('immutable');
    for (const url of ['/assets/../secret.txt', '/assets/%2e%2e/secret.txt', '/assets/..%2fsecret.txt', '/secret.txt', '/assets/missing.js']) {
      const r = await h.call('GET', url, { token: null });
      expect([url, r.status]).toEqual([url, 404]);
      expect(r.text).not.toContain('not an asset');
    }
  });

  it('says how to build the console when it is not built', async () => {
    const r = await bare.call('GET', '/devices', { token: null });
    expect(r.status).toBe(503);
    expect(r.text).toContain('npm start');
  });
});
