/**
 * Stop and quarantine file, and restore, from the API to a real agent over the real gateway, on
 * real files and real processes the test starts: a running copy of sleep (its hash made unique) is
 * killed and moved into the vault while an unrelated sleep runs on; the restore puts it back byte
 * for byte with its owner, mode and times; a scan's index finds a file by SHA-1; a path whose hash
 * does not match is refused and left alone; bad hashes and unknown vault items are refused at once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Agent, enroll } from '@cordon/agent';
import { testAgent } from '../testing/real-agent.js';
import { inventory, startHarness, type Harness } from '../testing/harness.js';

let h: Harness;
let agentUrl: string;
let dir: string;
const agents: Agent[] = [];
const children: ChildProcess[] = [];
beforeEach(async () => {
  h = await startHarness();
  // A real agent checks commands' expiry against the real time.
  h.clock.t = Date.now();
  agentUrl = (await h.server.listen()).agentUrl;
  dir = mkdtempSync(join(tmpdir(), 'cordon-quarantine-agent-'));
});
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const a of agents.splice(0)) await a.stop();
  await h.close();
  rmSync(dir, { recursive: true, force: true });
});

const wait = (check: () => void | Promise<void>, timeout = 30_000) => vi.waitFor(check, { timeout, interval: 50 });
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const sha1 = (b: Buffer | string) => createHash('sha1').update(b).digest('hex');

async function startAgent(scanRoot: string): Promise<string> {
  const agentDir = join(dir, 'agent');
  const { token } = await h.server.services.enrollment.createToken('test');
  const { machineId } = await enroll(agentUrl, token, agentDir, inventory({ hostname: 'quarantined' }));
  const agent = testAgent(agentDir, { scanRoots: [scanRoot] });
  agents.push(agent);
  await agent.start();
  await wait(() => expect(h.server.gateway.isConnected(machineId)).toBe(true));
  return machineId;
}

/** Submits an action and waits for its end; answers the action as the API shows it. */
async function run(machineId: string, path: string, body: Record<string, unknown>): Promise<Record<string, any>> {
  const submitted = await h.call('POST', `/api/machines/${machineId}/${path}`, { body });
  expect(submitted.status, JSON.stringify(submitted.body)).toBe(201);
  let action: Record<string, any> = {};
  await wait(async () => {
    action = (await h.call('GET', `/api/machineactions/${submitted.body.id}`)).body;
    expect(['Succeeded', 'Failed']).toContain(action.status);
  }, 60_000);
  return action;
}

function start(file: string, args: string[]): Promise<ChildProcess> {
  const child = spawn(file, args, { stdio: 'ignore' });
  children.push(child);
  return new Promise((resolve, reject) => child.once('spawn', () => resolve(child)).once('error', reject));
}

describe('StopAndQuarantineFile and RestoreQuarantinedFile on a real agent', () => {
  it('kills only the process running the file, moves it into the vault, lists it, and restores it byte for byte', async () => {
    // /bin/sleep plus a few bytes of its own: a hash no other file on this machine has.
    const program = join(dir, 'bin', 'sleepy');
    mkdirSync(join(dir, 'bin'));
    const bytes = Buffer.concat([readFileSync('/bin/sleep'), randomBytes(8)]);
    writeFileSync(program, bytes);
    chownSync(program, 65534, 65534);
    chmodSync(program, 0o751);
    const target = await start(program, ['300']);
    const unrelated = await start('/bin/sleep', ['300']);
    const before = lstatSync(program, { bigint: true });
    const machineId = await startAgent(join(dir, 'bin'));

    const action = await run(machineId, 'StopAndQuarantineFile', { Comment: 'dropper seen on web-01', Sha256: sha256(bytes) });
    expect([action.status, action.error]).toEqual(['Succeeded', null]);
    await wait(() => expect(target.signalCode).toBe('SIGKILL'), 5000);
    expect([unrelated.exitCode, unrelated.signalCode]).toEqual([null, null]);
    expect(existsSync(program)).toBe(false);
    expect(action.result).toMatchObject({
      sha256: sha256(bytes),
      sha1: null,
      killed: [{ pid: target.pid, commandLine: `${program} 300` }],
      quarantined: [{ path: program, size: bytes.length, sha256: sha256(bytes), sha1: sha1(bytes) }],
      notFound: [],
      refused: [],
    });
    const quarantineId = action.result.quarantined[0].quarantineId as string;
    // The vault is the agent's, root only.
    expect(lstatSync(join(dir, 'agent', 'quarantine')).mode & 0o777).toBe(0o700);
    expect(readFileSync(join(dir, 'agent', 'quarantine', quarantineId, 'data')).equals(bytes)).toBe(true);

    const listed = await h.call('GET', `/api/machines/${machineId}/quarantine`, { token: h.tokens.viewer });
    expect(listed.status).toBe(200);
    expect(listed.body.value).toEqual([
      {
        quarantineId,
        machineId,
        fileName: 'sleepy',
        filePath: program,
        sha256: sha256(bytes),
        sha1: sha1(bytes),
        size: bytes.length,
        quarantinedAt: action.result.quarantined[0].quarantinedAt,
        quarantinedBy: 'admin',
        actionId: action.id,
        restoredAt: null,
        restoredBy: null,
        restoreActionId: null,
        state: 'Quarantined',
      },
    ]);
    const timeline = (await h.call('GET', `/api/machines/${machineId}/timeline`)).body.value.map((e: { title: string }) => e.title);
    expect(timeline).toEqual(expect.arrayContaining(['Stop and quarantine file submitted by admin', 'Stop and quarantine file succeeded']));

    const restore = await run(machineId, 'restoreQuarantinedFile', { Comment: 'false positive', QuarantineId: quarantineId });
    expect([restore.status, restore.error, restore.result]).toEqual(['Succeeded', null, { quarantineId, path: program, sha256: sha256(bytes), restored: true }]);
    const after = lstatSync(program, { bigint: true });
    expect({ uid: after.uid, gid: after.gid, mode: after.mode, mtimeNs: after.mtimeNs, atimeNs: after.atimeNs }).toEqual({ uid: 65534n, gid: 65534n, mode: before.mode, mtimeNs: before.mtimeNs, atimeNs: before.atimeNs });
    expect(readFileSync(program).equals(bytes)).toBe(true);
    expect(existsSync(join(dir, 'agent', 'quarantine', quarantineId))).toBe(false);
    expect((await h.call('GET', `/api/machines/${machineId}/quarantine`)).body.value[0]).toMatchObject({ quarantineId, state: 'Restored', restoredBy: 'admin', restoreActionId: restore.id, restoredAt: expect.any(String) });
    expect((await h.call('GET', `/api/machines/${machineId}/timeline`)).body.value.map((e: { title: string }) => e.title)).toContain('Restore quarantined file succeeded');

    // It runs again once restored: the same program, byte for byte.
    const again = await start(program, ['0']);
    await wait(() => expect([again.exitCode, again.signalCode]).toEqual([0, null]), 5000);

    // Restored already, or never quarantined here: refused at submission, nothing sent.
    const twice = await h.call('POST', `/api/machines/${machineId}/restoreQuarantinedFile`, { body: { Comment: 'again', QuarantineId: quarantineId } });
    expect([twice.status, twice.body.error.code, twice.body.error.message]).toEqual([400, 'InvalidInput', expect.stringMatching(/^Quarantined file .* was restored already/)]);
    const unknown = await h.call('POST', `/api/machines/${machineId}/restoreQuarantinedFile`, { body: { Comment: 'x', QuarantineId: '00000000-0000-4000-8000-000000000000' } });
    expect([unknown.status, unknown.body.error.code, unknown.body.error.target]).toEqual([404, 'ResourceNotFound', 'QuarantineId']);
    const name = (await h.call('GET', `/api/machines/${machineId}`)).body.computerDnsName as string;
    expect(unknown.body.error.message).toBe(`No quarantined file 00000000-0000-4000-8000-000000000000 on ${name}; GET /api/machines/${machineId}/quarantine lists its quarantined files`);
    const actions = (await h.call('GET', `/api/machineactions?$filter=machineId eq '${machineId}'`)).body.value;
    // (The harness clock stands still: both share one creation time.)
    expect(actions.map((a: { type: string }) => a.type).sort()).toEqual(['RestoreQuarantinedFile', 'StopAndQuarantineFile']);
  }, 120_000);

  it("finds a file by SHA-1 in the latest scan's index, and refuses a path whose hash does not match", async () => {
    const tree = join(dir, 'tree');
    mkdirSync(join(tree, 'tools'), { recursive: true });
    const tool = join(tree, 'tools', 'miner.sh');
    const content = `#!/bin/sh\n# miner ${randomBytes(8).toString('hex')}\n`;
    writeFileSync(tool, content);
    const other = join(tree, 'notes.txt');
    writeFileSync(other, 'not the file anyone asked for\n');
    // The scan reads the agent's own directory too (its vault must not be in the index).
    const machineId = await startAgent(dir);

    // Nothing with this hash anywhere yet: the action fails, saying so.
    const none = await run(machineId, 'StopAndQuarantineFile', { Comment: 'intel', Sha1: sha1(content) });
    expect([none.status, none.error]).toEqual(['Failed', `No running program and no file with SHA-1 ${sha1(content)} was found (running programs, the latest scan's index)`]);

    const scan = await run(machineId, 'runAntiVirusScan', { Comment: 'index the tree', ScanType: 'Quick' });
    expect(scan.status).toBe('Succeeded');
    expect(readFileSync(join(dir, 'agent', 'scan', 'index.jsonl'), 'utf8')).toContain(sha1(content));

    const found = await run(machineId, 'StopAndQuarantineFile', { Comment: 'intel', Sha1: sha1(content).toUpperCase() });
    expect([found.status, found.error]).toEqual(['Succeeded', null]);
    expect(found.result).toMatchObject({ sha1: sha1(content), killed: [], quarantined: [{ path: tool, sha256: sha256(content), sha1: sha1(content) }], notFound: [], refused: [] });
    expect(existsSync(tool)).toBe(false);

    // The next scan leaves the vault out: it is not found there again, and its bytes are not quarantined twice.
    expect((await run(machineId, 'runAntiVirusScan', { Comment: 'again', ScanType: 'Quick' })).status).toBe('Succeeded');
    expect(readFileSync(join(dir, 'agent', 'scan', 'index.jsonl'), 'utf8')).not.toContain(sha1(content));

    // The index still names the file, now gone: not found; and a path whose bytes are another file's: refused, untouched.
    const was = lstatSync(other, { bigint: true });
    const refused = await run(machineId, 'StopAndQuarantineFile', { Comment: 'intel', Sha1: sha1(content), Path: other });
    expect(refused.status).toBe('Failed');
    expect(refused.error).toBe(`Nothing was stopped or quarantined: ${other}: its SHA-1 is ${sha1('not the file anyone asked for\n')}, not ${sha1(content)}: the file changed or is another file; it was left where it is`);
    const now = lstatSync(other, { bigint: true });
    expect([now.ino, now.mtimeNs, readFileSync(other, 'utf8')]).toEqual([was.ino, was.mtimeNs, 'not the file anyone asked for\n']);
    expect((await h.call('GET', `/api/machines/${machineId}/quarantine`)).body.value.map((f: { filePath: string }) => f.filePath)).toEqual([tool]);

    // Hashes that are not hex of the right length, and paths that are not absolute: 400, nothing sent.
    for (const [body, target] of [
      [{ Sha256: 'ab'.repeat(31) }, 'Sha256'],
      [{ Sha256: 'zz'.repeat(32) }, 'Sha256'],
      [{ Sha1: 'ab'.repeat(21) }, 'Sha1'],
      [{}, 'Sha256'],
      [{ Sha1: sha1(content), Path: 'relative/miner.sh' }, 'Path'],
    ] as const) {
      const r = await h.call('POST', `/api/machines/${machineId}/StopAndQuarantineFile`, { body: { Comment: 'bad', ...body } });
      expect([r.status, r.body.error.code, r.body.error.target], JSON.stringify(body)).toEqual([400, 'InvalidRequestBody', target]);
    }
    expect((await h.call('GET', `/api/machineactions?$filter=machineId eq '${machineId}' and type eq 'StopAndQuarantineFile'`)).body.value).toHaveLength(3);
  }, 120_000);
});
