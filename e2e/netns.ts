/**
 * The network test bed: namespaces made by the test, joined by a bridge that lives
 * in a namespace of its own, addresses in 169.254.99.0/24 and no default route. Nothing is added
 * to the host's own network; processes enter a namespace with `nsenter --net` (which, unlike
 * `ip netns exec`, keeps /sys and so the cgroup tree nft needs).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { createServer, connect, type Server } from 'node:net';
import { join } from 'node:path';
import { CORDON, REAL, requireReal, ROOT, tempDir } from './helpers.js';

const TOOL = join(ROOT, 'e2e', 'netns-tool.mjs');

export const ADDR = { server: '169.254.99.1', device: '169.254.99.2', outside: '169.254.99.3' } as const;

/**
 * What a TCP connection attempt came to. `rejected`: refused at once (TCP reset, ICMP
 * admin-prohibited or host-unreachable, a local reject) — what isolation's reject rules give;
 * `timeout`: no answer within the limit — what a silent drop gives. Tests say which they expect.
 */
export type Reach = 'connected' | 'rejected' | 'timeout' | `error ${string}`;

/** Errors a reject gives: a reset (ECONNREFUSED), ICMP admin-prohibited (IPv4: EHOSTUNREACH, IPv6: EACCES), a local reject (EPERM). */
const REJECTED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'EACCES', 'EPERM']);

export function reachOf(answer: string): Reach {
  if (answer === 'ok') return 'connected';
  const code = /^fail (\S+)/.exec(answer)?.[1] ?? answer;
  if (code === 'ETIMEDOUT') return 'timeout';
  return REJECTED.has(code) ? 'rejected' : `error ${code}`;
}

/** Who a peer runs as: root (the agent's user) unless told. */
export interface PeerUser {
  uid: number;
  gid: number;
}

/** `nobody`: a user that is not the agent's. */
export const NOBODY: PeerUser = { uid: 65534, gid: 65534 };

/** A long-lived peer process in a namespace that answers one line per command. */
export class Peer {
  readonly child: ChildProcess;
  #buffer = '';
  #waiters: ((line: string) => void)[] = [];
  readonly lines: string[] = [];
  onLine?: (line: string) => void;

  /** `exe`: the node binary to run it with (a copy, to test per-program rules); `user`: another user than root. */
  constructor(ns: string, exe = process.execPath, user?: PeerUser) {
    const as = user ? ['-S', String(user.uid), '-G', String(user.gid)] : [];
    this.child = spawn('nsenter', [`--net=/run/netns/${ns}`, ...as, exe, TOOL], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.child.stdout!.on('data', (d: Buffer) => {
      this.#buffer += d.toString();
      let i: number;
      while ((i = this.#buffer.indexOf('\n')) >= 0) {
        const line = this.#buffer.slice(0, i);
        this.#buffer = this.#buffer.slice(i + 1);
        const waiter = this.onLine ? undefined : this.#waiters.shift();
        if (this.onLine) this.onLine(line);
        else if (waiter) waiter(line);
        else this.lines.push(line);
      }
    });
  }

  ask(command: string): Promise<string> {
    return new Promise((resolve) => {
      this.#waiters.push(resolve);
      this.child.stdin!.write(`${command}\n`);
    });
  }

  send(command: string): void {
    this.child.stdin!.write(`${command}\n`);
  }

  /** What a TCP connection from this namespace to host:port comes to within `ms`: connected, rejected (fast) or a time-out. */
  async reaches(host: string, port: number, ms = 1500): Promise<Reach> {
    return reachOf(await this.ask(`connect ${host} ${port} ${ms}`));
  }

  /** As {@link reaches}, from a chosen local address and port (a peer posing as a server's port). */
  async reachesFrom(local: { address: string; port: number }, host: string, port: number, ms = 1500): Promise<Reach> {
    return reachOf(await this.ask(`connectfrom ${local.address} ${local.port} ${host} ${port} ${ms}`));
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}

export class NetnsBed {
  readonly names: { server: string; device: string; outside: string; bridge: string };
  readonly dir = tempDir('netns');
  readonly #processes: ChildProcess[] = [];
  readonly #servers: Server[] = [];

  constructor(tag: string) {
    const id = `${tag}${process.pid % 100000}`;
    this.names = { server: `${id}s`, device: `${id}d`, outside: `${id}o`, bridge: `${id}b` };
  }

  ip(...args: string[]): void {
    execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  }

  /** Runs a program inside a namespace to completion. */
  exec(ns: string, file: string, args: string[]): string {
    return execFileSync('nsenter', [`--net=/run/netns/${ns}`, file, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  create(): void {
    requireReal(REAL.ip);
    this.destroy();
    const { bridge } = this.names;
    this.ip('netns', 'add', bridge);
    this.ip('-n', bridge, 'link', 'add', 'br0', 'type', 'bridge');
    this.ip('-n', bridge, 'link', 'set', 'br0', 'up');
    this.ip('-n', bridge, 'link', 'set', 'lo', 'up');
    const hosts: [string, string][] = [
      [this.names.server, ADDR.server],
      [this.names.device, ADDR.device],
      [this.names.outside, ADDR.outside],
    ];
    hosts.forEach(([ns, addr], i) => {
      this.ip('netns', 'add', ns);
      // Created inside the namespaces directly: no interface ever appears in the host's namespace.
      this.ip('-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', `p${i}`, 'netns', bridge);
      this.ip('-n', bridge, 'link', 'set', `p${i}`, 'master', 'br0');
      this.ip('-n', bridge, 'link', 'set', `p${i}`, 'up');
      this.ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0');
      this.ip('-n', ns, 'link', 'set', 'eth0', 'up');
      this.ip('-n', ns, 'link', 'set', 'lo', 'up');
    });
  }

  /** A `cordon …` process inside a namespace. */
  cordon(ns: string, args: string[], env: Record<string, string> = {}): ChildProcess & { out: { stdout: string; stderr: string } } {
    const child = spawn('nsenter', [`--net=/run/netns/${ns}`, process.execPath, CORDON, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }) as ChildProcess & { out: { stdout: string; stderr: string } };
    child.out = { stdout: '', stderr: '' };
    child.stdout!.on('data', (d: Buffer) => (child.out.stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (child.out.stderr += d.toString()));
    this.#processes.push(child);
    return child;
  }

  peer(ns: string, exe?: string, user?: PeerUser): Peer {
    const p = new Peer(ns, exe, user);
    this.#processes.push(p.child);
    return p;
  }

  /**
   * Makes `host:port` inside namespace `ns` reachable from this process as 127.0.0.1:<answer>:
   * a peer in the namespace forwards a unix socket there, and a local listener pipes into it.
   */
  async forward(ns: string, host: string, port: number): Promise<number> {
    const sock = join(this.dir, `${ns}-${port}.sock`);
    const peer = this.peer(ns);
    if ((await peer.ask(`forward ${sock} ${host} ${port}`)) !== 'forwarding') throw new Error('forwarder did not start');
    const server = createServer((local) => {
      const remote = connect(sock);
      local.pipe(remote).pipe(local);
      local.on('error', () => remote.destroy());
      remote.on('error', () => local.destroy());
    });
    this.#servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    return (server.address() as { port: number }).port;
  }

  /** Kills what the bed started and deletes its namespaces (their firewalls go with them). */
  destroy(): void {
    for (const p of this.#processes) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    for (const s of this.#servers) s.close();
    for (const ns of Object.values(this.names)) {
      if (existsSync(`/run/netns/${ns}`)) execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    }
  }

  cleanup(): void {
    this.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
