import { spawn } from 'node:child_process';
import { ActionParameters, RESTRICTION_NOT_COVERED } from '@cordon/protocol';
import { execGuardBinary } from '../../platform/linux/exec-guard-binary.js';
import type { ActionManifest } from '../types.js';

/**
 * Whether this device can restrict app execution: root, the guard compiled, and a kernel with
 * fanotify exec-permission events — asked of the kernel by the guard itself (`--check`: a kernel
 * config file may be missing or describe another kernel). Shared by Restrict and Unrestrict.
 */
export async function probeExecutionControl(guard = execGuardBinary(), uid = process.getuid?.()): Promise<{ provider?: string; unavailable?: string }> {
  if (uid !== 0) return { unavailable: 'The agent does not run as root (fanotify permission events need it)' };
  if (!guard.exists) return { unavailable: `The exec guard is not built (${guard.path} is missing: run node scripts/build.mjs on a machine with cc and libssl-dev)` };
  const check = supported.has(guard.path) ? ({ ok: true } as const) : await runCheck(guard.path);
  if (check.ok) supported.add(guard.path);
  return check.ok ? { provider: 'fanotify exec guard' } : { unavailable: `This kernel cannot check program starts: ${check.reason}` };
}

/**
 * Guards whose check said yes: the kernel's answer holds while the agent runs, and every inventory
 * asks (each start of a `--check` was a process beside the guard). A no is asked again: a check
 * killed on a loaded machine must not make the capability unavailable for good.
 */
const supported = new Set<string>();

function runCheck(path: string): Promise<{ ok: true } | { ok: false; reason: string }> {
  return new Promise((resolve) => {
    const child = spawn(path, ['--check'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-400)));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ ok: false, reason: e.message });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve(code === 0 ? { ok: true } : { ok: false, reason: stderr.trim() || (signal ? `the check was killed by ${signal}` : `the check exited ${code}`) });
    });
  });
}

/**
 * Only programs the package database vouches for (by content), Allowed SHA-256 indicators and
 * Cordon itself may start. Fails, nothing restricted, when the trust list cannot be built or the
 * guard does not report ready.
 */
export const restrictCodeExecution: ActionManifest<ReturnType<typeof ActionParameters.RestrictCodeExecution.parse>> = {
  type: 'RestrictCodeExecution',
  capabilityVersion: '1',
  platforms: ['linux'],
  parameters: ActionParameters.RestrictCodeExecution,
  // Reading the package database and hashing the runtime, then the guard's start.
  timeoutMs: 120_000,
  maxResultBytes: 16 * 1024,
  concurrency: 1,
  probe: () => probeExecutionControl(),
  async run(_params, ctx) {
    ctx.progress(10, 'building the trust list');
    const result = await ctx.modules.restriction.restrict(ctx.actionId);
    await ctx.sendInventory();
    return { restriction: result.restriction, notCovered: RESTRICTION_NOT_COVERED, trusted: result.trusted };
  },
};
