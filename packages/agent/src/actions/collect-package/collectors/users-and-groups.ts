import { concatFiles, csvField, notPresent, safeName, toCsv } from '../format.js';
import { groupMembers, parseGroup, parsePasswd, parseShadowStatus } from '../parsers/accounts.js';
import type { Collector } from '../types.js';
import { DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT_MS } from './common.js';
import { lastLogins } from './security-event-log.js';

/** Users and Groups: accounts (password state, never hashes), one file per group, sudo rights, last logins. */
export const usersAndGroups: Collector = {
  folder: 'Users and Groups',
  name: 'users-and-groups',
  source: '/etc/passwd, /etc/shadow (state only), /etc/group, /etc/sudoers, /etc/sudoers.d, /var/log/lastlog',
  timeoutMs: DEFAULT_TIMEOUT_MS,
  maxBytes: DEFAULT_MAX_BYTES,
  async *collect(ctx) {
    const passwd = parsePasswd((await ctx.readText('/etc/passwd')) ?? '');
    const shadow = new Map(parseShadowStatus((await ctx.readText('/etc/shadow').catch(() => null)) ?? '').map((s) => [s.user, s]));
    const groups = parseGroup((await ctx.readText('/etc/group')) ?? '');
    const gname = new Map(groups.map((g) => [g.gid, g.group]));
    const accounts = passwd.map((u) => {
      const s = shadow.get(u.user);
      return { user: u.user, uid: u.uid, gid: u.gid, primaryGroup: gname.get(u.gid) ?? '', gecos: u.gecos, home: u.home, shell: u.shell, password: s?.password ?? '', hashType: s?.hashType ?? '', passwordChanged: s?.lastChange ?? '', expires: s?.expires ?? '', uid0: u.uid === 0 ? 'yes' : 'no' };
    });
    yield { name: 'Accounts.csv', source: '/etc/passwd, /etc/shadow (password state only; hashes are never copied)', content: toCsv(['user', 'uid', 'gid', 'primaryGroup', 'gecos', 'home', 'shell', 'password', 'hashType', 'passwordChanged', 'expires', 'uid0'], accounts) };

    const members = groupMembers(groups, passwd);
    if (!members.length) yield notPresent('Groups.txt', '/etc/group');
    for (const g of members) {
      yield {
        name: `Group_${safeName(g.group)}.txt`,
        source: '/etc/group, /etc/passwd (primary groups)',
        content: `Group: ${g.group}\nGID: ${g.gid}\nMembers (${g.members.length}):\n${g.members.map((m) => `  ${m.user}${m.how === 'primary' ? ' (primary group)' : ''}`).join('\n')}${g.members.length ? '\n' : ''}`,
      };
    }

    const sudo = await concatFiles(ctx, ['/etc/sudoers', '/etc/sudoers.d', '/etc/doas.conf']);
    yield sudo ? { name: 'SudoRights.txt', source: sudo.found.join(', '), content: sudo.text } : notPresent('SudoRights.txt', '/etc/sudoers, /etc/sudoers.d, /etc/doas.conf');

    const ll = await lastLogins(ctx);
    const last = await ctx.run('last', ['-F', '-w', '-x', '-n', '500']);
    const parts: string[] = [];
    if (ll) parts.push(`# Last login per account (/var/log/lastlog)\nuser,uid,time,line,host\n${ll.map((r) => [r.user, r.uid, r.time, r.line, r.host].map(csvField).join(',')).join('\n')}${ll.length ? '\n' : '(no account has logged in)\n'}`);
    if (last.code === 0) parts.push(`# $ last -F -w -x -n 500\n${last.stdout}`);
    yield parts.length ? { name: 'LastLogins.txt', source: '/var/log/lastlog; last -F -w -x -n 500', content: parts.join('\n') } : notPresent('LastLogins.txt', '/var/log/lastlog and last(1)');
  },
};
