import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readState, stateFile, writeState } from './enrollment-state.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cordon-enroll-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const STATE = { serverUrls: ['https://10.9.9.9:8443', 'https://10.9.9.10:8443'], machineId: 'a'.repeat(40), credential: 'x'.repeat(20), caCertPem: '-----BEGIN CERTIFICATE-----', signingPublicKeyPem: '-----BEGIN PUBLIC KEY-----', enrolledAt: '2026-01-01T00:00:00.000Z' };

describe('enrollment state', () => {
  it('writes a private file that reads back, and leaves no temp file behind', () => {
    const data = join(dir, 'data');
    writeState(data, STATE);
    expect(readState(data)).toEqual(STATE);
    expect(statSync(stateFile(data)).mode & 0o777).toBe(0o600);
    expect(readdirSync(data)).toEqual(['enrollment.json']);
    writeState(data, { ...STATE, credential: 'y'.repeat(20) });
    expect(readState(data)?.credential).toBe('y'.repeat(20));
  });

  it('reads a file written before several nodes (one serverUrl) as a list of one', () => {
    const { serverUrls: _, ...rest } = STATE;
    mkdirSync(join(dir, 'old'));
    writeFileSync(stateFile(join(dir, 'old')), JSON.stringify({ serverUrl: 'https://10.9.9.9:8443', ...rest }));
    expect(readState(join(dir, 'old'))).toEqual({ ...STATE, serverUrls: ['https://10.9.9.9:8443'] });
  });

  it('refuses a file without any server URL', () => {
    const { serverUrls: _, ...rest } = STATE;
    writeFileSync(stateFile(dir), JSON.stringify({ ...rest, serverUrls: [] }));
    expect(() => readState(dir)).toThrow(/damaged/);
  });

  it('answers null when not enrolled', () => {
    expect(readState(dir)).toBeNull();
  });
});
