import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHarness, type Harness } from '@cordon/server/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCordon } from '../testing/run-cordon.js';

/** `cordon agent enroll --server URL[,URL…]` against a real server, in-process. */
describe('agent enroll with several server URLs', () => {
  let h: Harness;
  let agentUrl: string;
  let dir: string;
  /** A TCP port that takes connections and counts them, never answering (no node should be asked). */
  let silent: Server;
  let silentHits = 0;
  let silentUrl: string;
  /** A port nothing listens on. */
  let deadUrl: string;
  beforeAll(async () => {
    h = await startHarness();
    agentUrl = (await h.server.listen()).agentUrl;
    silent = createServer((s) => {
      silentHits++;
      s.destroy();
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    silentUrl = `https://127.0.0.1:${(silent.address() as { port: number }).port}`;
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    deadUrl = `https://127.0.0.1:${(dead.address() as { port: number }).port}`;
    await new Promise((r) => dead.close(r));
  });
  afterAll(async () => {
    await new Promise((r) => silent.close(r));
    await h.close();
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cordon-cli-enroll-'));
    silentHits = 0;
    return () => rmSync(dir, { recursive: true, force: true });
  });

  const cordon = (...args: string[]): Promise<string> => runCordon(args);
  const enrollment = async () => (await h.server.services.enrollment.createToken('test')).token;
  const state = () => JSON.parse(readFileSync(join(dir, 'enrollment.json'), 'utf8')) as { serverUrls: string[]; machineId: string };

  it('refuses a list with a URL that is not https, naming it, before asking any server or writing anything', async () => {
    await expect(cordon('agent', 'enroll', '--server', `${agentUrl},http://127.0.0.1:9`, '--token', await enrollment(), '--data-dir', dir)).rejects.toThrow("'http://127.0.0.1:9' is not an https URL");
    await expect(cordon('agent', 'enroll', '--server', `${silentUrl},nonsense`, '--token', await enrollment(), '--data-dir', dir)).rejects.toThrow("'nonsense' is not a URL");
    expect(silentHits).toBe(0);
    expect(existsSync(join(dir, 'enrollment.json'))).toBe(false);
    expect((await h.call('GET', '/api/machines')).body.value).toHaveLength(0);
  });

  it('enrolls through the first node that answers and keeps every URL', async () => {
    const out = await cordon('agent', 'enroll', '--server', `${deadUrl}, ${agentUrl}`, '--token', await enrollment(), '--data-dir', dir);
    expect(out).toMatch(/^enrolled: machine [0-9a-f]{40}/);
    expect(state().serverUrls).toEqual([deadUrl, agentUrl]);
    expect((await h.call('GET', `/api/machines/${state().machineId}`)).status).toBe(200);
  });

  it('takes a refused token as final: the other nodes are not asked', async () => {
    const used = await enrollment();
    await cordon('agent', 'enroll', '--server', agentUrl, '--token', used, '--data-dir', dir);
    rmSync(join(dir, 'enrollment.json'));
    const bad = used.replace(/^cet\.[A-Za-z0-9_-]{43}\./, `cet.${'A'.repeat(43)}.`);
    await expect(cordon('agent', 'enroll', '--server', `${agentUrl},${silentUrl}`, '--token', bad, '--data-dir', dir)).rejects.toThrow(/Enrollment refused/);
    expect(silentHits).toBe(0);
    expect(existsSync(join(dir, 'enrollment.json'))).toBe(false);
  });

  it('says which nodes it tried when none answers', async () => {
    await expect(cordon('agent', 'enroll', '--server', `${deadUrl},${silentUrl}`, '--token', await enrollment(), '--data-dir', dir)).rejects.toThrow(new RegExp(`no server answered \\(${deadUrl}: .*; ${silentUrl}: `));
    expect(silentHits).toBe(1);
    expect(existsSync(join(dir, 'enrollment.json'))).toBe(false);
  });
});
