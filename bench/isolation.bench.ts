/**
 * Benchmark: how fast isolation takes effect. A Cordon server, an enrolled agent and an "outside"
 * host in network namespaces (e2e/cordon-bed.ts); a prober in the device's namespace connects to
 * the outside host every ~2 ms. Each cycle: POST /isolate, and measure until the end of the first
 * connection opened after the call that fails; then release and wait for probes to pass again.
 * Baseline, same run: the bare `nft -f` apply of the same rule set in a scratch namespace.
 * Target (issue 3): p50 <= 150 ms end to end.
 *
 *   npm run bench:isolation                    # 20 cycles
 *   BENCH_CYCLES=50 npm run bench:isolation
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildRuleset } from '../packages/agent/src/platform/linux/nft-ruleset.js';
import { AGENT_PORT, CordonBed } from '../e2e/cordon-bed.js';
import { until } from '../e2e/helpers.js';
import { ADDR } from '../e2e/netns.js';

const CYCLES = Number(process.env.BENCH_CYCLES ?? 20);
const log = (s: string) => process.stderr.write(`${s}\n`);
const wallNow = () => performance.timeOrigin + performance.now();
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

async function main(): Promise<void> {
  const cb = new CordonBed('bi', { CORDON_AGENT_LOG_LEVEL: 'warn', CORDON_AGENT_ISOLATION_WATCH_SECONDS: '5' });
  try {
    await cb.start();
    const { bed } = cb;
    const outside = bed.peer(bed.names.outside);
    if ((await outside.ask(`listen ${ADDR.outside} 7000`)) !== 'listening') throw new Error('outside listener failed');

    // Baseline: the same rule set loaded by bare nft in a scratch namespace.
    const file = join(bed.dir, 'baseline.nft');
    writeFileSync(file, buildRuleset({ servers: [{ address: ADDR.server, port: AGENT_PORT }], resolvers: [], agentUid: 0, destinations: [], cgroups: [] }));
    bed.ip('netns', 'add', `${bed.names.bridge}x`);
    const nftMs: number[] = [];
    try {
      for (let i = 0; i < CYCLES; i++) {
        const t = performance.now();
        execFileSync('nsenter', [`--net=/run/netns/${bed.names.bridge}x`, 'nft', '-f', file]);
        nftMs.push(performance.now() - t);
      }
    } finally {
      bed.ip('netns', 'del', `${bed.names.bridge}x`);
    }

    const prober = bed.peer(bed.names.device);
    // Each probe: when it started, when it ended, and whether it connected.
    const probes: { start: number; t: number; ok: boolean }[] = [];
    prober.onLine = (line) => {
      const m = /^probe (\S+) (\S+) (ok|fail)/.exec(line);
      if (m) probes.push({ start: Number(m[1]), t: Number(m[2]), ok: m[3] === 'ok' });
    };
    prober.send(`probe ${ADDR.outside} 7000`);
    const endToEnd: number[] = [];
    const actionMs: number[] = [];
    for (let i = 0; i < CYCLES; i++) {
      const start = wallNow();
      await until('probes passing', async () => probes.some((p) => p.start > start && p.ok), 10_000);
      const t0 = wallNow();
      const submitted = await cb.submit('isolate', { Comment: `bench cycle ${i}`, IsolationType: 'Full' });
      // The first connection opened after the call that failed: isolation was in force by its end.
      const blocked = await until('probe blocked', async () => probes.find((p) => p.start > t0 && !p.ok), 10_000);
      endToEnd.push(blocked.t - t0);
      const done = await cb.api.waitFor(submitted.id, 60_000, () => undefined);
      if (done.status !== 'Succeeded') throw new Error(`isolate ended ${done.status}: ${done.error}`);
      actionMs.push(Date.parse(done.lastUpdateDateTimeUtc) - t0);
      const released = await cb.act('unisolate', { Comment: `bench cycle ${i}` });
      if (released.status !== 'Succeeded') throw new Error(`release ended ${released.status}: ${released.error}`);
      log(`cycle ${i + 1}/${CYCLES}: probe failing after ${endToEnd[i]!.toFixed(1)} ms (bare nft -f ${nftMs[i]!.toFixed(1)} ms)`);
    }
    prober.send('stop');

    const rows: [string, number, number][] = [
      ['p50', pct(endToEnd, 50), pct(nftMs, 50)],
      ['p99', pct(endToEnd, 99), pct(nftMs, 99)],
    ];
    log('\n| percentile | API call -> probe fails | bare `nft -f` | ratio |');
    log('| --- | --- | --- | --- |');
    for (const [name, e, b] of rows) log(`| ${name} | ${e.toFixed(1)} ms | ${b.toFixed(1)} ms | ${(e / b).toFixed(2)}x |`);
    log(`| action Succeeded (p50, incl. server confirm) | ${pct(actionMs, 50).toFixed(0)} ms | | |`);
    const p50 = pct(endToEnd, 50);
    process.stdout.write(`RESULT: isolation takes effect p50 ${p50.toFixed(1)} ms, p99 ${pct(endToEnd, 99).toFixed(1)} ms over ${CYCLES} cycles; bare nft -f p50 ${pct(nftMs, 50).toFixed(1)} ms (ratio ${(p50 / pct(nftMs, 50)).toFixed(2)}x); target p50 <= 150 ms: ${p50 <= 150 ? 'met' : 'NOT met'}\n`);
  } finally {
    cb.cleanup();
  }
}

await main();
