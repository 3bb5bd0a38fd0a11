/** A unit file: section -> key -> values (keys may repeat, e.g. ExecStartPre). */
export type UnitFile = Record<string, Record<string, string[]>>;

/** Parses a systemd unit file (INI-like; `\` continues a line; `#` and `;` start comments). */
export function parseUnitFile(text: string): UnitFile {
  const out: UnitFile = {};
  let section = '';
  const lines = text.replace(/\\\r?\n/g, ' ').split(/\r?\n/);
  for (const raw of lines) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) {
      section = s[1]!;
      out[section] ??= {};
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0 || !section) continue;
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    const sec = (out[section] ??= {});
    // An empty assignment resets a list setting, as systemd does.
    if (value === '') sec[key] = [];
    else (sec[key] ??= []).push(value);
  }
  return out;
}

/** The last value of a key (systemd's rule for single-valued settings), or ''. */
export function unitValue(u: UnitFile, section: string, key: string): string {
  return u[section]?.[key]?.at(-1) ?? '';
}
