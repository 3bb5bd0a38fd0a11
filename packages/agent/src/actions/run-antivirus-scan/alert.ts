import { basename } from 'node:path';
import type { AgentDetection, AlertEvidence } from '@cordon/protocol';
import type { FileProcess } from '../../platform/types.js';
import type { Detection } from '../../scan/scanner.js';

/** How many processes an alert names as running a detected file (the evidence list holds 32 in all). */
const MAX_PROCESSES = 16;

/** A detection as the alert it raises: the threat, the file with its hashes and owner, and the processes running it. */
export function detectionAlert(d: Detection, scanType: string, owner: string | null, processes: FileProcess[], userOf: (uid: number) => string | null): AgentDetection {
  const member = d.path.includes('!') ? d.path : null;
  const onDisk = member ? d.path.slice(0, d.path.indexOf('!')) : d.path;
  const lines = [
    d.engine === 'YARA' ? `The ${d.source} rule ${d.threat} matched ${member ? `${member} (inside an archive)` : d.path}.` : `The file matches indicator ${d.source}: ${d.threat}.`,
    d.description,
    d.rules.length > 1 ? `Rules that matched: ${d.rules.join(', ')}.` : null,
    `File: ${onDisk}, ${d.size} bytes, owner ${owner ?? `uid ${d.uid}`}, modified ${d.mtime}.`,
    processes.length > 0 ? `Running: ${processes.map((p) => `pid ${p.pid} (${p.via === 'exe' ? 'runs it' : 'has it mapped'})`).join(', ')}.` : 'No running process uses it.',
    `Found by a ${scanType} antivirus scan.`,
  ].filter((l): l is string => Boolean(l));
  const file: AlertEvidence = {
    entityType: 'File',
    filePath: onDisk.slice(0, 4096),
    fileName: basename(member ?? onDisk).slice(0, 1024),
    ...(d.memberSha256 ? { sha256: d.memberSha256 } : { sha256: d.hashes.sha256, sha1: d.hashes.sha1, ...(d.hashes.md5 ? { md5: d.hashes.md5 } : {}) }),
    ...(owner ? { accountName: owner.slice(0, 256) } : {}),
    detectionStatus: 'Detected',
  };
  const running: AlertEvidence[] = processes.slice(0, MAX_PROCESSES).map((p) => {
    const user = userOf(p.uid);
    return { entityType: 'Process', processId: p.pid, processCommandLine: p.commandLine.slice(0, 8192), parentProcessId: p.ppid, ...(user ? { accountName: user.slice(0, 256) } : {}) };
  });
  return {
    title: `'${d.threat.slice(0, 200)}' ${d.category === 'Malware' ? 'malware' : 'threat'} was detected`,
    severity: d.severity,
    description: lines.join('\n').slice(0, 8000),
    category: d.category.slice(0, 128),
    detectionSource: 'Antivirus',
    threatName: d.threat.slice(0, 256),
    ...(d.mitre.length > 0 ? { mitreTechniques: d.mitre.slice(0, 32) } : {}),
    evidence: [file, ...running],
  };
}
