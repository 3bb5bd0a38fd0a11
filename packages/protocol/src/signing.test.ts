import { describe, expect, it } from 'vitest';
import { CommandSigner, generateSigningKey, verifyCommand, type CommandPayload } from './index.js';

const keys = generateSigningKey();
const signer = new CommandSigner(keys.privateKeyPem);
const NOW = new Date('2026-11-25T10:00:00Z');
const machine = (i: number) => i.toString(16).padStart(40, '0');
const payload = (i: number): CommandPayload => ({
  actionId: `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`,
  machineId: machine(i),
  type: 'RefreshInventory',
  parameters: {},
  issuedAt: '2026-11-25T09:00:00.000Z',
  expiresAt: '2026-11-26T09:00:00.000Z',
});

describe('command signing', () => {
  it('verifies every command of batches of any size, each only for its own machine', () => {
    for (const n of [1, 2, 3, 5, 8, 13, 100]) {
      const signed = signer.signMany(Array.from({ length: n }, (_, i) => payload(i)));
      expect(new Set(signed.map((s) => s.signature)).size).toBe(1);
      signed.forEach((s, i) => {
        expect(verifyCommand(s, keys.publicKeyPem, machine(i), NOW), `n=${n} i=${i}`).toMatchObject({ ok: true });
        if (n > 1) expect(verifyCommand(s, keys.publicKeyPem, machine((i + 1) % n), NOW)).toMatchObject({ ok: false, reason: 'WrongMachine' });
      });
    }
  });

  it('rejects a payload swapped, a proof altered, truncated or extended, and another key', () => {
    const [a, b, c] = signer.signMany([payload(0), payload(1), payload(2)]);
    const bad = [
      { ...a!, payload: b!.payload },
      { ...a!, payload: a!.payload.replace('RefreshInventory', 'Offboard') },
      { ...a!, proof: a!.proof!.slice(1) },
      { ...a!, proof: [...a!.proof!, `r${'0'.repeat(64)}`] },
      { ...a!, proof: a!.proof!.map((p) => (p[0] === 'l' ? `r${p.slice(1)}` : `l${p.slice(1)}`)) },
      { ...a!, proof: ['x'] },
      { ...c!, proof: undefined },
      { ...new CommandSigner(generateSigningKey().privateKeyPem).sign(payload(0)) },
    ];
    for (const s of bad) expect(verifyCommand(s, keys.publicKeyPem, machine(0), NOW)).toMatchObject({ ok: false, reason: 'BadSignature' });
  });

  it('refuses expired commands after the signature checks out', () => {
    expect(verifyCommand(signer.sign(payload(0)), keys.publicKeyPem, machine(0), new Date('2026-11-27T00:00:00Z'))).toMatchObject({ ok: false, reason: 'Expired' });
  });
});
