/**
 * MDE's batch live response (runliveresponse) from the API to a real agent over the real gateway:
 * a library script run with arguments taken literally, a file fetched byte for byte, each
 * command's outcome in the action's commands[], its result through GetLiveResponseResultDownloadLink;
 * bad commands refused before anything is signed; a failed command stops the batch.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Agent, enroll } from '@cordon/agent';
import { testAgent } from '../testing/real-agent.js';
import { inventory, startHarness, type Harness } from '../testing/harness.js';

let h: Harness;
let agentUrl: string;
let apiUrl: string;
let dir: string;
const agents: Agent[] = [];
beforeEach(async () => {
  h = await startHarness();
  h.clock.t = Date.now();
  ({ agentUrl, apiUrl } = await h.server.listen());
  dir = mkdtempSync(join(tmpdir(), 'cordon-live-batch-'));
});
afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop();
  await h.close();
  rmSync(dir, { recursive: true, force: true });
});

const wait = (check: () => void | Promise<void>, timeout = 20_000) => vi.waitFor(check, { timeout, interval: 50 });

async function startAgent(): Promise<string> {
  const agentDir = join(dir, 'agent');
  const { token } = await h.server.services.enrollment.createToken('test');
  const { machineId } = await enroll(agentUrl, token, agentDir, inventory({ hostname: 'batch-target' }));
  const agent = testAgent(agentDir);
  agents.push(agent);
  await agent.start();
  await wait(() => expect(h.server.gateway.isConnected(machineId)).toBe(true));
  return machineId;
}

async function addLibraryFile(name: string, text: string): Promise<void> {
  const fd = new FormData();
  fd.append('File', new Blob([text]), name);
  fd.append('HasParameters', 'true');
  expect((await fetch(`${apiUrl}/api/libraryfiles`, { method: 'POST', headers: { authorization: `Bearer ${h.tokens.admin}` }, body: fd })).status).toBe(200);
}

type Param = { key: string; value: string };
async function submit(machineId: string, commands: { type: string; params: Param[] }[]) {
  return h.call('POST', `/api/machines/${machineId}/runliveresponse`, { token: h.tokens.responder, body: { Commands: commands, Comment: 'SOAR playbook 12' } });
}

async function ended(id: string) {
  let body: Record<string, unknown> = {};
  await wait(async () => {
    body = (await h.call('GET', `/api/machineactions/${id}`)).body as Record<string, unknown>;
    expect(['Pending', 'InProgress']).not.toContain(body.status);
  });
  return body as { status: string; error: string | null; commands: { index: number; commandStatus: string; errors: string[]; command: { type: string; params: Param[] } }[] };
}

async function download(id: string, index: number): Promise<{ status: number; bytes: Buffer; headers: Headers }> {
  const link = await h.call('GET', `/api/machineactions/${id}/GetLiveResponseResultDownloadLink(index=${index})`, { token: h.tokens.analyst });
  expect(link.status, link.text).toBe(200);
  // Fetched without a token, as MDE clients do.
  const res = await fetch(link.body.value as string);
  return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

describe('batch live response (runliveresponse) on a real agent', () => {
  it('runs a library script with literal arguments and fetches a file; each result downloads through its link', async () => {
    await addLibraryFile('args.sh', '#!/bin/sh\nfor a in "$@"; do printf "[%s]\\n" "$a"; done\nexit 3\n');
    const evidence = join(dir, 'evidence file.bin');
    const payload = randomBytes(300_000);
    writeFileSync(evidence, payload);
    const machineId = await startAgent();

    const res = await submit(machineId, [
      { type: 'RunScript', params: [{ key: 'ScriptName', value: 'args.sh' }, { key: 'Args', value: `'a b' "it's" ';|&$(id)' \`x\`` }] },
      { type: 'GetFile', params: [{ key: 'Path', value: evidence }] },
    ]);
    expect(res.status, res.text).toBe(201);
    const action = await ended(res.body.id);
    expect(action.status, action.error ?? '').toBe('Succeeded');
    expect(action.commands.map((c) => c.commandStatus)).toEqual(['Completed', 'Completed']);
    expect(action.commands[0]).toMatchObject({ index: 0, errors: [], command: { type: 'RunScript', params: [{ key: 'ScriptName', value: 'args.sh' }, { key: 'Args' }] } });

    const script = await download(res.body.id, 0);
    expect(script.status).toBe(200);
    expect(JSON.parse(script.bytes.toString())).toEqual({ script_name: 'args.sh', exit_code: 3, script_output: "[a b]\n[it's]\n[;|&$(id)]\n[`x`]\n", script_errors: '' });

    const file = await download(res.body.id, 1);
    expect(file.status).toBe(200);
    expect(createHash('sha256').update(file.bytes).digest('hex')).toBe(createHash('sha256').update(payload).digest('hex'));

    // A link is only as good as its signature: another index's, or an altered one, is refused.
    const link = new URL((await h.call('GET', `/api/machineactions/${res.body.id}/GetLiveResponseResultDownloadLink(index=0)`, { token: h.tokens.analyst })).body.value as string);
    link.pathname = link.pathname.replace('/0/download', '/1/download');
    expect((await fetch(link)).status).toBe(401);
    // Viewers read no device data.
    expect((await h.call('GET', `/api/machineactions/${res.body.id}/GetLiveResponseResultDownloadLink(index=0)`, { token: h.tokens.viewer })).status).toBe(403);
  });

  it("gives a script's stdout as script_output and its stderr as script_errors, each in order", async () => {
    await addLibraryFile('both.sh', '#!/bin/sh\necho "checking $1"\necho "warning: $1 is world-writable" >&2\necho done\nprintf "error: no audit log\\n" >&2\nexit 2\n');
    const machineId = await startAgent();
    const res = await submit(machineId, [{ type: 'RunScript', params: [{ key: 'ScriptName', value: 'both.sh' }, { key: 'Args', value: '/etc/shadow' }] }]);
    expect(res.status, res.text).toBe(201);
    const action = await ended(res.body.id);
    expect(action.status, action.error ?? '').toBe('Succeeded');
    expect(action.commands[0]).toMatchObject({ commandStatus: 'Completed', errors: [] });
    const script = await download(res.body.id, 0);
    expect(JSON.parse(script.bytes.toString())).toEqual({
      script_name: 'both.sh',
      exit_code: 2,
      script_output: 'checking /etc/shadow\ndone\n',
      script_errors: 'warning: /etc/shadow is world-writable\nerror: no audit log\n',
    });
  });

  it('refuses a bad command with a 400 naming it, before anything is signed', async () => {
    await addLibraryFile('ok.sh', '#!/bin/sh\necho ok\n');
    const machineId = await startAgent();
    const before = (await h.call('GET', '/api/machineactions')).body.value.length as number;
    const cases: [{ type: string; params: Param[] }[], RegExp][] = [
      [[{ type: 'RunScript', params: [{ key: 'Args', value: '-x' }] }], /Commands\[0\] \(RunScript\): ScriptName is required/],
      [[{ type: 'RunScript', params: [{ key: 'ScriptName', value: 'ok.sh' }] }, { type: 'GetFile', params: [{ key: 'Path', value: 'etc/hosts' }] }], /Commands\[1\] \(GetFile\): Path must be an absolute path/],
      [[{ type: 'PutFile', params: [{ key: 'FileName', value: 'nothere.bin' }] }], /Commands\[0\] \(PutFile\): 'nothere.bin' is not in the library/],
      [[{ type: 'RunScript', params: [{ key: 'ScriptName', value: 'ok.sh' }, { key: 'Args', value: "'open" }] }], /Commands\[0\] \(RunScript\): Args: unterminated single quote/],
    ];
    for (const [commands, message] of cases) {
      const res = await submit(machineId, commands);
      expect(res.status, res.text).toBe(400);
      expect(res.body.error.message).toMatch(message);
    }
    expect((await h.call('GET', '/api/machineactions')).body.value.length).toBe(before);
  });

  it('stops at the first failed command: the ones after it are not run', async () => {
    await addLibraryFile('mark.sh', '#!/bin/sh\necho ran > ran.txt\n');
    const machineId = await startAgent();
    const res = await submit(machineId, [
      { type: 'GetFile', params: [{ key: 'Path', value: join(dir, 'missing.bin') }] },
      { type: 'RunScript', params: [{ key: 'ScriptName', value: 'mark.sh' }] },
    ]);
    expect(res.status, res.text).toBe(201);
    const action = await ended(res.body.id);
    expect(action.status).toBe('Failed');
    expect(action.error).toMatch(/Command 0 \(GetFile\) failed/);
    expect(action.commands[0]).toMatchObject({ commandStatus: 'Failed' });
    expect(action.commands[0]!.errors[0]).toMatch(/missing\.bin/);
    expect(action.commands[1]).toMatchObject({ commandStatus: 'Canceled', errors: ['Not run: command 0 (GetFile) failed'] });
    // Nothing to download from a command that did not complete.
    expect((await h.call('GET', `/api/machineactions/${res.body.id}/GetLiveResponseResultDownloadLink(index=1)`, { token: h.tokens.analyst })).status).toBe(409);
  });
});
