/**
 * Live-response sessions through the API and the real gateway, with a scripted agent on a real
 * WebSocket (the real agent's side has its own tests, and e2e runs both together): who may open
 * and type, what is signed and sent, what is stored and streamed, and how a session ends.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { enroll } from '@cordon/agent';
import { LiveCommandParameters, PROTOCOL_VERSION, verifyCommand, type AgentFrame, type ServerFrame } from '@cordon/protocol';
import { LiveResponseRepository } from '../repositories/live-response.repository.js';
import { inventory, startHarness, type Harness } from '../testing/harness.js';

let h: Harness;
let agentPort: number;
let apiUrl: string;
const dirs: string[] = [];
const sockets: WebSocket[] = [];
/** Whether the device's group allows `shell` (as the test's policy answers it). */
let shellAllowed = false;
beforeEach(async () => {
  shellAllowed = false;
  h = await startHarness({}, { liveShellPolicy: { allowsShell: () => Promise.resolve(shellAllowed) } });
  h.clock.t = Date.now();
  const ports = await h.server.listen();
  agentPort = ports.agentPort;
  apiUrl = ports.apiUrl;
});
afterEach(async () => {
  for (const s of sockets.splice(0)) s.terminate();
  await h.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const wait = (check: () => void | Promise<void>, timeout = 10_000) => vi.waitFor(check, { timeout, interval: 20 });
const LIVE = inventory({ hostname: 'live-target', agentVersion: '0.2.0', capabilities: [{ name: 'inventory', version: '1' }, { name: 'liveResponse', version: '1' }] });

/**
 * A device whose agent acks the session's action and answers each line it can verify with the
 * line itself as output (`echo` of what was signed), or as told by `answer`.
 */
async function device(answer?: (line: string, seq: number, reply: (f: AgentFrame) => void) => void) {
  const dir = mkdtempSync(join(tmpdir(), 'cordon-live-'));
  dirs.push(dir);
  const { token } = await h.server.services.enrollment.createToken('test');
  const state = await enroll(`https://127.0.0.1:${agentPort}`, token, dir, LIVE);
  const frames: ServerFrame[] = [];
  const lines: { line: string; seq: number; library?: unknown }[] = [];
  let ws: WebSocket;
  const connect = async () => {
    ws = new WebSocket(`wss://127.0.0.1:${agentPort}/agent/v1`, { ca: state.caCertPem, checkServerIdentity: (() => undefined) as unknown as () => boolean, headers: { authorization: `Bearer ${state.machineId}.${state.credential}` } });
    sockets.push(ws);
    const send = (f: AgentFrame) => ws.send(JSON.stringify(f));
    ws.on('message', (d) => {
      const f = JSON.parse(d.toString()) as ServerFrame;
      frames.push(f);
      if (f.type === 'command') {
        const v = verifyCommand(f.command, state.signingPublicKeyPem, state.machineId, new Date());
        if (v.ok) send({ type: 'ack', actionId: v.command.actionId });
      }
      if (f.type === 'liveCommand') {
        const v = verifyCommand(f.command, state.signingPublicKeyPem, state.machineId, new Date());
        if (!v.ok) return send({ type: 'liveDone', sessionId: f.sessionId, seq: f.seq, exitStatus: 126, error: v.detail, cwd: '/', truncated: false });
        const p = LiveCommandParameters.parse(v.command.parameters);
        lines.push(p);
        if (answer) return answer(p.line, p.seq, send);
        send({ type: 'liveOutput', sessionId: p.sessionId, seq: p.seq, text: `${p.line}\n` });
        send({ type: 'liveDone', sessionId: p.sessionId, seq: p.seq, exitStatus: 0, error: null, cwd: '/tmp', truncated: false, data: { echoed: p.line } });
      }
      if (f.type === 'liveClose') send({ type: 'result', actionId: f.sessionId, status: 'Succeeded', error: null, result: { endReason: f.reason, commands: lines.length, failed: 0 } });
    });
    await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
    send({ type: 'hello', protocol: PROTOCOL_VERSION, inventory: LIVE });
    await wait(() => expect(frames.some((f) => f.type === 'welcome')).toBe(true));
  };
  await connect();
  return { machineId: state.machineId, publicKey: state.signingPublicKeyPem, frames, lines, connect, disconnect: () => ws.terminate(), send: (f: AgentFrame) => ws.send(JSON.stringify(f)) };
}

async function openSession(machineId: string, token = h.tokens.analyst) {
  const res = await h.call('POST', `/api/machines/${machineId}/liveResponseSessions`, { token, body: { Comment: 'IR-7 triage' } });
  expect(res.status, res.text).toBe(201);
  return res.body as { id: string; state: string; level: string };
}

async function active(id: string) {
  await wait(async () => expect((await h.call('GET', `/api/liveResponseSessions/${id}`)).body.state).toBe('Active'));
}

async function run(id: string, line: string, token = h.tokens.analyst) {
  return h.call('POST', `/api/liveResponseSessions/${id}/commands`, { token, body: { Line: line } });
}

/** A responder's session whose first line is a `shell` the device has received (and not answered). */
async function runningShell() {
  shellAllowed = true;
  const d = await device(() => undefined);
  const s = await openSession(d.machineId, h.tokens.responder);
  await active(s.id);
  expect((await run(s.id, 'shell', h.tokens.responder)).status).toBe(202);
  await wait(() => expect(d.lines.map((l) => l.line)).toEqual(['shell']));
  return { d, s };
}

async function doneLine(id: string, seq: number) {
  let cmd: { status: string } | undefined;
  await wait(async () => {
    cmd = ((await h.call('GET', `/api/liveResponseSessions/${id}/transcript`)).body.commands as { seq: number; status: string }[]).find((c) => c.seq === seq);
    expect(cmd?.status).not.toBe('Running');
  });
  return cmd as { status: string; output: string; exitStatus: number; error: string | null; cwd: string; data: unknown };
}

/** A session's socket, as a client: what it sent and got, in order. */
async function liveSocket(id: string, token: string | null = h.tokens.analyst) {
  const ws = new WebSocket(`${apiUrl.replace(/^http/, 'ws')}/api/liveResponseSessions/${id}/socket`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  sockets.push(ws);
   
  const messages: any[] = [];
  ws.on('message', (raw) => messages.push(JSON.parse(String(raw))));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    ws.once('error', reject);
  });
  let seen = 0;
  return {
    messages,
    closed,
    send: (m: unknown) => ws.send(JSON.stringify(m)),
    sendRaw: (raw: string) => ws.send(raw),
    close: () => ws.close(),
    /** The next message (after those already taken) that matches. */
     
    next: async (match: (m: any) => boolean) => {
      let found = -1;
      await wait(() => {
        found = messages.findIndex((m, i) => i >= seen && match(m));
        expect(found, JSON.stringify(messages.slice(seen))).toBeGreaterThanOrEqual(0);
      });
      seen = found + 1;
      return messages[found];
    },
  };
}

describe('live-response sessions', () => {
  it('opens as a LiveResponse action, runs signed lines and keeps everything they answered', async () => {
    const d = await device();
    const s = await openSession(d.machineId);
    expect(s).toMatchObject({ level: 'basic' });
    await active(s.id);
    const action = (await h.call('GET', `/api/machineactions/${s.id}`)).body;
    expect(action).toMatchObject({ type: 'LiveResponse', status: 'InProgress', requestor: 'analyst-user', requestorComment: 'IR-7 triage' });

    const tricky = `ls '/tmp/a b' "x;y|z&\\$(id)"`;
    const r = await run(s.id, tricky);
    expect(r.status, r.text).toBe(202);
    expect(r.body).toMatchObject({ seq: 1, line: tricky, command: 'ls', issuedBy: 'analyst-user', status: 'Running' });
    const done = await doneLine(s.id, 1);
    expect(done).toMatchObject({ status: 'Succeeded', exitStatus: 0, output: `${tricky}\n`, cwd: '/tmp', data: { echoed: tricky } });
    // The agent got exactly the line that was typed, signed, under the session and its number.
    expect(d.lines).toEqual([{ sessionId: s.id, seq: 1, line: tricky }]);
    expect((await run(s.id, 'pwd')).body.seq).toBe(2);
    await doneLine(s.id, 2);
    expect((await h.call('GET', `/api/liveResponseSessions/${s.id}`)).body.commands).toBe(2);

    // Every line is in the audit log.
    const audit = (await h.call('GET', '/api/audit?$top=100')).body.value as { action: string; actor: string; detail: { line?: string } }[];
    expect(audit.filter((a) => a.action === 'LiveResponseCommand').map((a) => a.detail.line)).toEqual(expect.arrayContaining([tricky, 'pwd']));
  });

  it('lets only analysts and up open sessions, only the opener type, and only responders run advanced commands', async () => {
    const d = await device();
    expect((await h.call('POST', `/api/machines/${d.machineId}/liveResponseSessions`, { token: h.tokens.viewer, body: { Comment: 'x' } })).status).toBe(403);
    expect((await h.call('POST', `/api/machines/${d.machineId}/liveResponseSessions`, { token: h.tokens.analyst, body: {} })).status).toBe(400);
    const s = await openSession(d.machineId);
    await active(s.id);
    // One session per device.
    const second = await h.call('POST', `/api/machines/${d.machineId}/liveResponseSessions`, { token: h.tokens.responder, body: { Comment: 'me too' } });
    expect(second.status).toBe(400);
    expect(second.body.error.code).toBe('ActiveRequestAlreadyExists');
    // Someone else may follow it, not type in it.
    const other = await run(s.id, 'ls', h.tokens.responder);
    expect(other.status).toBe(403);
    expect(other.body.error.message).toMatch(/Only analyst-user/);
    // An analyst's session is basic: advanced commands are refused before anything is signed.
    for (const line of ['run collect.sh', 'putfile tool', 'remediate process 1', 'undo']) {
      const refused = await run(s.id, line);
      expect(refused.status, line).toBe(403);
      expect(refused.body.error.message).toMatch(/advanced command/);
    }
    expect(d.lines).toEqual([]);
    const audit = (await h.call('GET', '/api/audit?$top=200')).body.value as { action: string; outcome: string }[];
    expect(audit.filter((a) => a.action === 'LiveResponseCommand' && a.outcome === 'Refused').length).toBeGreaterThanOrEqual(5);
    // Bad lines are refused with what is wrong.
    expect((await run(s.id, `ls 'unclosed`)).body.error.message).toMatch(/unterminated single quote/);
    expect((await run(s.id, '   ')).status).toBe(400);
    expect((await run(s.id, 'x'.repeat(9000))).status).toBe(400);
  });

  it("resolves putfile and run to the library file's exact version, and refuses names not in it", async () => {
    const d = await device();
    const fd = new FormData();
    fd.append('File', new Blob(['#!/bin/sh\necho hi\n']), 'collect.sh');
    expect((await fetch(`${apiUrl}/api/libraryfiles`, { method: 'POST', headers: { authorization: `Bearer ${h.tokens.admin}` }, body: fd })).status).toBe(200);
    const s = await openSession(d.machineId, h.tokens.responder);
    expect(s.level).toBe('advanced');
    await active(s.id);
    const missing = await run(s.id, 'putfile nothere.sh', h.tokens.responder);
    expect(missing.status).toBe(400);
    expect(missing.body.error.code).toBe('LibraryFileNotFound');
    expect((await run(s.id, 'run collect.sh "a b" \';$(x)\'', h.tokens.responder)).status).toBe(202);
    await doneLine(s.id, 1);
    const file = (await h.call('GET', '/api/libraryfiles/collect.sh')).body;
    expect(d.lines[0]).toEqual({ sessionId: s.id, seq: 1, line: 'run collect.sh "a b" \';$(x)\'', library: { fileName: 'collect.sh', contentName: file.contentName, version: file.contentVersion, sha256: file.sha256 } });
    // `library` is answered by the server.
    expect((await run(s.id, 'library', h.tokens.responder)).status).toBe(202);
    expect(await doneLine(s.id, 2)).toMatchObject({ status: 'Succeeded', output: expect.stringContaining('collect.sh') });
    expect(d.lines).toHaveLength(1);
  });

  it('signs analyze with the scan content published now (none yet: none named), and only analyze', async () => {
    const d = await device();
    const s = await openSession(d.machineId);
    await active(s.id);
    expect((await run(s.id, 'analyze /tmp/a')).status).toBe(202);
    await doneLine(s.id, 1);
    expect(d.lines[0]).toEqual({ sessionId: s.id, seq: 1, line: 'analyze /tmp/a', scanContent: [] });
    expect((await h.call('POST', '/api/rulepacks', { body: { name: 'team', source: 'rule T { strings: $a = "t-1" condition: $a }' } })).status).toBe(201);
    expect((await h.call('POST', '/api/rulepacks', { body: { name: 'team', source: 'rule T { strings: $a = "t-2" condition: $a }' } })).status).toBe(201);
    expect((await h.call('POST', '/api/indicators', { body: { IndicatorValue: 'a'.repeat(64), IndicatorType: 'FileSha256', Action: 'Alert', Title: 'x', Severity: 'Low' } })).status).toBe(200);
    const rulepack = (await h.server.services.content.latest('rulepack', 'default'))!.manifest.version;
    const indicators = (await h.server.services.content.latest('indicators', 'default'))!.manifest.version;
    expect((await run(s.id, "analyze '/tmp/b c'")).status).toBe(202);
    await doneLine(s.id, 2);
    expect(d.lines[1]).toEqual({ sessionId: s.id, seq: 2, line: "analyze '/tmp/b c'", scanContent: [{ kind: 'indicators', name: 'default', version: indicators }, { kind: 'rulepack', name: 'default', version: rulepack }] });
    expect(rulepack).toBe(2);
    expect((await run(s.id, 'ls /tmp')).status).toBe(202);
    await doneLine(s.id, 3);
    expect(d.lines[2]).toEqual({ sessionId: s.id, seq: 3, line: 'ls /tmp' });
  });

  it('waits while the device is offline, says so, and times out at the queue limit', async () => {
    const d = await device();
    d.disconnect();
    await wait(() => expect(h.server.gateway.isConnected(d.machineId)).toBe(false));
    const s = await openSession(d.machineId);
    expect(s.state).toBe('Queued');
    const early = await run(s.id, 'ls');
    expect(early.status).toBe(409);
    expect(early.body.error.message).toMatch(/waiting for the device/);
    h.clock.advance(601_000);
    await h.server.services.actionExpiry.sweepExpired();
    const ended = (await h.call('GET', `/api/liveResponseSessions/${s.id}`)).body;
    expect(ended).toMatchObject({ state: 'Ended', status: 'TimeOut', endReason: 'The device did not connect in time' });
  });

  it('ends a line as failed when the device goes offline mid-command, keeping its output', async () => {
    const d = await device((line, seq, reply) => reply({ type: 'liveOutput', sessionId: d.frames.find((f) => f.type === 'liveCommand')!.sessionId, seq, text: `started ${line}\n` }));
    const s = await openSession(d.machineId);
    await active(s.id);
    await run(s.id, 'findfile /');
    await wait(async () => expect((await h.call('GET', `/api/liveResponseSessions/${s.id}/transcript`)).body.commands[0].output).toBe('started findfile /\n'));
    d.disconnect();
    const done = await doneLine(s.id, 1);
    expect(done).toMatchObject({ status: 'Failed', error: 'The device went offline while the line ran', output: 'started findfile /\n' });
  });

  it('ends a shell as failed when the device goes offline, and audits its end', async () => {
    const { d, s } = await runningShell();
    d.disconnect();
    expect(await doneLine(s.id, 1)).toMatchObject({ status: 'Failed', error: 'The device went offline while the line ran' });
    // The agent never reported the shell's end: the server's own end of it is audited instead.
    await wait(async () => {
      const audit = (await h.call('GET', '/api/audit?$top=50')).body.value as { action: string; actor: string; detail: Record<string, unknown> }[];
      expect(audit.filter((a) => a.action === 'LiveResponseShellEnded')).toEqual([expect.objectContaining({ actor: 'responder-user', detail: expect.objectContaining({ sessionId: s.id, seq: 1, exitStatus: 1, error: 'The device went offline while the line ran' }) })]);
    });
  });

  it("audits a shell's end once: the agent's late end of a shell the session's end already ended adds nothing", async () => {
    const { d, s } = await runningShell();
    expect((await h.call('POST', `/api/liveResponseSessions/${s.id}/end`, { token: h.tokens.responder, body: { Comment: 'done' } })).status).toBe(200);
    expect(await doneLine(s.id, 1)).toMatchObject({ status: 'Failed' });
    const shellEnds = async () => ((await h.call('GET', '/api/audit?$top=100')).body.value as { action: string }[]).filter((a) => a.action === 'LiveResponseShellEnded');
    await wait(async () => expect(await shellEnds()).toHaveLength(1));
    // The device's own end of the shell, arriving after the server ended it.
    d.send({ type: 'liveDone', sessionId: s.id, seq: 1, exitStatus: 0, error: null, cwd: '/', truncated: false });
    await new Promise((r) => setTimeout(r, 300));
    expect(await shellEnds()).toHaveLength(1);
  });

  it('cancels a running line with Ctrl-C and ends the session on request', async () => {
    const d = await device(() => undefined);
    const s = await openSession(d.machineId);
    await active(s.id);
    await run(s.id, 'findfile /');
    expect((await h.call('POST', `/api/liveResponseSessions/${s.id}/commands/1/cancel`, { token: h.tokens.analyst })).status).toBe(202);
    await wait(() => expect(d.frames).toContainEqual({ type: 'liveCancel', sessionId: s.id, seq: 1 }));
    expect((await h.call('POST', `/api/liveResponseSessions/${s.id}/commands/9/cancel`, { token: h.tokens.analyst })).status).toBe(404);
    const end = await h.call('POST', `/api/liveResponseSessions/${s.id}/end`, { token: h.tokens.analyst, body: { Comment: 'done' } });
    expect(end.status, end.text).toBe(200);
    await wait(async () => expect((await h.call('GET', `/api/liveResponseSessions/${s.id}`)).body).toMatchObject({ state: 'Ended', status: 'Succeeded', endReason: 'Ended' }));
    // The line still running when the session ended ends with it.
    expect(await doneLine(s.id, 1)).toMatchObject({ status: 'Failed', error: expect.stringMatching(/session ended/) });
    expect((await run(s.id, 'ls')).status).toBe(409);
  });

  it('streams the session to a follower and replays the transcript as asciicast v2', async () => {
    const d = await device();
    const s = await openSession(d.machineId);
    await active(s.id);
    await run(s.id, 'ls /');
    await doneLine(s.id, 1);
    const ac = new AbortController();
    const res = await fetch(`${apiUrl}/api/liveResponseSessions/${s.id}/stream`, { headers: { authorization: `Bearer ${h.tokens.analyst}` }, signal: ac.signal });
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = res.body!.getReader();
    let text = '';
    const readUntil = async (what: RegExp) => {
      while (!what.test(text)) text += new TextDecoder().decode((await reader.read()).value);
    };
    // What happened before the follower came, then what happens after.
    await readUntil(/event: done/);
    await run(s.id, 'pwd');
    await readUntil(/"line":"pwd"[\s\S]*event: output[\s\S]*event: done/);
    ac.abort();
    const events = [...text.matchAll(/event: (\w+)\ndata: (.*)\n/g)].map((m) => [m[1], JSON.parse(m[2]!)]);
    expect(events.map((e) => e[0])).toEqual(['command', 'output', 'done', 'state', 'command', 'output', 'done']);
    expect(events[1]![1]).toEqual({ seq: 1, text: 'ls /\n' });

    const cast = await h.call('GET', `/api/liveResponseSessions/${s.id}/transcript?format=cast`, { token: h.tokens.analyst });
    expect(cast.status).toBe(200);
    expect(cast.headers['content-type']).toBe('application/x-asciicast');
    const [header, ...rest] = cast.text.trim().split('\n').map((l) => JSON.parse(l));
    expect(header).toMatchObject({ version: 2, width: 120, height: 40, title: expect.stringContaining('live-target') });
    expect(rest.map((e: [number, string, string]) => e[2])).toEqual(['\u001b[1m/$\u001b[0m ls /\r\n', 'ls /\r\n', '\u001b[1m/tmp$\u001b[0m pwd\r\n', 'pwd\r\n']);
    for (const e of rest) expect(e[1]).toBe('o');
    expect(rest.map((e: [number]) => e[0])).toEqual([...rest.map((e: [number]) => e[0])].sort((a, b) => a - b));
    // Viewers cannot read what devices answered.
    expect((await h.call('GET', `/api/liveResponseSessions/${s.id}/transcript`, { token: h.tokens.viewer })).status).toBe(403);
  });

  it("runs lines over the session's socket: each answered by its ref, every event on the same socket, as the stream has them", async () => {
    const d = await device();
    const s = await openSession(d.machineId);
    await active(s.id);
    const sock = await liveSocket(s.id);
    const line = `ls '/tmp/a b' "x;y|z&\\$(id)"`;
    sock.send({ type: 'line', ref: 'a1', line });
    const accepted = await sock.next((m) => m.type === 'accepted');
    expect(accepted).toMatchObject({ ref: 'a1', command: { seq: 1, line, status: 'Running', issuedBy: 'analyst-user' } });
    await sock.next((m) => m.type === 'done' && m.data.seq === 1);
    // PascalCase as MDE clients spell fields is taken too. What this node stores reaches its own
    // followers without a read of the store (at most the 2-second safety read may fall in between).
    const reads = vi.spyOn(LiveResponseRepository.prototype, 'commandsFrom');
    sock.send({ Type: 'line', Ref: 2, Line: 'pwd' });
    await sock.next((m) => m.type === 'done' && m.data.seq === 2);
    expect(reads.mock.calls.length).toBeLessThan(2);
    reads.mockRestore();
    expect(d.lines.map((l) => l.line)).toEqual([line, 'pwd']);
    const events = sock.messages.filter((m) => m.type !== 'accepted');
    expect(events.map((m) => m.type)).toEqual(['state', 'command', 'output', 'done', 'command', 'output', 'done']);
    // What the socket said is what the store keeps (the node sent it without reading it back).
    const transcript = (await h.call('GET', `/api/liveResponseSessions/${s.id}/transcript`)).body.commands as Record<string, unknown>[];
    const dones = events.filter((m) => m.type === 'done').map((m) => m.data);
    expect(dones).toEqual(transcript.map(({ output: _o, input: _i, ...view }) => view));
    expect(events.filter((m) => m.type === 'output').map((m) => m.data)).toEqual([
      { seq: 1, text: `${line}\n` },
      { seq: 2, text: 'pwd\n' },
    ]);
    // A follower on the event stream, coming later, reads the same from the store.
    const ac = new AbortController();
    const res = await fetch(`${apiUrl}/api/liveResponseSessions/${s.id}/stream`, { headers: { authorization: `Bearer ${h.tokens.analyst}` }, signal: ac.signal });
    const reader = res.body!.getReader();
    let text = '';
    while ((text.match(/event: done/g) ?? []).length < 2) text += new TextDecoder().decode((await reader.read()).value);
    ac.abort();
    const streamed = [...text.matchAll(/event: (\w+)\ndata: (.*)\n/g)].map((m) => ({ type: m[1], data: JSON.parse(m[2]!) }));
    // (A later reader gets what was stored in one read: lines, then output, then ends.)
    for (const type of ['command', 'output', 'done']) expect(streamed.filter((e) => e.type === type)).toEqual(events.filter((e) => e.type === type));
    sock.close();
  });

  it('refuses bad socket messages clearly, changing nothing, and audits the refusals; checks the caller on every message', async () => {
    const d = await device();
    const s = await openSession(d.machineId);
    await active(s.id);
    const sock = await liveSocket(s.id);
    const answer = async (raw: string) => {
      sock.sendRaw(raw);
      return sock.next((m) => m.type === 'error' || m.type === 'accepted');
    };
    expect(await answer('not json')).toMatchObject({ type: 'error', status: 400, error: { message: 'The message is not valid JSON', target: 'message' } });
    expect(await answer(JSON.stringify({ type: 'line', ref: 1, line: 'pwd', Bogus: 1 }))).toMatchObject({ ref: 1, status: 400, error: { message: 'Bogus is not a known field here; remove it', target: 'Bogus' } });
    expect(await answer(JSON.stringify({ type: 'line', ref: 2, line: '' }))).toMatchObject({ ref: 2, status: 400, error: { target: 'line' } });
    expect(await answer('[1]')).toMatchObject({ type: 'error', status: 400, error: { message: expect.stringMatching(/^The message must be a JSON object: /), target: 'message' } });
    expect(await answer(JSON.stringify({ Type: 'line', ref: 6, Line: 'p\u0000wd' }))).toMatchObject({ ref: 6, status: 400, error: { message: 'Line must not contain NUL characters', target: 'Line' } });
    expect(await answer(JSON.stringify({ type: 'shout', ref: 3 }))).toMatchObject({ ref: 3, status: 400, error: { target: 'type' } });
    expect(await answer(JSON.stringify({ type: 'line', ref: 4, line: 'run x.sh' }))).toMatchObject({ ref: 4, status: 403, error: { message: expect.stringContaining('advanced command') } });
    expect(await answer(JSON.stringify({ type: 'cancel', ref: 5, seq: 9 }))).toMatchObject({ ref: 5, status: 404 });
    expect(d.lines).toEqual([]);
    const audit = (await h.call('GET', '/api/audit?$top=100')).body.value as { action: string; actor: string; outcome: string; detail: { reason?: string } }[];
    const refused = audit.filter((a) => a.outcome === 'Refused' && a.actor === 'analyst-user');
    expect(refused.map((a) => a.detail.reason)).toEqual(expect.arrayContaining(['The message is not valid JSON', 'Bogus is not a known field here; remove it', expect.stringContaining('advanced command')]));

    // A burst far past what waits to be handled: the socket is read no faster than its messages are
    // handled (the sender is held back, nothing piles up), and every one is answered, in order.
    const before = sock.messages.length;
    for (let i = 0; i < 200; i++) sock.send({ type: 'cancel', ref: 100 + i, seq: 9 });
    await wait(() => expect(sock.messages.length - before).toBe(200));
    expect(sock.messages.slice(before).map((m) => m.ref)).toEqual(Array.from({ length: 200 }, (_, i) => 100 + i));

    // Others may follow, not type; a viewer may not even follow (it reads no device's answers);
    // no credential, or a session that does not exist, opens nothing.
    const other = await liveSocket(s.id, h.tokens.responder);
    other.send({ type: 'line', ref: 1, line: 'pwd' });
    expect(await other.next((m) => m.type === 'error')).toMatchObject({ status: 403, error: { message: expect.stringContaining('who opened this session') } });
    await expect(liveSocket(s.id, h.tokens.viewer)).rejects.toThrow(/403/);
    await expect(liveSocket(s.id, null)).rejects.toThrow(/401/);
    const missing = await liveSocket('00000000-0000-4000-8000-000000000000');
    expect(await missing.closed).toMatchObject({ code: 4404 });

    // A token revoked mid-session: its next message closes the socket, and nothing runs.
    const made = await h.call('POST', '/api/tokens', { body: { role: 'analyst', name: 'temp' } });
    const d2 = await device();
    const s2 = await openSession(d2.machineId, made.body.token);
    await active(s2.id);
    const temp = await liveSocket(s2.id, made.body.token);
    expect((await h.call('DELETE', `/api/tokens/${made.body.id}`, { body: { Comment: 'leaked' } })).status).toBe(200);
    temp.send({ type: 'line', ref: 1, line: 'pwd' });
    expect(await temp.closed).toMatchObject({ code: 4401 });
    expect(d2.lines).toEqual([]);
    sock.close();
    other.close();
  });

  it('takes a console session cookie on the socket only from the console itself (the Origin of this server)', async () => {
    const signin = await h.server.app.inject({ method: 'POST', url: '/api/auth/signin', payload: { username: 'admin', password: h.server.initialAdminPassword! } });
    const cookie = `cordon_session=${signin.cookies.find((c) => c.name === 'cordon_session')!.value}`;
    const d = await device();
    const s = await openSession(d.machineId);
    await active(s.id);
    const url = `${apiUrl.replace(/^http/, 'ws')}/api/liveResponseSessions/${s.id}/socket`;
    const open = (origin: string) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(url, { headers: { cookie, origin } });
        ws.on('open', () => {
          ws.close();
          resolve(101);
        });
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      });
    expect(await open('https://evil.example')).toBe(403);
    // Same host, another scheme: not the console's page either.
    expect(await open(new URL(apiUrl).origin.replace(/^http:/, 'https:'))).toBe(403);
    expect(await open(new URL(apiUrl).origin)).toBe(101);
    // The refusal is audited under the signed-in user.
    const audit = (await h.call('GET', '/api/audit?$top=50')).body.value as { actor: string; outcome: string; detail: { reason?: string } }[];
    expect(audit.filter((a) => a.outcome === 'Refused' && a.actor === 'admin' && /from the console itself/.test(a.detail.reason ?? ''))).toHaveLength(2);
  });

  it('completes paths through the device: its own answer is taken, another device’s is not, none is a 504', async () => {
    const d = await device();
    const rogue = await device();
    const s = await openSession(d.machineId);
    await active(s.id);
    const complete = (path: string) => h.call('POST', `/api/liveResponseSessions/${s.id}/complete`, { token: h.tokens.analyst, body: { Path: path } });
    const asked = () => d.frames.filter((f): f is Extract<ServerFrame, { type: 'liveComplete' }> => f.type === 'liveComplete');
    const answer = (from: typeof d, f: Extract<ServerFrame, { type: 'liveComplete' }>) =>
      from.send({ type: 'liveCompletion', sessionId: f.sessionId, completionId: f.completionId, base: '/', entries: [{ name: 'etc', type: 'dir' }], truncated: false, error: null });

    // The device is asked with a signed request for this session, naming the word; another device's answer to it is not taken.
    const started = Date.now();
    const pending = complete('/et');
    await wait(() => expect(asked()).toHaveLength(1));
    const v = verifyCommand(asked()[0]!.command, d.publicKey, d.machineId, new Date());
    expect(v.ok && v.command.parameters).toEqual({ sessionId: s.id, completionId: asked()[0]!.completionId, path: '/et' });
    answer(rogue, asked()[0]!);
    const timedOut = await pending;
    expect(timedOut.status).toBe(504);
    expect(timedOut.body.error.code).toBe('DeviceDidNotAnswer');
    expect(Date.now() - started).toBeGreaterThanOrEqual(2900);

    const next = complete('/et');
    await wait(() => expect(asked()).toHaveLength(2));
    answer(d, asked()[1]!);
    expect((await next).body).toEqual({ base: '/', entries: [{ name: 'etc', type: 'dir' }], truncated: false, error: null });
    // Refused before the device is asked: control characters, half a surrogate pair, too long.
    for (const bad of ['a\u0007b', 'x\ud800', 'p'.repeat(1025)]) expect((await complete(bad)).status, JSON.stringify(bad)).toBe(400);
    expect(asked()).toHaveLength(2);
    // Not lines: the session has none.
    expect((await h.call('GET', `/api/liveResponseSessions/${s.id}`)).body.commands).toBe(0);
  });

  it('answers 429 past 10 completions a second in a session, before the device is asked', async () => {
    const d = await device();
    const s = await openSession(d.machineId);
    await active(s.id);
    const asked = () => d.frames.filter((f) => f.type === 'liveComplete').length;
    // The device answers none: the ten let through end in 504 after 3 s, the rest at once.
    const all = await Promise.all(Array.from({ length: 25 }, () => h.call('POST', `/api/liveResponseSessions/${s.id}/complete`, { token: h.tokens.analyst, body: { Path: '/et' } })));
    const limited = all.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    expect(limited[0]!.headers['retry-after']).toBe('1');
    expect(all.filter((r) => r.status === 504)).toHaveLength(25 - limited.length);
    expect(asked()).toBe(25 - limited.length);
  });
});
