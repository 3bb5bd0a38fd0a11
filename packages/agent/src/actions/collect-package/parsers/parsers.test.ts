import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { toCsv } from '../format.js';
import { redactJson, redactText } from '../redact.js';
import { summarizeCpuinfo } from '../collectors/system-information.js';
import { parseListUnits } from '../collectors/services.js';
import { groupMembers, parseGroup, parsePasswd, parseShadowStatus } from './accounts.js';
import { parseAnacrontab, parseAtJob, parseCrontab } from './cron.js';
import { parseDpkgStatus, parseRpmQuery } from './dpkg.js';
import { compressIpv6, decodeProcNetAddress, exeLink, parseBootTime, parseCmdline, parseProcNet, parseProcStat, parseStatusUids, processStart } from './proc.js';
import { parseUnitFile } from './systemd.js';
import { LASTLOG_SIZE, parseLastlogRecord, parseUtmp } from './utmp.js';

const FIX = join(import.meta.dirname, '..', 'fixtures');
const fixture = (name: string) => readFileSync(join(FIX, name), 'utf8');
const golden = (name: string) => join(FIX, 'golden', name);
const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;

// Golden files live in fixtures/golden/; a changed parser output shows up as a diff of those files.
describe('golden parser output on fixture files', () => {
  it('dpkg status -> CSV', async () => {
    const rows = parseDpkgStatus(fixture('dpkg-status')).map((p) => ({ ...p, installTime: '' }));
    await expect(toCsv(['name', 'version', 'architecture', 'status', 'installTime', 'source'], rows)).toMatchFileSnapshot(golden('dpkg-status.csv'));
  });

  it('rpm -qa --queryformat -> CSV', async () => {
    await expect(toCsv(['name', 'version', 'architecture', 'status', 'installTime', 'source'], parseRpmQuery(fixture('rpm-qa.txt')))).toMatchFileSnapshot(golden('rpm-qa.csv'));
  });

  it('/proc/<pid>/stat, status and cmdline', async () => {
    const out = {
      weird: parseProcStat(fixture('proc-stat-weird')),
      sshd: parseProcStat(fixture('proc-stat-sshd')),
      garbage: parseProcStat('no parentheses here'),
      uids: parseStatusUids(fixture('proc-status')),
      cmdline: parseCmdline(readFileSync(join(FIX, 'proc-cmdline'))),
      start: processStart(1764000000, 987654, 100),
      btime: parseBootTime('cpu  1 2 3\nbtime 1764000000\nprocesses 5\n'),
      exe: [exeLink('/usr/bin/sshd'), exeLink('/tmp/.x/miner (deleted)')],
    };
    await expect(json(out)).toMatchFileSnapshot(golden('proc.json'));
  });

  it('/proc/net/{tcp,tcp6,udp}', async () => {
    const out = [...parseProcNet(fixture('proc-net-tcp'), 'tcp'), ...parseProcNet(fixture('proc-net-tcp6'), 'tcp6'), ...parseProcNet(fixture('proc-net-udp'), 'udp')];
    await expect(toCsv(['proto', 'state', 'local', 'remote', 'uid', 'inode'], out)).toMatchFileSnapshot(golden('proc-net.csv'));
  });

  it('crontabs, anacrontab and at jobs', async () => {
    const out = [
      ...parseCrontab(fixture('crontab-system'), { file: '/etc/crontab', system: true }),
      ...parseCrontab(fixture('crontab-user'), { file: '/var/spool/cron/crontabs/alice', system: false, user: 'alice' }),
      ...parseAnacrontab(fixture('anacrontab'), '/etc/anacrontab'),
      { type: 'at' as const, file: '/var/spool/cron/atjobs/a0001', user: '1000', schedule: '', command: parseAtJob(fixture('atjob')), enabled: 'yes' },
    ];
    await expect(toCsv(['type', 'file', 'user', 'schedule', 'command', 'enabled'], out)).toMatchFileSnapshot(golden('cron.csv'));
  });

  it('passwd, group, shadow (no hashes) and group membership', async () => {
    const passwd = parsePasswd(fixture('passwd'));
    const groups = parseGroup(fixture('group'));
    const shadow = parseShadowStatus(fixture('shadow'));
    const out = json({ passwd, groups, members: groupMembers(groups, passwd), shadow });
    expect(out).not.toContain('hashhash');
    expect(out).not.toContain('saltsalt');
    await expect(out).toMatchFileSnapshot(golden('accounts.json'));
  });

  it('wtmp records (struct utmp, 384 bytes) and lastlog', async () => {
    const buf = readFileSync(join(FIX, 'wtmp.bin'));
    const ll = readFileSync(join(FIX, 'lastlog.bin'));
    const out = {
      wtmp: parseUtmp(buf),
      lastlog: [0, 3].map((uid) => ({ uid, record: parseLastlogRecord(ll.subarray(uid * LASTLOG_SIZE, (uid + 1) * LASTLOG_SIZE)) })),
    };
    await expect(json(out)).toMatchFileSnapshot(golden('utmp.json'));
  });

  it('systemd unit files and systemctl list-units', async () => {
    await expect(json({ unit: parseUnitFile(fixture('unit.service')), listUnits: Object.fromEntries(parseListUnits(fixture('systemctl-list-units.txt'))) })).toMatchFileSnapshot(golden('systemd.json'));
  });

  it('cpuinfo summary', async () => {
    await expect(`${summarizeCpuinfo(fixture('cpuinfo'))}\n`).toMatchFileSnapshot(golden('cpuinfo.txt'));
  });

  it('redaction of the agent log and enrollment.json', async () => {
    const text = redactText(fixture('agent-log.txt'));
    const enr = json(redactJson(JSON.parse(fixture('enrollment.json'))));
    for (const secret of ['cdc_abcdefghijklmnop', 'SECRETSECRET', 'abc123', 'hunter2', 'eyJhbGciOi', 'AbCdEf123', 'MIIEvQIBADANBg', 'cdc_supersecretcredential']) {
      expect(text + enr).not.toContain(secret);
    }
    await expect(text).toMatchFileSnapshot(golden('agent-log.redacted.txt'));
    await expect(enr).toMatchFileSnapshot(golden('enrollment.redacted.json'));
  });
});

describe('address decoding', () => {
  it.each([
    ['0100007F:0016', '127.0.0.1:22'],
    ['00000000000000000000000000000000:0050', '[::]:80'],
    ['00000000000000000000000001000000:0035', '[::1]:53'],
    ['0000000000000000FFFF00000100007F:01BB', '[::ffff:127.0.0.1]:443'],
  ])('%s -> %s', (hex, text) => {
    expect(decodeProcNetAddress(hex)).toBe(text);
  });

  it.each([
    [['2001', 'db8', '0', '0', '0', '0', '0', '1'], '2001:db8::1'],
    [['fe80', '0', '0', '0', '1', '0', '0', '1'], 'fe80::1:0:0:1'],
    [['1', '0', '2', '0', '3', '0', '4', '0'], '1:0:2:0:3:0:4:0'],
  ])('compress %j', (groups, text) => {
    expect(compressIpv6(groups)).toBe(text);
  });
});
