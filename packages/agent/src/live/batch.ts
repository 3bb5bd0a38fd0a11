import { batchParam, parseCommandLine, quoteWord, type LiveBatchCommand, type LiveBatchCommandResult, type LiveBatchResult } from '@cordon/protocol';
import type { LiveShell } from './session.js';
import type { LiveResult } from './types.js';

/** Script output a batch's result holds in all (the action result's budget is 1 MiB)... */
export const BATCH_OUTPUT_BUDGET = 768 * 1024;
/** ...and for one RunScript at most (stdout and stderr together)... */
export const SCRIPT_OUTPUT_MAX = 256 * 1024;
/** ...of which its stderr is given first, up to this much: errors are short and say the most. */
export const SCRIPT_ERRORS_MAX = 64 * 1024;

/** The first `max` characters of `text`, and whether that cut it. */
function capped(text: string, max: number): { text: string; cut: boolean } {
  return text.length > max ? { text: text.slice(0, max), cut: true } : { text, cut: false };
}

/** The shell line a batch command is: names and paths quoted, so nothing in them is read as syntax. */
export function batchLine(cmd: LiveBatchCommand): string | { error: string } {
  const need = (key: string): string | { error: string } => batchParam(cmd, key) ?? { error: `${cmd.type} needs its ${key} parameter` };
  if (cmd.type === 'GetFile') {
    const path = need('Path');
    return typeof path === 'string' ? `getfile ${quoteWord(path)}` : path;
  }
  if (cmd.type === 'PutFile') {
    const name = need('FileName');
    // MDE's PutFile replaces a file of that name in its downloads directory.
    return typeof name === 'string' ? `putfile ${quoteWord(name)} -overwrite` : name;
  }
  const name = need('ScriptName');
  if (typeof name !== 'string') return name;
  // Args is one string in MDE: split as a session line's words are, each then passed as it is.
  const args = parseCommandLine(batchParam(cmd, 'Args') ?? '');
  if ('error' in args) return { error: `Args: ${args.error}` };
  return ['run', '--', name, ...args].map((w, i) => (i < 2 ? w : quoteWord(w))).join(' ');
}

/** The reason a failed line gives: its output's last line (`<command>: <why>`). */
function errorOf(r: LiveResult): string {
  const lines = r.output.split('\n').filter((l) => l.trim() !== '');
  return lines.at(-1) ?? `exit status ${r.exitStatus}`;
}

/**
 * Runs MDE's `runliveresponse` batch in a live shell (advanced: the server let a responder submit
 * it), in order, in `workDir`: each command is the session command it names (getfile, putfile,
 * run), so it is checked and run exactly as typed in a session would be. The first command that
 * fails stops the batch; the ones after it are reported Canceled, never run. A GetFile's upload
 * names `batchId/<index + 1>`, which the server checks against the batch's signed commands.
 */
export async function runBatch(shell: LiveShell, batchId: string, commands: LiveBatchCommand[], workDir: string, signal: AbortSignal): Promise<LiveBatchResult> {
  const results: LiveBatchCommandResult[] = [];
  let outputLeft = BATCH_OUTPUT_BUDGET;
  let stopped: string | null = null;
  const cd = await shell.run(`cd ${quoteWord(workDir)}`, { signal });
  if (cd.exitStatus !== 0) stopped = `the batch's working directory could not be entered: ${errorOf(cd)}`;
  for (const [index, cmd] of commands.entries()) {
    if (stopped !== null || signal.aborted) {
      results.push({ index, status: 'Canceled', startTime: null, endTime: null, errors: [`Not run: ${stopped ?? 'the batch was stopped'}`] });
      continue;
    }
    const startTime = new Date().toISOString();
    const line = batchLine(cmd);
    const r: LiveResult = typeof line === 'string' ? await shell.run(line, { signal, line: { sessionId: batchId, seq: index + 1 }, ...(cmd.library ? { library: cmd.library } : {}) }) : { exitStatus: 2, output: `${line.error}\n` };
    const data = (r.data ?? null) as Record<string, unknown> | null;
    const base = { index, startTime, endTime: new Date().toISOString() };
    if (cmd.type === 'RunScript' && data && !data.signal && r.exitStatus !== 124 && r.exitStatus !== 130) {
      // A script that ran to its end completed, whatever its exit status (MDE gives it as exit_code).
      // Its streams apart, as MDE gives them: stdout as script_output, stderr as script_errors.
      const cap = Math.min(SCRIPT_OUTPUT_MAX, outputLeft);
      const errors = capped(r.streams?.stderr ?? '', Math.min(SCRIPT_ERRORS_MAX, cap));
      const output = capped(r.streams?.stdout ?? r.output, cap - errors.text.length);
      outputLeft -= output.text.length + errors.text.length;
      results.push({
        ...base,
        status: 'Completed',
        errors: [],
        exitCode: r.exitStatus,
        output: output.text,
        ...(output.cut || r.truncated ? { outputTruncated: true } : {}),
        errorOutput: errors.text,
        ...(errors.cut || r.truncated ? { errorOutputTruncated: true } : {}),
      });
    } else if (r.exitStatus === 0 && cmd.type === 'GetFile' && data) {
      results.push({ ...base, status: 'Completed', errors: [], getFile: { transferId: String(data.transferId), path: String(data.path), size: Number(data.size), sha256: String(data.sha256) } });
    } else if (r.exitStatus === 0 && cmd.type === 'PutFile' && data) {
      results.push({ ...base, status: 'Completed', errors: [], putFile: { path: String(data.path), size: Number(data.size), sha256: String(data.sha256) } });
    } else {
      const error = errorOf(r);
      results.push({ ...base, status: 'Failed', errors: [error] });
      stopped = `command ${index} (${cmd.type}) failed`;
    }
  }
  return { commands: results };
}
