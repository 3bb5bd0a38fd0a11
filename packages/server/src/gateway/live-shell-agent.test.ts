/**
 * Live response's `shell` from the API to a real agent (real gateway, TLS, node-pty): keystrokes
 * go in as signed input chunks, the terminal comes back as the line's output, and the transcript
 * and its asciicast hold both. Refused where the device's group does not allow it and in basic
 * sessions.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Agent, enroll } from '@cordon/agent';
import { testAgent } from '../testing/real-agent.js';
import { inventory, startHarness, type Harness } from '../testing/harness.js';

let h: Harness;
let dir: string;
const agents: Agent[] = [];
/** The device group's setting, as the test's policy answers it. */
let shellAllowed = true;

async function start(): Promise<void> {
  h = await startHarness({}, { liveShellPolicy: { allowsShell: () => Promise.resolve(shellAllowed) } });
  h.clock.t = Date.now();
  dir = mkdtempSync(join(tmpdir(), 'cordon-live-shell-'));
}
afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop();
  await h.close();
  rmSync(dir, { recursive: true, force: true });
  shellAllowed = true;
});

const wait = (check: () => void | Promise<void>, timeout = 30_000) => vi.waitFor(check, { timeout, interval: 50 });

async function startAgent(): Promise<string> {
  const { agentUrl } = await h.server.listen();
  const agentDir = join(dir, 'agent');
  const { token } = await h.server.services.enrollment.createToken('test');
  const { machineId } = await enroll(agentUrl, token, agentDir, inventory({ hostname: 'shell-target' }));
  const agent = testAgent(agentDir);
  agents.push(agent);
  await agent.start();
  await wait(() => expect(h.server.gateway.isConnected(machineId)).toBe(true));
  return machineId;
}

async function session(machineId: string, token: string): Promise<string> {
  const res = await h.call('POST', `/api/machines/${machineId}/liveResponseSessions`, { token, body: { Comment: 'IR-12 hands-on triage' } });
  expect(res.status, res.text).toBe(201);
  await wait(async () => expect((await h.call('GET', `/api/liveResponseSessions/${res.body.id}`)).body.state).toBe('Active'));
  return res.body.id as string;
}

interface Line {
  seq: number;
  command: string;
  status: string;
  exitStatus: number | null;
  output: string;
  input: { chunk: number; data: string | null; cols: number | null; rows: number | null }[];
}
async function line(id: string, seq: number): Promise<Line> {
  return ((await h.call('GET', `/api/liveResponseSessions/${id}/transcript`)).body.commands as Line[]).find((c) => c.seq === seq)!;
}
const type = (id: string, seq: number, token: string, body: Record<string, unknown>) => h.call('POST', `/api/liveResponseSessions/${id}/commands/${seq}/input`, { token, body });

describe('shell on a real agent', () => {
  it('types what is sent, shows the terminal, ends with the shell exit status, and records input and output', async () => {
    await start();
    const machineId = await startAgent();
    const id = await session(machineId, h.tokens.responder);
    const started = await h.call('POST', `/api/liveResponseSessions/${id}/commands`, { token: h.tokens.responder, body: { Line: 'shell', Cols: 100, Rows: 30 } });
    expect(started.status, started.text).toBe(202);
    const seq = started.body.seq as number;

    const first = await type(id, seq, h.tokens.responder, { Data: 'echo $((6*7)); stty size\r' });
    expect(first.status, first.text).toBe(202);
    expect(first.body).toEqual({ sessionId: id, seq, chunk: 1 });
    await wait(async () => expect((await line(id, seq)).output).toMatch(/\r42\r\n30 100\r\n/));
    // A resize reaches the terminal.
    expect((await type(id, seq, h.tokens.responder, { Cols: 120, Rows: 40 })).status).toBe(202);
    expect((await type(id, seq, h.tokens.responder, { Data: 'stty size\r' })).status).toBe(202);
    await wait(async () => expect((await line(id, seq)).output).toMatch(/\r40 120\r\n/));

    // Only the opener types; input needs keystrokes or a size; a pwd line takes no input.
    expect((await type(id, seq, h.tokens.admin, { Data: 'id\r' })).status).toBe(403);
    expect((await type(id, seq, h.tokens.responder, {})).status).toBe(400);
    expect((await type(id, seq, h.tokens.responder, { Cols: 80 })).status).toBe(400);

    expect((await type(id, seq, h.tokens.responder, { Data: 'exit\r' })).status).toBe(202);
    await wait(async () => expect(await line(id, seq)).toMatchObject({ status: 'Succeeded', exitStatus: 0 }));
    const ended = await type(id, seq, h.tokens.responder, { Data: 'id\r' });
    expect(ended.status).toBe(409);
    expect(ended.body.error.code).toBe('CommandNotRunning');

    const t = await line(id, seq);
    expect(t.command).toBe('shell');
    expect(t.input.map((i) => i.data)).toEqual(['echo $((6*7)); stty size\r', null, 'stty size\r', 'exit\r']);
    expect(t.input[1]).toMatchObject({ chunk: 2, cols: 120, rows: 40 });

    const cast = (await h.call('GET', `/api/liveResponseSessions/${id}/transcript?format=cast`)).text.trim().split('\n').slice(1).map((l) => JSON.parse(l) as [number, string, string]);
    expect(cast.filter((e) => e[1] === 'i').map((e) => e[2])).toEqual(['echo $((6*7)); stty size\r', 'stty size\r', 'exit\r']);
    expect(cast.filter((e) => e[1] === 'r').map((e) => e[2])).toEqual(['120x40']);
    expect(cast.some((e) => e[1] === 'o' && e[2].includes('42'))).toBe(true);

    // A line that is not a shell takes no input.
    const pwd = await h.call('POST', `/api/liveResponseSessions/${id}/commands`, { token: h.tokens.responder, body: { Line: 'pwd' } });
    const notShell = await type(id, pwd.body.seq, h.tokens.responder, { Data: 'x' });
    expect(notShell.status).toBe(409);
    expect(notShell.body.error.code).toBe('NotAShell');

    // Cancel hangs the shell up.
    const second = await h.call('POST', `/api/liveResponseSessions/${id}/commands`, { token: h.tokens.responder, body: { Line: 'shell' } });
    expect((await type(id, second.body.seq, h.tokens.responder, { Data: 'echo up-$((2+3))\r' })).status).toBe(202);
    await wait(async () => expect((await line(id, second.body.seq)).output).toContain('up-5'));
    expect((await h.call('POST', `/api/liveResponseSessions/${id}/commands/${second.body.seq}/cancel`, { token: h.tokens.responder })).status).toBe(202);
    await wait(async () => expect(await line(id, second.body.seq)).toMatchObject({ status: 'Cancelled', exitStatus: 130 }));

    // The shell's start (its line) and end are audited; its keystrokes are not one by one (only refused input is).
    const audit = async () => (await h.call('GET', '/api/audit?$top=200')).body.value as { action: string; outcome: string; detail: Record<string, unknown> }[];
    await wait(async () =>
      expect((await audit()).filter((a) => a.action === 'LiveResponseShellEnded').map((a) => a.detail)).toEqual(
        expect.arrayContaining([expect.objectContaining({ sessionId: id, seq, exitStatus: 0, inputChunks: 4 }), expect.objectContaining({ seq: second.body.seq, exitStatus: 130 })]),
      ),
    );
    const entries = await audit();
    expect(entries.filter((a) => a.action === 'LiveResponseCommand' && a.detail.line === 'shell')).toHaveLength(2);
    const inputs = entries.filter((a) => a.action === 'LiveResponseShellInput');
    expect(inputs.length).toBe(5);
    expect(inputs.every((a) => a.outcome !== 'Succeeded')).toBe(true);
  });

  it("is refused where the device's group does not allow it, and in a basic session", async () => {
    shellAllowed = false;
    await start();
    const machineId = await startAgent();
    const off = await session(machineId, h.tokens.responder);
    const refused = await h.call('POST', `/api/liveResponseSessions/${off}/commands`, { token: h.tokens.responder, body: { Line: 'shell' } });
    expect(refused.status).toBe(403);
    expect(refused.text).toContain("shell is not enabled for this device's group");
    expect((await h.call('POST', `/api/liveResponseSessions/${off}/end`, { token: h.tokens.responder, body: {} })).status).toBe(200);
    await wait(async () => expect((await h.call('GET', `/api/liveResponseSessions/${off}`)).body.state).toBe('Ended'));

    shellAllowed = true;
    const basic = await session(machineId, h.tokens.analyst);
    const refusedBasic = await h.call('POST', `/api/liveResponseSessions/${basic}/commands`, { token: h.tokens.analyst, body: { Line: 'shell' } });
    expect(refusedBasic.status).toBe(403);
    expect(refusedBasic.text).toContain('advanced command');
  });
});
