/** An entry of /etc/passwd. */
export interface PasswdEntry {
  user: string;
  uid: number;
  gid: number;
  gecos: string;
  home: string;
  shell: string;
}

/** An entry of /etc/group. */
export interface GroupEntry {
  group: string;
  gid: number;
  members: string[];
}

/** Parses /etc/passwd; NIS "+" lines and malformed lines are skipped. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || !f[0] || f[0].startsWith('+') || f[0].startsWith('-') || f[0].startsWith('#')) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid) || f[2] === '' || f[3] === '') continue;
    out.push({ user: f[0], uid, gid, gecos: f[4]!, home: f[5]!, shell: f.slice(6).join(':') });
  }
  return out;
}

/** Parses /etc/group. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || !f[0] || f[0].startsWith('+') || f[0].startsWith('-') || f[0].startsWith('#') || f[2] === '') continue;
    const gid = Number(f[2]);
    if (!Number.isInteger(gid)) continue;
    out.push({ group: f[0], gid, members: f[3]!.split(',').map((m) => m.trim()).filter(Boolean) });
  }
  return out;
}

/** A group's members: those listed in /etc/group plus users whose primary group it is. */
export function groupMembers(groups: GroupEntry[], users: PasswdEntry[]): { group: string; gid: number; members: { user: string; how: 'primary' | 'listed' }[] }[] {
  return groups.map((g) => {
    const members: { user: string; how: 'primary' | 'listed' }[] = users.filter((u) => u.gid === g.gid).map((u) => ({ user: u.user, how: 'primary' }));
    for (const m of g.members) if (!members.some((x) => x.user === m)) members.push({ user: m, how: 'listed' });
    return { group: g.group, gid: g.gid, members };
  });
}

/** What /etc/shadow says about an account, WITHOUT the password hash. */
export interface ShadowStatus {
  user: string;
  password: 'set' | 'locked' | 'none' | 'disabled';
  hashType: string;
  lastChange: string;
  expires: string;
}

const HASH_TYPES: Record<string, string> = { '1': 'md5', '2a': 'bcrypt', '2b': 'bcrypt', '2y': 'bcrypt', '5': 'sha256', '6': 'sha512', y: 'yescrypt', gy: 'gost-yescrypt', '7': 'scrypt' };

/** Parses /etc/shadow into account states; the hash itself never leaves this function. */
export function parseShadowStatus(text: string): ShadowStatus[] {
  const out: ShadowStatus[] = [];
  const day = (d: string | undefined) => (d && /^\d+$/.test(d) ? new Date(Number(d) * 86_400_000).toISOString().slice(0, 10) : '');
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 2 || !f[0]) continue;
    const pw = f[1]!;
    const locked = pw.startsWith('!');
    const h = locked ? pw.replace(/^!+/, '') : pw;
    let password: ShadowStatus['password'];
    if (pw === '') password = 'none';
    else if (pw === '*' || pw === '!' || pw === '!*' || pw === '!!') password = 'disabled';
    else password = locked ? 'locked' : 'set';
    const t = /^\$([^$]+)\$/.exec(h);
    out.push({ user: f[0], password, hashType: t ? (HASH_TYPES[t[1]!] ?? t[1]!) : h && !['*', '!'].includes(h) && password !== 'disabled' ? 'des' : '', lastChange: day(f[2]), expires: day(f[7]) });
  }
  return out;
}
