/**
 * Cordon inside the namespace test bed: a server in one namespace, an enrolled agent in another,
 * and the API forwarded to this process. Shared by the isolation tests and the isolation benchmark.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CordonClient, type MachineAction } from '@cordon/cli';
import { cleanup, cordon, REAL, requireReal, tempDir, until } from './helpers.js';
import { ADDR, NetnsBed } from './netns.js';

export const AGENT_PORT = 8443;
type Proc = ChildProcess & { out: { stdout: string; stderr: string } };

export class CordonBed {
  readonly bed: NetnsBed;
  readonly serverDir = tempDir('bed-server');
  readonly agentDir = tempDir('bed-agent');
  /** What the agent asked `wall` to say (a shim: the real one writes to every terminal of this machine). */
  readonly wallLog: string;
  readonly #shims = tempDir('bed-shims');
  readonly agentEnv: Record<string, string>;
  server!: Proc;
  agent!: Proc;
  api!: CordonClient;
  /** The server's API (and console), forwarded to this process: `http://127.0.0.1:<port>`. */
  apiUrl!: string;
  machineId!: string;

  constructor(
    tag: string,
    agentEnv: Record<string, string>,
  ) {
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
    await this.startServer();
    const token = /^admin token: (\S+)$/m.exec(this.server.out.stdout)![1]!;
    this.apiUrl = `http://127.0.0.1:${await this.bed.forward(this.bed.names.server, '127.0.0.1', 8080)}`;
    this.api = new CordonClient(this.apiUrl, token);
    const enrollment = (await cordon(['enrollment-token', 'create', '--data-dir', this.serverDir])).stdout.trim();
    const enrolled = this.bed.cordon(this.bed.names.device, ['agent', 'enroll', '--server', `https://${ADDR.server}:${AGENT_PORT}`, '--token', enrollment, '--data-dir', this.agentDir]);
    await new Promise((r) => enrolled.once('exit', r));
    if (enrolled.exitCode !== 0) throw new Error(`enrollment failed: ${enrolled.out.stderr}`);
    this.machineId = JSON.parse(readFileSync(join(this.agentDir, 'enrollment.json'), 'utf8')).machineId;
    this.startAgent();
    // Generous waits: on a loaded 2-core machine (other e2e files collecting packages) start-up is slow.
    await until('agent online', async () => (await this.machine()).isConnected, 60_000);
  }

  async startServer(): Promise<void> {
    const server = (this.server = this.bed.cordon(this.bed.names.server, ['server', '--data-dir', this.serverDir, '--host', '127.0.0.1', '--port', '8080', '--agent-host', ADDR.server, '--agent-port', String(AGENT_PORT)], { CORDON_HEARTBEAT_SECONDS: '2', CORDON_RATE_LIMIT_PER_MINUTE: '0', CORDON_LOG_LEVEL: 'warn' }));
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
    for (const dir of ['/sys/fs/cgroup/unified/cordon-allowed', '/sys/fs/cgroup/cordon-allowed']) if (existsSync(dir)) rmdirSync(dir);
    cleanup([this.serverDir, this.agentDir, this.#shims]);
  }
}
