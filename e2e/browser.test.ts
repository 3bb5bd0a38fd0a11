// The browser harness itself: it finds CSP violations, page errors and console errors, and takes
// screenshots. A local page server only (no Cordon server), so this stays a few seconds.
// Page-side code is passed as strings: this package compiles without the DOM library.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { launchBrowser, newPage, screenshot } from './browser.js';
import { REAL, requireReal } from './helpers.js';

const PAGES: Record<string, { csp?: string; type?: string; body: string }> = {
  // The console's own policy is this strict: scripts only from the server, no inline code.
  '/strict': {
    csp: "default-src 'self'; script-src 'self'; style-src 'self'",
    body: '<!doctype html><html><head><title>strict</title></head><body><h1 id="h">Cordon harness: a strict page</h1><p>Text must render (fonts).</p><script>document.title = "inline ran"</script><script src="/ok.js"></script></body></html>',
  },
  '/ok.js': { type: 'text/javascript', body: 'document.body.dataset.ok = "yes";' },
  '/clean': { csp: "default-src 'self'", body: '<!doctype html><html><head><title>clean</title></head><body><p>Nothing wrong here.</p><script src="/ok.js"></script></body></html>' },
  '/broken': { body: '<!doctype html><html><body><script>console.error("something went wrong"); setTimeout(() => { throw new Error("boom"); });</script></body></html>' },
};

describe('browser harness', () => {
  // A missing chromium fails this file with the package to install (never a silent skip).
  beforeAll(() => void requireReal(REAL.chromium));
  let browser: Browser;
  let server: Server;
  let baseURL: string;

  beforeAll(async () => {
    server = createServer((req, res) => {
      const p = PAGES[req.url ?? ''];
      if (!p) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': p.type ?? 'text/html; charset=utf-8', ...(p.csp ? { 'content-security-policy': p.csp } : {}) }).end(p.body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    if (server) await new Promise((r) => server.close(r));
  });

  it('reports a CSP violation (inline script under script-src self) and takes a screenshot', async () => {
    const t = await newPage(browser, { baseURL });
    await t.page.goto('/strict');
    await t.page.waitForFunction('document.body.dataset.ok === "yes"');
    // The inline script was blocked; the same-origin one ran.
    expect(await t.page.title()).toBe('strict');
    await expect.poll(() => t.cspViolations.some((v) => v.source === 'event')).toBe(true);
    const ev = t.cspViolations.find((v) => v.source === 'event')!;
    expect(ev.directive).toBe('script-src-elem');
    expect(ev.blockedURI).toBe('inline');
    expect(t.problems().some((p) => p.startsWith('csp'))).toBe(true);
    expect(t.pageErrors).toEqual([]);

    const file = await screenshot(t.page, 'harness-strict');
    const png = readFileSync(file);
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect(png.readUInt32BE(16)).toBe(1280); // IHDR width: the default viewport
    expect(png.readUInt32BE(20)).toBe(800);
    await t.close();
  });

  it('reports nothing on a clean page, and console and page errors on a broken one', async () => {
    const clean = await newPage(browser, { baseURL, colorScheme: 'dark' });
    await clean.page.goto('/clean');
    await clean.page.waitForFunction('document.body.dataset.ok === "yes"');
    expect(await clean.page.evaluate('matchMedia("(prefers-color-scheme: dark)").matches')).toBe(true);
    expect(clean.problems()).toEqual([]);
    await clean.close();

    const broken = await newPage(browser, { baseURL });
    await broken.page.goto('/broken');
    await expect.poll(() => broken.pageErrors.length).toBe(1);
    expect(broken.pageErrors[0]).toContain('boom');
    expect(broken.consoleErrors).toEqual([expect.stringContaining('something went wrong')]);
    expect(broken.cspViolations).toEqual([]);
    await broken.close();
  });
});
