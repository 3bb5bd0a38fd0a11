/** One installed package, as the Installed programs CSV lists it. */
export interface InstalledPackage {
  name: string;
  version: string;
  architecture: string;
  status: string;
  /** ISO time, or '' when the package manager does not record it. */
  installTime: string;
  source: string;
}

/**
 * Parses dpkg's status file (RFC 822-style stanzas separated by blank lines, continuation lines
 * start with a space). Every stanza is kept with its status, so removed-but-configured packages
 * ("deinstall ok config-files") are visible too.
 */
export function parseDpkgStatus(text: string): Omit<InstalledPackage, 'installTime'>[] {
  const out: Omit<InstalledPackage, 'installTime'>[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields: Record<string, string> = {};
    let last = '';
    for (const line of stanza.split('\n')) {
      if (/^[ \t]/.test(line)) continue; // continuation of Description/Conffiles: not needed
      const m = /^([A-Za-z0-9-]+):\s?(.*)$/.exec(line);
      if (m) {
        last = m[1]!.toLowerCase();
        fields[last] = m[2]!.trim();
      }
    }
    if (!fields.package) continue;
    out.push({
      name: fields.package,
      version: fields.version ?? '',
      architecture: fields.architecture ?? '',
      status: fields.status ?? '',
      source: 'dpkg',
    });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name) || a.architecture.localeCompare(b.architecture));
}

/** The `--queryformat` the rpm collector uses; parseRpmQuery reads its output. */
export const RPM_QUERYFORMAT = '%{NAME}\\t%{VERSION}-%{RELEASE}\\t%{ARCH}\\t%{INSTALLTIME}\\n';

/** Parses `rpm -qa --queryformat RPM_QUERYFORMAT` output (tab-separated, install time in epoch seconds). */
export function parseRpmQuery(text: string): InstalledPackage[] {
  const out: InstalledPackage[] = [];
  for (const line of text.split('\n')) {
    const [name, version, arch, installed] = line.split('\t');
    if (!name || version === undefined) continue;
    const secs = Number(installed);
    out.push({
      name,
      version,
      architecture: arch === '(none)' ? '' : (arch ?? ''),
      status: 'installed',
      installTime: Number.isFinite(secs) && secs > 0 ? new Date(secs * 1000).toISOString() : '',
      source: 'rpm',
    });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name) || a.architecture.localeCompare(b.architecture));
}
