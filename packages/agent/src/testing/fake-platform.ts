import type { IndicatorRules, IsolationPlan, Platform, ScanScope } from '../platform/types.js';

/** A Platform whose firewall is a variable: for unit tests of code that drives the firewall. */
export function fakePlatform(over: { nft?: { ok: true; version: string } | { ok: false; reason: string }; applyFails?: string; scanScope?: ScanScope } = {}) {
  const firewall = {
    plan: null as IsolationPlan | null,
    applies: 0,
    removes: 0,
    checks: 0,
    async check() {
      firewall.checks++;
      return over.nft ?? { ok: true as const, version: '1.0.6' };
    },
    async apply(plan: IsolationPlan) {
      // Without a usable nft nothing can be applied, as on a real device.
      if (over.nft && !over.nft.ok) throw new Error(over.nft.reason);
      if (over.applyFails) throw new Error(over.applyFails);
      firewall.applies++;
      firewall.plan = plan;
    },
    async remove() {
      firewall.removes++;
      firewall.plan = null;
    },
    async active() {
      return firewall.plan !== null;
    },
  };
  /** The indicator table: its rules (null: none loaded) and the packet counts a test sets. */
  const indicatorFirewall = {
    rules: null as IndicatorRules | null,
    applies: 0,
    counts: new Map<string, number>(),
    async apply(rules: IndicatorRules) {
      if (rules.blocked.length === 0 && rules.watched.length === 0) return indicatorFirewall.remove();
      indicatorFirewall.applies++;
      indicatorFirewall.rules = rules;
      // Reloading the table starts its counters again, as nft does.
      indicatorFirewall.counts = new Map();
    },
    async remove() {
      indicatorFirewall.rules = null;
      indicatorFirewall.counts = new Map();
    },
    async active() {
      return indicatorFirewall.rules !== null;
    },
    async counts_() {
      return indicatorFirewall.counts;
    },
  };
  const notices: string[] = [];
  const platform: Platform = {
    describe: async () => ({ hostname: 'h', osPlatform: 'Linux', osVersion: 'x', osProcessor: 'x64', kernel: '6', ipAddresses: [] }),
    firewall,
    indicatorFirewall: { apply: indicatorFirewall.apply, remove: indicatorFirewall.remove, active: indicatorFirewall.active, counts: indicatorFirewall.counts_ },
    // Unit tests of the firewall's users neither run programs nor read files: saying so beats a silent real call.
    processes: {
      run: async () => Promise.reject(new Error('the fake platform runs no programs')),
      stream: () => {
        throw new Error('the fake platform runs no programs');
      },
      runStreamed: async () => Promise.reject(new Error('the fake platform runs no programs')),
    },
    files: () => {
      throw new Error('the fake platform reads no files');
    },
    resolvers: async () => ['10.0.0.53'],
    unitCgroup: async (unit) => (unit === 'sshd.service' ? { path: 'system.slice/sshd.service', level: 2 } : { error: `${unit} is not running` }),
    adoptPrograms: async () => ({ cgroup: { path: 'cordon-allowed', level: 1 }, processes: 1 }),
    releasePrograms: async () => undefined,
    notifyUsers: async (_t, m) => {
      notices.push(m);
      return { wall: 'delivered', desktop: [] };
    },
    // The scope a test gives (real temp directories), or nothing to scan.
    scanScope: async () => over.scanScope ?? { roots: [], skipped: [] },
    processesUsing: async () => new Map(),
    runningFiles: async () => [],
    killProcess: async () => 'gone',
    cpuMicros: () => 0,
  };
  return { platform, firewall, indicatorFirewall, notices };
}
