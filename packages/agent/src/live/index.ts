/** Live response on the agent: the command interpreter and its commands, without transport. */
export { advancedCommands, basicCommands, liveCommands } from './commands/index.js';
export { CommandError, usageError } from './errors.js';
export { DEFAULT_COMMAND_TIMEOUT_MS, DEFAULT_CRON_ROOTS, DEFAULT_OUTPUT_BUDGET, LiveShell, resolvePath, type LiveShellOptions } from './session.js';
export type { CommandContext, CommandOutcome, JobControl, LiveCommand, LiveJob, LiveLevel, LiveResult, Remediation, RunContext, SessionSettings, SessionState } from './types.js';
