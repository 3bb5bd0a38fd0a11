import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { ContentKind, ContentName, ContentVersion } from './content-kind.js';
import { keyIdOf, publicKeyOf } from './signing.js';

/**
 * Largest content bundle the server may publish (and an agent will download): a live-response
 * library file may be this large. Both ends stream it through disk (the server stages, serves and
 * hashes from a file; the agent's store writes and hashes as it downloads), so its size costs disk,
 * not memory. An agent reads whole only the kinds it loads to use (indicators, rule packs), never scripts.
 */
export const MAX_CONTENT_BYTES = 512 * 1024 * 1024;

export { ContentKind } from './content-kind.js';

/** What the server signs about one version of a piece of content; the bytes are checked against it. */
export const ContentManifest = z.strictObject({
  kind: ContentKind,
  name: ContentName,
  version: ContentVersion,
  createdAt: z.iso.datetime(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.number().int().nonnegative().max(MAX_CONTENT_BYTES),
});
export type ContentManifest = z.infer<typeof ContentManifest>;

export const SignedManifest = z.strictObject({
  /** The exact JSON text that was signed; parsed only after the signature verifies. */
  manifest: z.string().max(4096),
  /** Ed25519 signature (base64) by the server's signing key, the one commands are signed with. */
  signature: z.string().max(200),
  keyId: z.string().max(64),
});
export type SignedManifest = z.infer<typeof SignedManifest>;

export type ContentRefusal = 'BadSignature' | 'Malformed' | 'WrongContent' | 'SizeMismatch' | 'DigestMismatch';

/** The outcome of checking content: the manifest, or why the content must not be used. */
export type ContentOutcome = { ok: true; manifest: ContentManifest } | { ok: false; reason: ContentRefusal; detail: string };

// Its own prefix: a content signature can never pass for a command root or a release token, nor the reverse.
const manifestMessage = (text: string): Buffer => Buffer.from(`cordon-content-manifest/v1\n${text}`);

/** Signs content manifests with the server's signing key (the key commands are signed with). */
export class ContentSigner {
  readonly #key: KeyObject;
  readonly keyId: string;
  constructor(privateKeyPem: string) {
    this.#key = createPrivateKey(privateKeyPem);
    this.keyId = keyIdOf(createPublicKey(this.#key).export({ type: 'spki', format: 'pem' }).toString());
  }

  sign(manifest: ContentManifest): SignedManifest {
    const text = JSON.stringify(ContentManifest.parse(manifest));
    return { manifest: text, signature: sign(null, manifestMessage(text), this.#key).toString('base64'), keyId: this.keyId };
  }

  /** The manifest of `bytes` as version `version` of kind + name, signed. */
  publish(kind: ContentKind, name: string, version: number, bytes: Uint8Array, createdAt: Date): SignedManifest {
    return this.sign({ kind, name, version, createdAt: createdAt.toISOString(), sha256: sha256Hex(bytes), size: bytes.length });
  }
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Checks a signed manifest before any byte is fetched: signature first (nothing unsigned is even
 * parsed), then that it is the content that was asked for.
 */
export function verifyManifest(signed: SignedManifest, publicKeyPem: string, expected: { kind: ContentKind; name?: string }): ContentOutcome {
  let valid = false;
  try {
    valid = verify(null, manifestMessage(signed.manifest), publicKeyOf(publicKeyPem), Buffer.from(signed.signature, 'base64'));
  } catch {
    valid = false;
  }
  if (!valid) return { ok: false, reason: 'BadSignature', detail: 'The content manifest signature does not verify against the server key' };
  let manifest: ContentManifest;
  try {
    manifest = ContentManifest.parse(JSON.parse(signed.manifest));
  } catch {
    return { ok: false, reason: 'Malformed', detail: 'The signed manifest is not a content manifest' };
  }
  if (manifest.kind !== expected.kind || (expected.name !== undefined && manifest.name !== expected.name)) {
    return { ok: false, reason: 'WrongContent', detail: `Expected ${expected.kind} ${expected.name ?? ''}`.trimEnd() + `, got ${manifest.kind} ${manifest.name}` };
  }
  return { ok: true, manifest };
}

/** Checks bytes (their size and SHA-256, however they were read) against a verified manifest. */
export function checkContent(manifest: ContentManifest, actual: { size: number; sha256: string }): ContentOutcome {
  if (actual.size !== manifest.size) return { ok: false, reason: 'SizeMismatch', detail: `The content is ${actual.size} bytes; its manifest says ${manifest.size}` };
  if (actual.sha256 !== manifest.sha256) return { ok: false, reason: 'DigestMismatch', detail: `The content's SHA-256 is ${actual.sha256}; its manifest says ${manifest.sha256}` };
  return { ok: true, manifest };
}

/** Checks a whole bundle in memory: the manifest (signature, kind, name), then the bytes against it. */
export function verifyContent(signed: SignedManifest, bytes: Uint8Array, publicKeyPem: string, expected: { kind: ContentKind; name?: string }): ContentOutcome {
  const m = verifyManifest(signed, publicKeyPem, expected);
  return m.ok ? checkContent(m.manifest, { size: bytes.length, sha256: sha256Hex(bytes) }) : m;
}
