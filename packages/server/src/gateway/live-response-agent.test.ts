/**
 * Live response from the API to a real agent over the real gateway and TLS, on files, processes and
 * crontabs the test makes: basic commands read them, a library script is put and run with arguments
 * taken literally, `remediate` kills only the named process, and `undo` restores a disabled cron
 * entry byte for byte. Nothing outside the test's own directory and processes is touched.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
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
const children: ChildProcess[] = [];
beforeEach(async () => {
  h = await startHarness();
  // A real agent checks commands' expiry against the real time.
  h.clock.t = Date.now();
  ({ agentUrl, apiUrl } = await h.server.listen());
  dir = mkdtempSync(join(tmpdir(), 'cordon-live-agent-'));
});
afterEach(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const a of agents.splice(0)) await a.stop();
  await h.close();
  rmSync(dir, { recursive: true, force: true });
});

const wait = (check: () => void | Promise<void>, timeout = 20_000) => vi.waitFor(check, { timeout, interval: 50 });

async function startAgent(over: Record<string, unknown> = {}): Promise<string> {
  const agentDir = join(dir, 'agent');
  const { token } = await h.server.services.enrollment.createToken('test');
  const { machineId } = await enroll(agentUrl, token, agentDir, inventory({ hostname: 'responder-target' }));
  const agent = testAgent(agentDir, { ...over });
  agents.push(agent);
  await agent.start();
  await wait(() => expect(h.server.gateway.isConnected(machineId)).toBe(true));
  return machineId;
}

async function session(machineId: string, token: string): Promise<string> {
  const res = await h.call('POST', `/api/machines/${machineId}/liveResponseSessions`, { token, body: { Comment: 'IR-9 live triage' } });
  expect(res.status, res.text).toBe(201);
  await wait(async () => expect((await h.call('GET', `/api/liveResponseSessions/${res.body.id}`)).body.state).toBe('Active'));
  return res.body.id as string;
}

interface Done {
  seq: number;
  status: string;
  exitStatus: number;
  output: string;
  error: string | null;
  cwd: string;
  data: unknown;
}
/** Runs a line and waits for its end; answers it with its whole output. */
async function run(id: string, line: string, token: string): Promise<Done> {
  const res = await h.call('POST', `/api/liveResponseSessions/${id}/commands`, { token, body: { Line: line } });
  expect(res.status, `${line}: ${res.text}`).toBe(202);
  let done: Done | undefined;
  await wait(async () => {
    done = ((await h.call('GET', `/api/liveResponseSessions/${id}/transcript`)).body.commands as Done[]).find((c) => c.seq === res.body.seq);
    expect(done?.status).not.toBe('Running');
  });
  return done!;
}

describe('live response on a real agent', () => {
  it('browses the device with the basic commands, on files the test made', async () => {
    const tree = join(dir, 'evidence dir');
    mkdirSync(join(tree, 'sub'), { recursive: true });
    const payload = Buffer.from('suspicious payload\n');
    writeFileSync(join(tree, 'dropper.bin'), payload);
    writeFileSync(join(tree, 'sub', 'needle-7f3a.txt'), 'x');
    const machineId = await startAgent();
    const id = await session(machineId, h.tokens.analyst);

    expect(await run(id, `cd '${tree}'`, h.tokens.analyst)).toMatchObject({ status: 'Succeeded', cwd: tree });
    expect((await run(id, 'pwd', h.tokens.analyst)).output).toBe(`${tree}\n`);
    const ls = await run(id, 'ls', h.tokens.analyst);
    expect(ls.output).toContain('dropper.bin');
    expect(ls.output).toContain('sub');
    const info = await run(id, 'fileinfo dropper.bin', h.tokens.analyst);
    expect(info.status).toBe('Succeeded');
    expect(info.output).toContain(createHash('sha256').update(payload).digest('hex'));
    expect((await run(id, `findfile needle-7f3a.txt --root '${tree}'`, h.tokens.analyst)).output).toContain(join(tree, 'sub', 'needle-7f3a.txt'));
    expect((await run(id, 'processes', h.tokens.analyst)).output).toContain(String(process.pid));
    // A missing file, an unknown command and an advanced one are each refused with their own status.
    expect(await run(id, 'fileinfo nothere', h.tokens.analyst)).toMatchObject({ status: 'Failed', exitStatus: 1 });
    expect(await run(id, 'frobnicate', h.tokens.analyst)).toMatchObject({ exitStatus: 127 });
    expect((await h.call('POST', `/api/liveResponseSessions/${id}/commands`, { token: h.tokens.analyst, body: { Line: 'remediate process 1' } })).status).toBe(403);

    // The session ends when asked, and the Action center says how it went.
    expect((await h.call('POST', `/api/liveResponseSessions/${id}/end`, { token: h.tokens.analyst, body: { Comment: 'done' } })).status).toBe(200);
    await wait(async () => expect((await h.call('GET', `/api/machineactions/${id}`)).body).toMatchObject({ status: 'Succeeded', result: { endReason: 'Ended', commands: 8 } }));
  });

  it('puts and runs a library script whose arguments hold spaces, quotes and ;|&$() taken literally', async () => {
    const script = '#!/bin/sh\nfor a in "$@"; do printf "[%s]\\n" "$a"; done\necho "cwd=$(pwd)"\n';
    const fd = new FormData();
    fd.append('File', new Blob([script]), 'args.sh');
    fd.append('HasParameters', 'true');
    expect((await fetch(`${apiUrl}/api/libraryfiles`, { method: 'POST', headers: { authorization: `Bearer ${h.tokens.admin}` }, body: fd })).status).toBe(200);
    const work = join(dir, 'work');
    mkdirSync(work);
    const machineId = await startAgent();
    const id = await session(machineId, h.tokens.responder);
    await run(id, `cd ${work}`, h.tokens.responder);

    const put = await run(id, 'putfile args.sh', h.tokens.responder);
    expect(put.status, put.output).toBe('Succeeded');
    expect(readFileSync(join(work, 'args.sh'), 'utf8')).toBe(script);
    expect((await run(id, 'putfile args.sh', h.tokens.responder)).status).toBe('Failed');

    const ran = await run(id, `run args.sh 'a b' "it's" ';|&$(id)' '' \`x\``, h.tokens.responder);
    expect(ran).toMatchObject({ status: 'Succeeded', exitStatus: 0 });
    expect(ran.output).toBe(`[a b]\n[it's]\n[;|&$(id)]\n[]\n[\`x\`]\ncwd=${work}\n`);
  });

  it('kills only the named process, and undo restores a disabled cron entry byte for byte', async () => {
    const cronDir = join(dir, 'cron.d');
    mkdirSync(cronDir);
    const crontab = 'SHELL=/bin/sh\n# nightly\n*/5 * * * * root /usr/local/bin/beacon --quiet\r\n0 3 * * * root /usr/sbin/logrotate /etc/logrotate.conf';
    writeFileSync(join(cronDir, 'implant'), crontab);
    const target = spawn('sleep', ['300'], { stdio: 'ignore' });
    const bystander = spawn('sleep', ['301'], { stdio: 'ignore' });
    children.push(target, bystander);
    const machineId = await startAgent({ liveCronRoots: [cronDir] });
    const id = await session(machineId, h.tokens.responder);

    const killed = await run(id, `remediate process ${target.pid}`, h.tokens.responder);
    expect(killed.status, killed.output).toBe('Succeeded');
    await wait(() => expect(existsSync(`/proc/${target.pid}`) && !readFileSync(`/proc/${target.pid}/stat`, 'utf8').includes(') Z ')).toBe(false));
    expect(existsSync(`/proc/${bystander.pid}`)).toBe(true);
    expect((await run(id, 'remediate process 1', h.tokens.responder)).status).toBe('Failed');

    const disabled = await run(id, `remediate cron ${join(cronDir, 'implant')} 3`, h.tokens.responder);
    expect(disabled.status, disabled.output).toBe('Succeeded');
    expect(readFileSync(join(cronDir, 'implant'), 'utf8')).toMatch(/^#cordon-disabled r[0-9a-f]+ \*\/5 \* \* \* \* root \/usr\/local\/bin\/beacon/m);
    expect((await run(id, 'remediate list', h.tokens.responder)).output).toContain('cron');
    const undone = await run(id, 'undo', h.tokens.responder);
    expect(undone.status, undone.output).toBe('Succeeded');
    expect(readFileSync(join(cronDir, 'implant'), 'utf8')).toBe(crontab);
  });

  it('analyze judges one file with the scan’s rules and indicators as the server has them now: no alert, nothing quarantined', async () => {
    const files = join(dir, 'suspects');
    mkdirSync(files);
    const implant = 'GET /x HTTP/1.1 implant-marker-51c0\n';
    writeFileSync(join(files, 'implant.bin'), implant);
    const dropper = Buffer.from('#!/bin/sh\necho a dropper nobody wrote a rule for\n');
    writeFileSync(join(files, 'dropper.sh'), dropper);
    writeFileSync(join(files, 'notes.txt'), 'nothing to see here\n');
    const noClam = join(dir, 'no-clamav');
    mkdirSync(noClam);
    // ClamAV is made absent (no database, no clamd) whatever this machine has installed.
    const machineId = await startAgent({ scanClamavDatabaseDir: noClam, scanClamdSocket: join(noClam, 'clamd.ctl') });
    // Published after the agent started: the line names these versions, and the agent fetches them first if the announcement has not brought them yet.
    const rule = 'rule Live_Implant_Marker\n{\n  meta:\n    severity = "High"\n    category = "Backdoor"\n  strings:\n    $a = "implant-marker-51c0"\n  condition:\n    $a\n}\n';
    expect((await h.call('POST', '/api/rulepacks', { body: { name: 'live-test', source: rule } })).status).toBe(201);
    expect((await h.call('POST', '/api/indicators', { body: { IndicatorValue: createHash('sha256').update(dropper).digest('hex'), IndicatorType: 'FileSha256', Action: 'Alert', Title: 'known dropper', Severity: 'Medium' } })).status).toBe(200);
    const id = await session(machineId, h.tokens.analyst);

    const byRule = await run(id, `analyze ${join(files, 'implant.bin')}`, h.tokens.analyst);
    expect(byRule.status, byRule.output).toBe('Succeeded');
    expect(byRule.data).toMatchObject({
      verdict: 'malicious',
      size: implant.length,
      sha256: createHash('sha256').update(implant).digest('hex'),
      matches: [{ engine: 'YARA', threat: 'Live_Implant_Marker', source: 'live-test', severity: 'High' }],
      engines: { yara: { packs: [{ name: 'live-test', version: 1 }], contentVersion: 1 }, hashIndicators: { count: 1, contentVersion: 1 }, clamav: { unavailable: expect.stringMatching(/^no ClamAV database in /) } },
      contentBehind: [],
      alerted: false,
    });
    expect(byRule.output).toMatch(/verdict: +malicious\n/);
    expect(byRule.output).toMatch(/engine: +ClamAV: did not run: no ClamAV database in /);

    const byHash = await run(id, `cd ${files}`, h.tokens.analyst).then(() => run(id, 'analyze dropper.sh', h.tokens.analyst));
    expect(byHash.data).toMatchObject({ verdict: 'malicious', matches: [{ engine: 'Indicator', threat: 'known dropper', severity: 'Medium' }] });
    const clean = await run(id, 'analyze notes.txt', h.tokens.analyst);
    expect(clean.data).toMatchObject({ verdict: 'clean', matches: [], size: 20 });
    expect(await run(id, `analyze ${files}`, h.tokens.analyst)).toMatchObject({ status: 'Failed', exitStatus: 1, output: `analyze: ${files} is a directory, not a regular file: only files are analyzed (it was not opened)\n` });
    expect((await run(id, 'help', h.tokens.analyst)).output).toMatch(/^analyze +Scan one file with the antivirus engines .*raises no alert, quarantines nothing$/m);

    // A look, not a response: the files are where they were, and no alert was raised.
    expect(readFileSync(join(files, 'implant.bin'), 'utf8')).toBe(implant);
    expect(existsSync(join(files, 'dropper.sh'))).toBe(true);
    expect((await h.call('GET', `/api/alerts?$filter=machineId eq '${machineId}'`)).body.value).toEqual([]);
  });

  it('keeps remediations on the device: after an agent restart a new session lists them and undoes a disabled cron entry', async () => {
    const cronDir = join(dir, 'cron.d');
    mkdirSync(cronDir);
    const crontab = '# persistence\n@reboot root /tmp/.x/implant\n*/10 * * * * root /usr/bin/true\n';
    writeFileSync(join(cronDir, 'implant'), crontab);
    const machineId = await startAgent({ liveCronRoots: [cronDir] });
    let id = await session(machineId, h.tokens.responder);
    const disabled = await run(id, `remediate cron ${join(cronDir, 'implant')} 2`, h.tokens.responder);
    expect(disabled.status, disabled.output).toBe('Succeeded');
    const rid = (disabled.data as { id: string }).id;
    expect(readFileSync(join(cronDir, 'implant'), 'utf8')).toBe(crontab.replace('@reboot', `#cordon-disabled ${rid} @reboot`));

    // The agent stops (its session ends as AgentRestarted) and a new one starts on the same data directory.
    await agents.pop()!.stop();
    const agent = testAgent(join(dir, 'agent'), { liveCronRoots: [cronDir] });
    agents.push(agent);
    await agent.start();
    await wait(async () => expect((await h.call('GET', `/api/liveResponseSessions/${id}`)).body.state).toBe('Ended'));
    id = await session(machineId, h.tokens.responder);

    const listed = await run(id, 'remediate list', h.tokens.responder);
    expect(listed.output).toMatch(new RegExp(`^${rid} +\\S+ +cron +${join(cronDir, 'implant').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} line 2 +undo ${rid}$`, 'm'));
    expect(listed.data).toEqual([expect.objectContaining({ id: rid, kind: 'cron', undoneAt: null, thisSession: false })]);
    // Undo with no id undoes only this session's own; by id it reaches the earlier session's.
    expect((await run(id, 'undo', h.tokens.responder)).output).toMatch(/nothing was remediated in this session/);
    const undone = await run(id, `undo ${rid}`, h.tokens.responder);
    expect(undone.status, undone.output).toBe('Succeeded');
    expect(readFileSync(join(cronDir, 'implant'), 'utf8')).toBe(crontab);
    expect(((await run(id, 'remediate list', h.tokens.responder)).data as { undoneAt: string | null }[])[0]!.undoneAt).toEqual(expect.any(String));
  });

  it('fetches a file with getfile, checked by SHA-256, resumes it after an agent restart, and refuses what is not a file', async () => {
    const big = randomBytes(48 * 1024 * 1024);
    const path = join(dir, 'exfil archive.bin');
    writeFileSync(path, big);
    const want = createHash('sha256').update(big).digest('hex');
    mkdirSync(join(dir, 'a dir'));
    execFileSync('mkfifo', [join(dir, 'pipe')]);
    const machineId = await startAgent();
    let id = await session(machineId, h.tokens.analyst);

    // What is not a regular file is refused, never opened.
    expect(await run(id, `getfile '${join(dir, 'a dir')}'`, h.tokens.analyst)).toMatchObject({ status: 'Failed', output: expect.stringMatching(/is a directory, not a regular file/) });
    expect((await run(id, 'getfile /dev/null', h.tokens.analyst)).output).toMatch(/character device, not a regular file/);
    expect((await run(id, `getfile ${join(dir, 'pipe')}`, h.tokens.analyst)).output).toMatch(/FIFO|fifo|pipe/);
    expect((await run(id, `getfile ${join(dir, 'missing')}`, h.tokens.analyst)).output).toMatch(/No such file|not found|does not exist/i);

    // Cut it off part way: the agent stops (as a restart does) once the server holds some of it.
    const res = await h.call('POST', `/api/liveResponseSessions/${id}/commands`, { token: h.tokens.analyst, body: { Line: `getfile '${path}'` } });
    expect(res.status).toBe(202);
    const partDir = join(h.server.config.dataDir, 'files', 'live');
    await wait(() => {
      const parts = existsSync(partDir) ? readdirSync(partDir).filter((f) => f.endsWith('.part')) : [];
      expect(parts.length === 1 && statSync(join(partDir, parts[0]!)).size > 0).toBe(true);
    });
    await agents.pop()!.stop();
    const held = statSync(join(partDir, readdirSync(partDir).find((f) => f.endsWith('.part'))!)).size;
    expect(held).toBeLessThan(big.length);

    // The agent comes back; the same file fetched again goes on from what the server held.
    const agent = testAgent(join(dir, 'agent'));
    agents.push(agent);
    await agent.start();
    await wait(async () => expect((await h.call('GET', `/api/liveResponseSessions/${id}`)).body.state).toBe('Ended'));
    id = await session(machineId, h.tokens.analyst);
    const got = await run(id, `getfile '${path}'`, h.tokens.analyst);
    expect(got.status, got.output).toBe('Succeeded');
    expect(got.data).toMatchObject({ path, size: big.length, sha256: want });
    expect((got.data as { resumedFrom: number }).resumedFrom).toBeGreaterThanOrEqual(held);

    const files = (await h.call('GET', `/api/liveResponseSessions/${id}/files`, { token: h.tokens.analyst })).body.value as { id: string; status: string; sha256: string; size: number }[];
    expect(files).toEqual([expect.objectContaining({ status: 'Complete', sha256: want, size: big.length, path })]);
    const dl = await fetch(`${apiUrl}/api/liveResponseSessions/${id}/files/${files[0]!.id}/content`, { headers: { authorization: `Bearer ${h.tokens.analyst}` } });
    expect(dl.status).toBe(200);
    expect(dl.headers.get('content-disposition')).toBe('attachment; filename="exfil_archive.bin"');
    expect(createHash('sha256').update(Buffer.from(await dl.arrayBuffer())).digest('hex')).toBe(want);
    expect((await h.call('GET', `/api/liveResponseSessions/${id}/files/${files[0]!.id}/content`, { token: h.tokens.viewer })).status).toBe(403);
  });

  it('completes paths on the device in the session’s directory, for its opener only, while a line runs, outside the transcript', async () => {
    {
      const fd = new FormData();
      fd.append('File', new Blob(['#!/bin/sh\nsleep 30\n']), 'nap.sh');
      expect((await fetch(`${apiUrl}/api/libraryfiles`, { method: 'POST', headers: { authorization: `Bearer ${h.tokens.admin}` }, body: fd })).status).toBe(200);
    }
    const tree = join(dir, 'case files');
    mkdirSync(join(tree, 'logs'), { recursive: true });
    writeFileSync(join(tree, 'loader.sh'), '');
    writeFileSync(join(tree, 'logs', 'auth.log'), '');
    const machineId = await startAgent();
    const id = await session(machineId, h.tokens.responder);
    const complete = (path: string, token = h.tokens.responder) => h.call('POST', `/api/liveResponseSessions/${id}/complete`, { token, body: { Path: path } });

    expect(await run(id, `cd '${tree}'`, h.tokens.responder)).toMatchObject({ status: 'Succeeded' });
    // A long line runs; completion answers beside it.
    const nap = await h.call('POST', `/api/liveResponseSessions/${id}/commands`, { token: h.tokens.responder, body: { Line: 'run nap.sh' } });
    expect(nap.status).toBe(202);
    const lo = await complete('lo');
    expect(lo.status, lo.text).toBe(200);
    expect(lo.body).toEqual({ base: '', entries: [{ name: 'loader.sh', type: 'file' }, { name: 'logs', type: 'dir' }], truncated: false, error: null });
    expect((await complete('logs/a')).body).toEqual({ base: 'logs/', entries: [{ name: 'auth.log', type: 'file' }], truncated: false, error: null });
    expect((await complete('/et')).body.entries).toContainEqual({ name: 'etc', type: 'dir' });
    expect((await complete('nothere/x')).body).toMatchObject({ entries: [], error: expect.stringMatching(/no such file or directory/) });
    expect((await h.call('GET', `/api/liveResponseSessions/${id}`)).body.commands).toBe(2);

    // Only the opener completes; a bad path is refused before the device is asked.
    expect((await complete('lo', h.tokens.analyst)).status).toBe(403);
    expect((await complete('a\u001b[2Jb')).status).toBe(400);
    // Tab held down: at most 10 a second per session.
    const burst = await Promise.all(Array.from({ length: 25 }, () => complete('lo')));
    expect(burst.filter((r) => r.status === 429).length).toBeGreaterThan(0);
    expect(burst.every((r) => r.status === 200 || r.status === 429)).toBe(true);

    // The running line was not disturbed: cancelled, it ends as cancelled; no completion is in the transcript or the audit log.
    expect((await h.call('POST', `/api/liveResponseSessions/${id}/commands/${nap.body.seq}/cancel`, { token: h.tokens.responder })).status).toBe(202);
    await wait(async () => expect(((await h.call('GET', `/api/liveResponseSessions/${id}/transcript`)).body.commands as Done[]).find((c) => c.seq === nap.body.seq)?.status).toBe('Cancelled'));
    const transcript = (await h.call('GET', `/api/liveResponseSessions/${id}/transcript`)).body.commands as Done[];
    expect(transcript.map((c) => c.seq)).toEqual([1, 2]);
    const audit = (await h.call('GET', '/api/audit', { token: h.tokens.admin })).body.value as { action: string; outcome: string }[];
    expect(audit.filter((a) => a.action === 'LiveResponseComplete')).toEqual([expect.objectContaining({ outcome: 'Refused' }), expect.objectContaining({ outcome: 'Refused' })]);

    // An ended session completes nothing.
    expect((await h.call('POST', `/api/liveResponseSessions/${id}/end`, { token: h.tokens.responder, body: {} })).status).toBe(200);
    await wait(async () => expect((await h.call('GET', `/api/liveResponseSessions/${id}`)).body.state).toBe('Ended'));
    expect((await complete('lo')).status).toBe(409);
  });
});
