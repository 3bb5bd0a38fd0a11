import { compareVersions, type ActionCatalog, type ActionSpec, type Capability, type Inventory } from '@cordon/protocol';

/** What decides whether a device's agent can run an action: its name, capabilities (JSON) and version. */
export interface AgentAbilities {
  computer_dns_name: string;
  capabilities: string;
  agent_version: string;
}

/**
 * Why this device's agent cannot run `spec` now, as people say it ("Run antivirus scan: this
 * device's agent cannot scan yet"), or null when it can. An old agent is named first: upgrading it
 * is the fix, whatever it reports.
 */
export function unsupportedReason(machine: AgentAbilities, spec: ActionSpec): string | null {
  if (compareVersions(machine.agent_version, spec.minAgentVersion) < 0) {
    return `${spec.label}: this device's agent (${machine.agent_version}) is too old; it needs ${spec.minAgentVersion} or later`;
  }
  const cap = (JSON.parse(machine.capabilities) as Capability[]).find((c) => c.name === spec.capability);
  if (!cap) return `${spec.label}: this device's agent cannot ${spec.verbPhrase ?? 'do this'} yet`;
  // The agent has the code but the device lacks what it needs (e.g. nft): say what, so it can be installed.
  if (cap.unavailable) return `${spec.label}: not available on ${machine.computer_dns_name}: ${cap.unavailable}`;
  return null;
}

/** Each catalog action this device's agent cannot run, with why; the rest it can. */
export function readinessOf(catalog: ActionCatalog, machine: AgentAbilities): { usable: string[]; unusable: { action: string; reason: string }[] } {
  const usable: string[] = [];
  const unusable: { action: string; reason: string }[] = [];
  for (const spec of catalog.actions) {
    const reason = unsupportedReason(machine, spec);
    if (reason === null) usable.push(spec.type);
    else unusable.push({ action: spec.type, reason });
  }
  return { usable, unusable };
}

/**
 * The usable actions as stored for `$filter` (`,Isolate,CollectInvestigationPackage,`): one text
 * column that LIKE can search the same way on SQLite and PostgreSQL. Types are letters only.
 */
export const storedUsableActions = (types: string[]): string => (types.length ? `,${types.join(',')},` : '');

/** The stored usable actions of a device that just reported `inv` (enrollment, hello, inventory). */
export const usableActionsOf = (catalog: ActionCatalog, inv: Inventory): string =>
  storedUsableActions(readinessOf(catalog, { computer_dns_name: inv.hostname, capabilities: JSON.stringify(inv.capabilities), agent_version: inv.agentVersion }).usable);
