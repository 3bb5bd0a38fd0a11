/** Live response on the agent: the command interpreter and its commands, without transport. */
export { basicCommands } from './commands/index.js';
export { CommandError, usageError } from './errors.js';
export { DEFAULT_COMMAND_TIMEOUT_MS, DEFAULT_OUTPUT_BUDGET, LiveShell, resolvePath, type LiveJob, type LiveShellOptions } from './session.js';
export type { CommandContext, CommandOutcome, LiveCommand, LiveLevel, LiveResult, RunContext, SessionState } from './types.js';
