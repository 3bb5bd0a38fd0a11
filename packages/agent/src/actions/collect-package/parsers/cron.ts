/** One scheduled job, as the Scheduled tasks CSV lists it. */
export interface ScheduledTask {
  type: 'cron' | 'anacron' | 'systemd-timer' | 'at';
  file: string;
  user: string;
  schedule: string;
  command: string;
  enabled: string;
}

/**
 * Parses a crontab. System crontabs (/etc/crontab, /etc/cron.d/*) carry a user field after the
 * schedule; per-user crontabs (/var/spool/cron/...) do not, the file name is the user.
 * Variable assignments and comments are skipped.
 */
export function parseCrontab(text: string, opts: { file: string; system: boolean; user?: string }): ScheduledTask[] {
  const out: ScheduledTask[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    if (/^[A-Za-z_][A-Za-z0-9_]*\s*=/.test(line)) continue; // SHELL=/bin/sh, MAILTO=...
    let schedule: string;
    let rest: string;
    const special = /^(@\w+)\s+(.*)$/.exec(line);
    if (special) {
      schedule = special[1]!;
      rest = special[2]!;
    } else {
      const m = /^(\S+\s+\S+\s+\S+\s+\S+\s+\S+)\s+(.*)$/.exec(line);
      if (!m) continue;
      schedule = m[1]!.replace(/\s+/g, ' ');
      rest = m[2]!;
    }
    let user = opts.user ?? '';
    if (opts.system) {
      const u = /^(\S+)\s+(.*)$/.exec(rest);
      if (!u) continue;
      user = u[1]!;
      rest = u[2]!;
    }
    out.push({ type: 'cron', file: opts.file, user, schedule, command: rest.trim(), enabled: 'yes' });
  }
  return out;
}

/** Parses /etc/anacrontab: "period delay job-identifier command". */
export function parseAnacrontab(text: string, file: string): ScheduledTask[] {
  const out: ScheduledTask[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || /^[A-Za-z_][A-Za-z0-9_]*\s*=/.test(line)) continue;
    const m = /^(\S+)\s+(\S+)\s+(\S+)\s+(.*)$/.exec(line);
    if (!m) continue;
    out.push({ type: 'anacron', file, user: 'root', schedule: `period ${m[1]}, delay ${m[2]} min (${m[3]})`, command: m[4]!.trim(), enabled: 'yes' });
  }
  return out;
}

/**
 * An at job's spool file is a shell script that at(1) wrote: environment set-up, a `cd ... || {`
 * block, then the user's commands, which current at versions wrap in a here-document
 * (`${SHELL:-/bin/sh} << 'marcinDELIMITER…'`). The command is what the user typed.
 */
export function parseAtJob(text: string): string {
  const lines = text.split('\n');
  const here = lines.findIndex((l) => /<<\s*'(marcinDELIMITER[0-9a-f]*)'/.test(l));
  let body: string[];
  if (here >= 0) {
    const delim = /<<\s*'(marcinDELIMITER[0-9a-f]*)'/.exec(lines[here]!)![1]!;
    const end = lines.findIndex((l, i) => i > here && l.trim() === delim);
    body = lines.slice(here + 1, end < 0 ? undefined : end);
  } else {
    let start = 0;
    for (let i = 0; i < lines.length; i++) if (/^\s*}\s*$/.test(lines[i]!)) start = i + 1;
    body = lines.slice(start);
  }
  return body.map((l) => l.trim()).filter((l) => l && !l.startsWith('#')).join('; ');
}
