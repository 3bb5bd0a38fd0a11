import { commandSections, section } from '../format.js';
import { parseProcNet, type ProcNetSocket } from '../parsers/proc.js';
import type { CollectContext, Collector } from '../types.js';
import { DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT_MS } from './common.js';

/** A process holding a socket open. */
export interface SocketOwner {
  pid: number;
  program: string;
}

/** socket inode -> the processes holding it, from /proc/<pid>/fd links ("socket:[inode]"). */
export async function socketOwners(ctx: CollectContext): Promise<Map<number, SocketOwner[]>> {
  const owners = new Map<number, SocketOwner[]>();
  for (const pid of ((await ctx.readDir('/proc')) ?? []).filter((n) => /^\d+$/.test(n))) {
    if (ctx.signal.aborted) break;
    const fds = await ctx.readDir(`/proc/${pid}/fd`).catch(() => null);
    if (!fds) continue;
    const program = ((await ctx.readText(`/proc/${pid}/comm`).catch(() => null)) ?? '').trim();
    for (const fd of fds) {
      const m = /^socket:\[(\d+)\]$/.exec((await ctx.readlink(`/proc/${pid}/fd/${fd}`)) ?? '');
      if (!m) continue;
      const inode = Number(m[1]);
      const list = owners.get(inode) ?? [];
      // A process with the socket on several descriptors is one owner.
      if (!list.some((o) => o.pid === Number(pid))) list.push({ pid: Number(pid), program });
      owners.set(inode, list);
    }
  }
  return owners;
}

/** A socket of /proc/net with the processes that hold it. */
export interface OwnedSocket extends ProcNetSocket {
  owners: SocketOwner[];
}

/** The sockets of /proc/net/<proto> for each protocol, with their owning processes. */
export async function procNetConnections(ctx: CollectContext, protos: readonly string[]): Promise<OwnedSocket[]> {
  const owners = await socketOwners(ctx);
  const out: OwnedSocket[] = [];
  for (const proto of protos) {
    const text = await ctx.readText(`/proc/net/${proto}`);
    for (const s of parseProcNet(text ?? '', proto)) out.push({ ...s, owners: owners.get(s.inode) ?? [] });
  }
  return out;
}

/** Sockets read straight from /proc/net when `ss` is missing. */
async function procNetSockets(ctx: CollectContext): Promise<string> {
  const lines = ['proto\tstate\tlocal\tremote\tuid\tinode\tprocess'];
  for (const s of await procNetConnections(ctx, ['tcp', 'tcp6', 'udp', 'udp6', 'raw', 'raw6'])) {
    lines.push([s.proto, s.state, s.local, s.remote, s.uid, s.inode, s.owners.map((o) => `${o.pid}/${o.program}`).join(',')].join('\t'));
  }
  return `${lines.join('\n')}\n`;
}

/** Network connections: sockets with owners, neighbours, resolver state, addresses and routes, firewall. */
export const networkConnections: Collector = {
  folder: 'Network connections',
  name: 'network-connections',
  source: 'ss, ip, /proc/net, /etc/resolv.conf, /etc/hosts, resolvectl, nft, iptables-save',
  timeoutMs: DEFAULT_TIMEOUT_MS,
  maxBytes: DEFAULT_MAX_BYTES,
  async *collect(ctx) {
    const ss = await ctx.run('ss', ['-tuwanpH']);
    if (ss.code === 0) {
      yield { name: 'ActiveNetConnections.txt', source: 'ss -tuwanpH', content: `${section('$ ss -tuwanpH  (Netid State Recv-Q Send-Q Local Peer Process)', ss.stdout)}` };
    } else {
      yield { name: 'ActiveNetConnections.txt', source: '/proc/net/{tcp,tcp6,udp,udp6,raw,raw6} + /proc/<pid>/fd', content: section(`ss unavailable (${ss.stderr.trim() || `exit ${ss.code}`}); read from /proc/net`, await procNetSockets(ctx)) };
    }

    const arp = await commandSections(ctx, [['ip', ['neigh', 'show']]]);
    const procArp = await ctx.readText('/proc/net/arp');
    yield { name: 'Arp.txt', source: 'ip neigh show; /proc/net/arp', content: `${arp.text}\n${section('/proc/net/arp', procArp ?? 'not present on this device')}` };

    const resolver = await commandSections(ctx, [['resolvectl', ['status', '--no-pager']], ['resolvectl', ['statistics', '--no-pager']]]);
    const files: string[] = [];
    for (const f of ['/etc/resolv.conf', '/run/systemd/resolve/resolv.conf', '/etc/hosts', '/etc/nsswitch.conf', '/etc/host.conf']) {
      const t = await ctx.readText(f);
      files.push(section(f, t ?? 'not present on this device'));
    }
    yield {
      name: 'DnsCache.txt',
      source: 'resolvectl status/statistics; /etc/resolv.conf, /etc/hosts, /etc/nsswitch.conf',
      // Linux keeps no system DNS cache unless systemd-resolved (or nscd/dnsmasq) runs; resolver state and the hosts file stand in.
      content: `# Linux has no system-wide DNS cache unless systemd-resolved, nscd or dnsmasq runs; resolver state and hosts file follow.\n\n${resolver.text}\n${files.join('\n')}`,
    };

    const ipcfg = await commandSections(ctx, [
      ['ip', ['-details', 'address', 'show']],
      ['ip', ['-4', 'route', 'show', 'table', 'all']],
      ['ip', ['-6', 'route', 'show', 'table', 'all']],
      ['ip', ['rule', 'show']],
      ['ip', ['-s', 'link', 'show']],
    ]);
    yield { name: 'IpConfig.txt', source: 'ip address/route/rule/link', content: ipcfg.text };

    const fw = await commandSections(ctx, [
      ['nft', ['list', 'ruleset']],
      ['iptables-save', []],
      ['ip6tables-save', []],
    ]);
    yield { name: 'Firewall.txt', source: 'nft list ruleset; iptables-save; ip6tables-save', content: fw.text };
  },
};
