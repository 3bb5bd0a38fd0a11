import { readdir } from 'node:fs/promises';
import type { NotifyResult } from '../types.js';
import { firstLine, run } from './exec.js';

const outcome = (r: { code: number; stderr: string }, tool: string) =>
  r.code === 0 ? 'delivered' : r.code === 127 ? `${tool} is not installed` : `failed: ${firstLine(r.stderr) || `exit ${r.code}`}`;

/** `wall` to every terminal, and a desktop notification in each user session that has a bus. */
export async function notifyUsers(title: string, message: string): Promise<NotifyResult> {
  const wall = outcome(await run('wall', ['-n', `${title}: ${message}`], { timeoutMs: 5000 }), 'wall');
  const desktop: NotifyResult['desktop'] = [];
  let uids: string[] = [];
  try {
    uids = (await readdir('/run/user')).filter((u) => /^\d+$/.test(u));
  } catch {
    // No /run/user: no graphical sessions.
  }
  for (const uid of uids) {
    const bus = `/run/user/${uid}/bus`;
    try {
      await readdir(`/run/user/${uid}`).then((l) => {
        if (!l.includes('bus')) throw new Error('no bus');
      });
    } catch {
      continue;
    }
    const who = await run('id', ['-nu', uid], { timeoutMs: 2000 });
    const user = who.code === 0 ? who.stdout.trim() : uid;
    const r = await run('runuser', ['-u', user, '--', 'notify-send', '--urgency=critical', '--app-name=Cordon', title, message], { timeoutMs: 5000, env: { ...process.env, DBUS_SESSION_BUS_ADDRESS: `unix:path=${bus}` } });
    desktop.push({ user, result: outcome(r, 'notify-send') });
  }
  return { wall, desktop };
}
