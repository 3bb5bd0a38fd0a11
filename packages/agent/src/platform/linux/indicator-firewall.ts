import { run } from './exec.js';
import { loadRuleset } from './firewall.js';
import type { IndicatorFirewall, IndicatorRules } from '../types.js';
import { buildIndicatorRuleset, INDICATOR_TABLE, parseIndicatorCounts } from './indicator-ruleset.js';

/** Indicator enforcement with nftables, in its own table (see indicator-ruleset.ts). */
export class NftIndicatorFirewall implements IndicatorFirewall {
  constructor(private readonly nft = 'nft') {}

  async apply(rules: IndicatorRules): Promise<void> {
    if (rules.blocked.length === 0 && rules.watched.length === 0) return this.remove();
    await loadRuleset(this.nft, buildIndicatorRuleset(rules));
  }

  async remove(): Promise<void> {
    await loadRuleset(this.nft, `table inet ${INDICATOR_TABLE} {}\ndelete table inet ${INDICATOR_TABLE}\n`);
  }

  async active(): Promise<boolean> {
    return (await run(this.nft, ['list', 'table', 'inet', INDICATOR_TABLE], { timeoutMs: 5000 })).code === 0;
  }

  async counts(): Promise<Map<string, number>> {
    const r = await run(this.nft, ['-j', 'list', 'table', 'inet', INDICATOR_TABLE], { timeoutMs: 5000 });
    return r.code === 0 ? parseIndicatorCounts(r.stdout) : new Map();
  }
}
