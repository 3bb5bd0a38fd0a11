import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { ContentName, ContentVersion } from './content-kind.js';

/**
 * A live-response library file's name (MDE's `fileName`): it is what `putfile` writes and `run`
 * runs on a device, so only a plain file name: no separators, no leading dot.
 */
export const LibraryFileName = z.string().regex(/^(?!\.)[A-Za-z0-9._-]{1,128}$/, "must be 1-128 letters, digits, '.', '_' or '-', not starting with '.'");

/**
 * The signed content (kind `script`) that carries a library file to devices: one stable name per
 * file name, each upload of the name its next version.
 */
export function libraryContentName(fileName: string): string {
  return `lib-${createHash('sha256').update(fileName).digest('hex').slice(0, 24)}`;
}

/** What a device is told to fetch for a library file: the exact version, checked on arrival. */
export const LibraryFileRef = z.strictObject({
  fileName: LibraryFileName,
  contentName: ContentName,
  version: ContentVersion,
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});
export type LibraryFileRef = z.infer<typeof LibraryFileRef>;

/**
 * An Ed25519 public key from PEM (`-----BEGIN PUBLIC KEY-----`) or base64 SPKI DER (the PEM's body
 * on one line); throws an Error saying what is wrong.
 */
export function parseEd25519PublicKey(text: string): KeyObject {
  const t = text.trim();
  let key: KeyObject;
  try {
    key = t.startsWith('-----BEGIN') ? createPublicKey(t) : createPublicKey({ key: Buffer.from(strictBase64(t), 'base64'), format: 'der', type: 'spki' });
  } catch (e) {
    throw new Error(`is not a public key in PEM or base64 SPKI DER (${(e as Error).message.replace(/^error:[^:]*:/, '').slice(0, 120)})`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`is a ${key.asymmetricKeyType ?? 'unknown'} key; library signing keys are Ed25519`);
  return key;
}

/** A public key's fingerprint: the first 16 hex of the SHA-256 of its SPKI DER (as command key ids). */
export function publicKeyFingerprint(key: KeyObject): string {
  return createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

function strictBase64(text: string): string {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) throw new Error('not base64');
  return text;
}
