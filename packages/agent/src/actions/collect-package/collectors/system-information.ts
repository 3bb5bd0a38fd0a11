import { commandSections, section } from '../format.js';
import type { CollectContext, Collector } from '../types.js';
import { DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT_MS } from './common.js';

function duration(seconds: number): string {
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return `${d}d ${h}h ${m}m`;
}

/** Summary lines from /proc/cpuinfo: model, logical CPUs, flags that matter for triage. */
export function summarizeCpuinfo(text: string): string {
  const blocks = text.split(/\n\s*\n/).filter((b) => /^processor\s*:/m.test(b));
  const field = (k: string) => new RegExp(`^${k}\\s*:\\s*(.*)$`, 'm').exec(blocks[0] ?? '')?.[1]?.trim() ?? '';
  return [`Logical CPUs: ${blocks.length}`, `Model: ${field('model name') || field('Hardware') || field('cpu model') || 'unknown'}`, `Vendor: ${field('vendor_id') || 'unknown'}`, `Cores per socket: ${field('cpu cores') || 'unknown'}`].join('\n');
}

const systemInformationSource = '/etc/os-release, /proc/{version,uptime,cpuinfo,meminfo,mounts,modules}, /sys/class/dmi/id, uname, lsblk, df, timedatectl';

async function file(ctx: CollectContext, path: string): Promise<string> {
  return ((await ctx.readText(path).catch(() => null)) ?? 'not present on this device').trimEnd();
}

/** System information: OS, kernel, host, uptime, CPU, memory, disks, mounts, modules, time zone. */
export const systemInformation: Collector = {
  folder: 'System Information',
  name: 'system-information',
  source: systemInformationSource,
  timeoutMs: DEFAULT_TIMEOUT_MS,
  maxBytes: DEFAULT_MAX_BYTES,
  async *collect(ctx) {
    const now = ctx.now();
    const uptime = Number(((await ctx.readText('/proc/uptime')) ?? '0').split(' ')[0]);
    const tzLink = await ctx.readlink('/etc/localtime');
    const dmi: string[] = [];
    for (const k of ['sys_vendor', 'product_name', 'product_version', 'board_vendor', 'board_name', 'bios_vendor', 'bios_version', 'bios_date', 'chassis_type']) {
      const v = await ctx.readText(`/sys/class/dmi/id/${k}`).catch(() => null);
      if (v !== null) dmi.push(`${k}: ${v.trim()}`);
    }
    const head = [
      `Collected at: ${now.toISOString()}`,
      `Hostname: ${(await file(ctx, '/proc/sys/kernel/hostname')).trim()}`,
      `Domain: ${(await file(ctx, '/proc/sys/kernel/domainname')).trim()}`,
      `Kernel: ${(await file(ctx, '/proc/version')).trim()}`,
      `Uptime: ${duration(uptime)} (booted ${new Date(now.getTime() - uptime * 1000).toISOString()})`,
      `Time zone: ${(await ctx.readText('/etc/timezone').catch(() => null))?.trim() ?? (tzLink ? tzLink.replace(/^.*zoneinfo\//, '') : 'UTC (no /etc/localtime)')}`,
      `Boot id: ${(await file(ctx, '/proc/sys/kernel/random/boot_id')).trim()}`,
      `Machine id: ${(await file(ctx, '/etc/machine-id')).trim()}`,
    ];
    const mem = ((await ctx.readText('/proc/meminfo')) ?? '').split('\n').filter((l) => /^(MemTotal|MemAvailable|SwapTotal|SwapFree|HugePages_Total):/.test(l)).join('\n');
    const cmds = await commandSections(ctx, [
      ['uname', ['-a']],
      ['lsblk', ['-o', 'NAME,TYPE,SIZE,FSTYPE,MOUNTPOINT,MODEL,SERIAL,UUID']],
      ['df', ['-hT']],
      ['timedatectl', ['status', '--no-pager']],
      ['systemd-detect-virt', []],
    ]);
    yield {
      name: 'SystemInformation.txt',
      source: systemInformationSource,
      content: [
        section('Summary', head.join('\n')),
        section('/etc/os-release', await file(ctx, '/etc/os-release')),
        section('CPU (/proc/cpuinfo)', summarizeCpuinfo((await ctx.readText('/proc/cpuinfo')) ?? '')),
        section('Memory (/proc/meminfo)', mem || 'not present on this device'),
        section('Hardware (/sys/class/dmi/id)', dmi.join('\n') || 'not present on this device (no DMI: VM or ARM board)'),
        section('Kernel command line (/proc/cmdline)', await file(ctx, '/proc/cmdline')),
        cmds.text,
        section('Mounts (/proc/self/mounts)', await file(ctx, '/proc/self/mounts')),
        section('Loaded kernel modules (/proc/modules)', await file(ctx, '/proc/modules')),
        section('Kernel taint (/proc/sys/kernel/tainted)', await file(ctx, '/proc/sys/kernel/tainted')),
      ].join('\n'),
    };
  },
};
