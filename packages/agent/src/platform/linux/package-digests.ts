import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * What the package databases say each installed file must contain, as exec-guard policy lines
 * (`md5 <hex> <path>` / `sha256 <hex> <path>`, see native/exec-guard.c). Lines hold the paths' raw
 * bytes as latin1 characters: write them with the 'latin1' encoding.
 */

/**
 * A package's path made the one the kernel names: packages list the path they shipped (`bin/true`),
 * the guard sees `/usr/bin/true` on a usrmerged system, so the directory part goes through realpath
 * (the file part not: it may itself be a symbolic link). A directory that is gone stays as listed.
 */
export function canonicalizer(): (path: string) => string {
  const dirs = new Map<string, string>();
  return (path) => {
    const dir = dirname(path);
    let real = dirs.get(dir);
    if (real === undefined) {
      try {
        real = realpathSync(dir);
      } catch {
        real = dir;
      }
      dirs.set(dir, real);
    }
    return `${real === '/' ? '' : real}/${path.slice(dir.length + 1)}`;
  };
}

/**
 * dpkg's md5sums as policy lines. Throws when the directory cannot be read; answers no lines when it
 * holds no md5sums (the caller decides what an empty database means). Files dpkg-divert moved are not followed.
 */
export function dpkgPolicyLines(infoDir = '/var/lib/dpkg/info'): string[] {
  const canonical = canonicalizer();
  const lines: string[] = [];
  for (const name of readdirSync(infoDir)) {
    if (!name.endsWith('.md5sums')) continue;
    for (const line of readFileSync(join(infoDir, name), 'latin1').split('\n')) {
      const m = /^([0-9a-f]{32}) {2}(.+)$/.exec(line);
      if (m) lines.push(`md5 ${m[1]!} ${canonical(`/${m[2]!}`)}`);
    }
  }
  return lines;
}

/** The query that lists every file rpm installed with its digest (`<hex> <path>`; directories have an empty digest). */
export const RPM_QUERY_ARGS = ['-qa', '--qf', '[%{FILEDIGESTS} %{FILENAMES}\\n]'];

/**
 * rpm's file digests (from {@link RPM_QUERY_ARGS}) as policy lines. rpm writes MD5 (old packages) or
 * SHA-256 per file; other algorithms (SHA-1, SHA-512) are not something the guard checks and are skipped.
 */
export function rpmPolicyLines(output: string): string[] {
  const canonical = canonicalizer();
  const lines: string[] = [];
  for (const line of output.split('\n')) {
    const m = /^([0-9a-f]{32}|[0-9a-f]{64}) (\/.+)$/.exec(line);
    if (m) lines.push(`${m[1]!.length === 32 ? 'md5' : 'sha256'} ${m[1]!} ${canonical(m[2]!)}`);
  }
  return lines;
}

/** rpm's policy lines, or null when rpm is not installed here. Throws when rpm is there but fails. */
export function readRpmPolicyLines(rpm = 'rpm'): Promise<string[] | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(rpm, RPM_QUERY_ARGS, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-512)));
    child.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? resolve(null) : reject(e)));
    child.on('close', (code, signal) => {
      if (code === 0) resolve(rpmPolicyLines(Buffer.concat(out).toString('latin1')));
      else reject(new Error(`rpm ${RPM_QUERY_ARGS.join(' ')}: ${code === null ? `killed by ${signal}` : `exit ${code}`}: ${stderr.trim()}`));
    });
  });
}
