/**
 * Cordon inside the namespace test bed: a server in one namespace, an enrolled agent in another,
 * and the API forwarded to this process. Shared by the isolation tests and the isolation benchmark.
 * With `nodes: 2` (and a PostgreSQL database) the server's namespace runs two nodes, on two
 * addresses and two agent ports, and the agent is enrolled with both.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CordonClient, type MachineAction } from '@cordon/cli/client';
import { cleanup, cordon, REAL, requireReal, tempDir, until } from './helpers.js';
import { ADDR, NetnsBed } from './netns.js';

export const AGENT_PORT = 8443;
type Proc = ChildProcess & { out: { stdout: string; stderr: string } };

/** Where each node listens: its agent gateway (address and port) and its API inside the server's namespace. */
export const NODES = [
  { address: ADDR.server, agentPort: AGENT_PORT, apiPort: 8080 },
  { address: '169.254.99.4', agentPort: 9443, apiPort: 8081 },
] as const;

export interface BedOptions {
  /** How many server nodes (1 or 2); two need `databaseUrl`. */
  nodes?: 1 | 2;
  /** A PostgreSQL database the nodes share, reachable from the server's namespace (a Unix socket URL). */
  databaseUrl?: string;
}

export class CordonBed {
  readonly bed: NetnsBed;
  readonly serverDir = tempDir('bed-server');
  readonly agentDir = tempDir('bed-agent');
  /** What the agent asked `wall` to say (a shim: the real one writes to every terminal of this machine). */
  readonly wallLog: string;
  readonly #shims = tempDir('bed-shims');
  readonly agentEnv: Record<string, string>;
  /** The first node (the only one unless `nodes: 2`). */
  server!: Proc;
  /** Every node, in NODES order. */
  readonly servers: Proc[] = [];
  /** Each node's API, forwarded to this process (in NODES order). */
  readonly apis: CordonClient[] = [];
  agent!: Proc;
  api!: CordonClient;
  /** The server's API (and console), forwarded to this process: `http://127.0.0.1:<port>`. */
  apiUrl!: string;
  machineId!: string;

  constructor(
    tag: string,
    agentEnv: Record<string, string>,
    readonly options: BedOptions = {},
  ) {
    if ((options.nodes ?? 1) > 1 && !options.databaseUrl) throw new Error('several nodes need a PostgreSQL database');
    if (process.getuid?.() !== 0) throw new Error('The isolation bed needs root (network namespaces and nftables)');
    this.bed = new NetnsBed(tag);
    this.wallLog = join(this.#shims, 'wall.log');
    // The desktop path (runuser … notify-send) is shimmed too: the real one would pop up on this machine's desktops.
    for (const tool of ['wall', 'runuser']) writeFileSync(join(this.#shims, tool), `#!/bin/sh\nprintf '${tool} %s\\n' "$*" >> '${this.wallLog}'\n`, { mode: 0o755 });
    this.agentEnv = { ...agentEnv, PATH: `${this.#shims}:${process.env.PATH ?? ''}` };
  }

  async start(): Promise<void> {
    // Isolation is enforced with real nftables: without nft every isolation test would fail obscurely.
    requireReal(REAL.nft);
    this.bed.create();
    const nodes = NODES.slice(0, this.options.nodes ?? 1);
    // The second node's address is one more on the server's interface.
    for (const n of nodes.slice(1)) this.bed.ip('-n', this.bed.names.server, 'addr', 'add', `${n.address}/24`, 'dev', 'eth0');
    for (let i = 0; i < nodes.length; i++) await this.startServer(i);
    // Printed just after the line startServer waits for: it may come in a later chunk of the pipe.
    const token = await until('the admin token', async () => /^admin token: (\S+)$/m.exec(this.server.out.stdout)?.[1], 10_000);
    const apiUrls = [];
    for (const n of nodes) apiUrls.push(`http://127.0.0.1:${await this.bed.forward(this.bed.names.server, '127.0.0.1', n.apiPort)}`);
    this.apis.push(...apiUrls.map((u) => new CordonClient(u, token)));
    this.apiUrl = apiUrls[0]!;
    this.api = this.apis[0]!;
    const store = this.options.databaseUrl ? ['--database-url', this.options.databaseUrl] : [];
    const enrollment = (await cordon(['enrollment-token', 'create', '--data-dir', this.serverDir, ...store])).stdout.trim();
    const urls = nodes.map((n) => `https://${n.address}:${n.agentPort}`).join(',');
    const enrolled = this.bed.cordon(this.bed.names.device, ['agent', 'enroll', '--server', urls, '--token', enrollment, '--data-dir', this.agentDir]);
    await new Promise((r) => enrolled.once('exit', r));
    if (enrolled.exitCode !== 0) throw new Error(`enrollment failed: ${enrolled.out.stderr}`);
    this.machineId = JSON.parse(readFileSync(join(this.agentDir, 'enrollment.json'), 'utf8')).machineId;
    this.startAgent();
    // Generous waits: on a loaded 2-core machine (other e2e files collecting packages) start-up is slow.
    await until('agent online', async () => (await this.machine()).isConnected, 60_000);
  }

  /** Starts node `index` of NODES (again, after it was killed). */
  async startServer(index = 0): Promise<void> {
    const n = NODES[index]!;
    const store = this.options.databaseUrl ? ['--database-url', this.options.databaseUrl] : [];
    const args = ['server', '--data-dir', this.serverDir, ...store, '--host', '127.0.0.1', '--port', String(n.apiPort), '--agent-host', n.address, '--agent-port', String(n.agentPort)];
    const server = (this.servers[index] = this.bed.cordon(this.bed.names.server, args, { CORDON_HEARTBEAT_SECONDS: '2', CORDON_RATE_LIMIT_PER_MINUTE: '0', CORDON_LOG_LEVEL: 'warn' }));
    if (index === 0) this.server = server;
    await until('server up', async () => {
      if (server.exitCode !== null) throw new Error(`server exited: ${server.out.stderr.slice(-2000)}`);
      return /^agents: /m.test(server.out.stdout);
    }, 60_000);
  }

  startAgent(env: Record<string, string> = {}): void {
    this.agent = this.onDevice(['agent', 'run', '--data-dir', this.agentDir], env);
  }

  async stopAgent(): Promise<void> {
    if (this.agent.exitCode !== null || this.agent.signalCode !== null) return;
    this.agent.kill('SIGKILL');
    await new Promise((r) => this.agent.once('exit', r));
  }

  machine(): Promise<{ isolationState: string; isConnected: boolean; capabilities: { name: string; version: string; provider?: string; unavailable?: string }[] }> {
    return this.api.request('GET', `/api/machines/${this.machineId}`);
  }

  submit(path: string, body: Record<string, unknown>): Promise<MachineAction> {
    return this.api.request<MachineAction>('POST', `/api/machines/${this.machineId}/${path}`, body);
  }

  /** Submits an action and waits until it ends. */
  async act(path: string, body: Record<string, unknown>): Promise<MachineAction> {
    return this.api.waitFor((await this.submit(path, body)).id, 60_000, () => undefined);
  }

  /** Whether Cordon's table is loaded in the device's namespace. */
  cordonTable(): boolean {
    try {
      this.bed.exec(this.bed.names.device, 'nft', ['list', 'table', 'inet', 'cordon']);
      return true;
    } catch {
      return false;
    }
  }

  /** A `cordon …` process on the device, with the agent's environment (and so its shims). */
  onDevice(args: string[], env: Record<string, string> = {}): Proc {
    return this.bed.cordon(this.bed.names.device, args, { ...this.agentEnv, ...env });
  }

  cleanup(): void {
    this.bed.cleanup();
    // A failed selective test may leave the agent's program cgroup behind (its processes are killed by now).
    // Busy: another bed's agent (a test file running beside this one) has programs in it right now.
    for (const dir of ['/sys/fs/cgroup/unified/cordon-allowed', '/sys/fs/cgroup/cordon-allowed']) {
      try {
        if (existsSync(dir)) rmdirSync(dir);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EBUSY') throw e;
      }
    }
    cleanup([this.serverDir, this.agentDir, this.#shims]);
  }
}
