import { describe, expect, it } from 'vitest';
import { ContentSigner, verifyContent, type SignedManifest } from './content.js';
import { CommandSigner, generateSigningKey, verifyCommand } from './signing.js';

const keys = generateSigningKey();
const signer = new ContentSigner(keys.privateKeyPem);
const bytes = Buffer.from('rule demo { condition: true }\n');
const NOW = new Date('2026-11-25T10:00:00Z');

describe('signed content', () => {
  it('verifies a bundle signed with the server key, under the key id commands carry', () => {
    const signed = signer.publish('rulepack', 'base', 3, bytes, NOW);
    expect(signed.keyId).toBe(new CommandSigner(keys.privateKeyPem).keyId);
    expect(verifyContent(signed, bytes, keys.publicKeyPem, { kind: 'rulepack', name: 'base' })).toMatchObject({ ok: true, manifest: { kind: 'rulepack', name: 'base', version: 3, size: bytes.length } });
  });

  it('refuses changed bytes, a changed manifest, another key, and other content, each with its reason', () => {
    const signed = signer.publish('rulepack', 'base', 3, bytes, NOW);
    const flipped = Buffer.from(bytes);
    flipped[5]! ^= 1;
    const other = new ContentSigner(generateSigningKey().privateKeyPem).publish('rulepack', 'base', 3, bytes, NOW);
    const cases: [string, SignedManifest, Buffer, string][] = [
      ['changed byte', signed, flipped, 'DigestMismatch'],
      ['extra byte', signed, Buffer.concat([bytes, Buffer.from('x')]), 'SizeMismatch'],
      ['changed manifest', { ...signed, manifest: signed.manifest.replace('"version":3', '"version":4') }, bytes, 'BadSignature'],
      ['wrong key', other, bytes, 'BadSignature'],
      ['garbage signature', { ...signed, signature: '!!' }, bytes, 'BadSignature'],
      ['other kind', signer.publish('script', 'base', 3, bytes, NOW), bytes, 'WrongContent'],
      ['other name', signer.publish('rulepack', 'extra', 3, bytes, NOW), bytes, 'WrongContent'],
    ];
    for (const [label, s, b, reason] of cases) expect(verifyContent(s, b, keys.publicKeyPem, { kind: 'rulepack', name: 'base' }), label).toMatchObject({ ok: false, reason });
  });

  it('keeps content signatures and command signatures apart (domain separation)', () => {
    const signed = signer.publish('script', 'collect', 1, bytes, NOW);
    // A content signature presented as a command does not verify, whatever the payload says.
    expect(verifyCommand({ payload: signed.manifest, signature: signed.signature, keyId: signed.keyId }, keys.publicKeyPem, 'a'.repeat(40), NOW)).toMatchObject({ ok: false, reason: 'BadSignature' });
  });
});
