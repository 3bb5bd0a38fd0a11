import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MissingToolError } from '../errors.js';
import { run, firstLine } from './exec.js';
import type { Firewall, IsolationPlan } from '../types.js';
import { buildRuleset, CORDON_TABLE } from './nft-ruleset.js';

/**
 * nftables behind the Firewall interface. Rule sets go through a file (`nft -f FILE`): nft
 * cannot read /dev/stdin when Node gives it a pipe, and a file is applied as one transaction.
 */
export class NftFirewall implements Firewall {
  constructor(private readonly nft = 'nft') {}

  async check(): Promise<{ ok: true; version: string } | { ok: false; reason: string }> {
    const v = await run(this.nft, ['--version'], { timeoutMs: 5000 });
    if (v.code === 127) return { ok: false, reason: 'nft is not installed (install the nftables package)' };
    if (v.code !== 0) return { ok: false, reason: `nft --version failed: ${firstLine(v.stderr)}` };
    const version = /v(\d+\.\d+(?:\.\d+)?)/.exec(v.stdout)?.[1] ?? 'unknown';
    // Listing proves the agent may talk to the kernel's firewall (root or CAP_NET_ADMIN).
    const l = await run(this.nft, ['list', 'tables'], { timeoutMs: 5000 });
    if (l.code !== 0) return { ok: false, reason: `nft cannot read the firewall (the agent needs root or CAP_NET_ADMIN): ${firstLine(l.stderr)}` };
    return { ok: true, version };
  }

  async apply(plan: IsolationPlan): Promise<void> {
    await this.#load(buildRuleset(plan));
  }

  async remove(): Promise<void> {
    // Declaring then deleting is valid whether or not the table exists: removal is idempotent.
    await this.#load(`table inet ${CORDON_TABLE} {}\ndelete table inet ${CORDON_TABLE}\n`);
  }

  async active(): Promise<boolean> {
    return (await run(this.nft, ['list', 'table', 'inet', CORDON_TABLE], { timeoutMs: 5000 })).code === 0;
  }

  async #load(text: string): Promise<void> {
    await loadRuleset(this.nft, text);
  }
}

/** Loads a rule set with `nft -f` (one transaction), through a private temporary file. */
export async function loadRuleset(nft: string, text: string): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'cordon-nft-'));
  try {
    const file = join(dir, 'ruleset.nft');
    await writeFile(file, text, { mode: 0o600 });
    const r = await run(nft, ['-f', file], { timeoutMs: 15_000 });
    if (r.code === 127) throw new MissingToolError('nft is not installed (install the nftables package)');
    if (r.code !== 0) throw new Error(`nft refused the rule set: ${firstLine(r.stderr)}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
