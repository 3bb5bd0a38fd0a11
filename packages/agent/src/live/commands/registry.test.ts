import { LIVE_COMMAND_LEVELS } from '@cordon/protocol';
import { describe, expect, it } from 'vitest';
import { advancedCommands, basicCommands, liveCommands } from './index.js';

/** Commands the protocol's level table names that the agent does not have: `library` is the server's to answer; the others are yet to come. */
const NOT_YET = ['library'];

describe('the command registry and the protocol level table', () => {
  it('every command the agent has is in the table at its level; basic and advanced lists hold what their names say', () => {
    const table = LIVE_COMMAND_LEVELS as Record<string, string>;
    for (const c of liveCommands) expect(table[c.name], c.name).toBe(c.level);
    for (const c of basicCommands) expect(c.level, c.name).toBe('basic');
    for (const c of advancedCommands) expect(c.level, c.name).toBe('advanced');
    expect(new Set(liveCommands.map((c) => c.name)).size).toBe(liveCommands.length);
  });

  it('every command in the table exists on the agent, except those not built yet (listed here, so building one updates this)', () => {
    const have = new Set(liveCommands.map((c) => c.name));
    const missing = Object.keys(LIVE_COMMAND_LEVELS).filter((n) => !have.has(n));
    expect(missing.sort()).toEqual([...NOT_YET].sort());
  });
});
