import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { arch, hostname, networkInterfaces, release } from 'node:os';
import type { Platform } from '../types.js';
import { adoptPrograms, releasePrograms, unitCgroup } from './cgroups.js';
import { killProcess, linuxProcessesUsing, runningFiles } from './file-processes.js';
import { NftFirewall } from './firewall.js';
import { NftIndicatorFirewall } from './indicator-firewall.js';
import { notifyUsers } from './notify.js';
import { linuxProcesses } from './processes.js';
import { createSafeFiles } from './safe-files.js';
import { linuxScanScope } from './scan-scope.js';

/** `nameserver` lines of resolv.conf (zone suffixes dropped). */
export function parseResolvConf(text: string): string[] {
  return [...text.matchAll(/^\s*nameserver\s+(\S+)/gm)].map((m) => m[1]!.split('%')[0]!);
}

/** Parses /etc/os-release (KEY="value" lines) into a map. */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1').replace(/^'(.*)'$/, '$1');
  }
  return out;
}

/** Clock ticks per second of /proc's times (USER_HZ: 100 on every Linux architecture Node runs on). */
const USER_HZ = 100;

/** This process's CPU time, plus its children that ended (a clamscan run), in microseconds. */
function cpuMicros(): number {
  const own = process.cpuUsage();
  let children = 0;
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    // After "pid (comm) ": cutime and cstime are fields 16 and 17 (1-based), 14 and 15 after the name.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    children = ((Number(rest[13]) || 0) + (Number(rest[14]) || 0)) * (1e6 / USER_HZ);
  } catch {
    // No /proc: children are not counted.
  }
  return own.user + own.system + children;
}

const PROCESSORS: Record<string, string> = { x64: 'x64', arm64: 'arm64', ia32: 'x86', arm: 'arm' };

export const linuxPlatform: Platform = {
  firewall: new NftFirewall(),
  indicatorFirewall: new NftIndicatorFirewall(),
  processes: linuxProcesses,
  files: createSafeFiles,
  async resolvers() {
    try {
      return parseResolvConf(await readFile('/etc/resolv.conf', 'utf8'));
    } catch {
      return [];
    }
  },
  unitCgroup,
  adoptPrograms,
  releasePrograms,
  notifyUsers,
  scanScope: linuxScanScope,
  processesUsing: linuxProcessesUsing,
  runningFiles,
  killProcess,
  cpuMicros,
  async describe() {
    let osVersion = 'Linux';
    try {
      const os = parseOsRelease(await readFile('/etc/os-release', 'utf8'));
      osVersion = os.PRETTY_NAME ?? ([os.NAME, os.VERSION].filter(Boolean).join(' ') || 'Linux');
    } catch {
      // Minimal containers have no os-release; "Linux" is still true.
    }
    const ipAddresses = Object.entries(networkInterfaces()).flatMap(([name, addrs]) =>
      (addrs ?? []).map((a) => ({ address: a.address.split('%')[0]!, family: a.family === 'IPv6' ? ('IPv6' as const) : ('IPv4' as const), interface: name.slice(0, 64), mac: a.mac && a.mac !== '00:00:00:00:00:00' ? a.mac : null })),
    );
    return { hostname: hostname().slice(0, 255) || 'localhost', osPlatform: 'Linux', osVersion: osVersion.slice(0, 512), osProcessor: PROCESSORS[arch()] ?? arch(), kernel: release(), ipAddresses: ipAddresses.slice(0, 256) };
  },
};
