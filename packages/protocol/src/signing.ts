import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { CommandPayload, type SignedCommand } from './envelope.js';
import { ReleaseTokenClaims } from './isolation.js';

export function generateSigningKey(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** A short, stable name for a public key, so a rotated key is recognised. */
export function keyIdOf(publicKeyPem: string): string {
  const der = createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex').slice(0, 16);
}

/** Parsed public keys by PEM: an agent verifies every command (each live-response line) with the same one or two keys, and parsing a PEM costs more than the Ed25519 check. */
const publicKeys = new Map<string, KeyObject>();
export function publicKeyOf(publicKeyPem: string): KeyObject {
  let key = publicKeys.get(publicKeyPem);
  if (!key) {
    key = createPublicKey(publicKeyPem);
    // A handful of keys in any process (current and rotated); the bound only guards against misuse.
    if (publicKeys.size >= 16) publicKeys.clear();
    publicKeys.set(publicKeyPem, key);
  }
  return key;
}

/*
 * Commands are signed as the leaves of a Merkle tree: the server signs the root once (Ed25519) and
 * each command carries the sibling hashes from its leaf to the root. A single command is a tree of
 * one leaf (no proof); a bulk submission of 10,000 commands costs one signature instead of 10,000.
 * Leaves and inner nodes are hashed with different prefixes, so neither can pose as the other.
 */
const leafHash = (payload: string): Buffer => createHash('sha256').update(Buffer.from([0])).update(payload).digest();
const nodeHash = (left: Buffer, right: Buffer): Buffer => createHash('sha256').update(Buffer.from([1])).update(left).update(right).digest();
const rootMessage = (root: Buffer): Buffer => Buffer.from(`cordon-command-root/v1\n${root.toString('hex')}`);

export class CommandSigner {
  readonly #key: KeyObject;
  readonly keyId: string;
  constructor(privateKeyPem: string) {
    this.#key = createPrivateKey(privateKeyPem);
    this.keyId = keyIdOf(createPublicKey(this.#key).export({ type: 'spki', format: 'pem' }).toString());
  }

  sign(payload: CommandPayload): SignedCommand {
    return this.signMany([payload])[0]!;
  }

  /** Signs many commands with one signature over the root of their Merkle tree. */
  signMany(payloads: CommandPayload[]): SignedCommand[] {
    if (payloads.length === 0) return [];
    const texts = payloads.map((p) => JSON.stringify(CommandPayload.parse(p)));
    // levels[0] are the leaves; an odd node out is carried up unchanged.
    const levels: Buffer[][] = [texts.map(leafHash)];
    while (levels[levels.length - 1]!.length > 1) {
      const below = levels[levels.length - 1]!;
      const above: Buffer[] = [];
      for (let i = 0; i < below.length; i += 2) above.push(i + 1 < below.length ? nodeHash(below[i]!, below[i + 1]!) : below[i]!);
      levels.push(above);
    }
    const root = levels[levels.length - 1]![0]!;
    const signature = sign(null, rootMessage(root), this.#key).toString('base64');
    return texts.map((payload, leaf) => {
      const proof: string[] = [];
      let i = leaf;
      for (let l = 0; l < levels.length - 1; l++) {
        const level = levels[l]!;
        const sibling = i % 2 === 0 ? i + 1 : i - 1;
        if (sibling < level.length) proof.push(`${i % 2 === 0 ? 'r' : 'l'}${level[sibling]!.toString('hex')}`);
        i = Math.floor(i / 2);
      }
      return { payload, signature, keyId: this.keyId, ...(proof.length ? { proof } : {}) };
    });
  }

  /** A break-glass token: `crt1.<claims>.<signature>`, both base64url, verifiable offline by the device. */
  signReleaseToken(claims: ReleaseTokenClaims): string {
    const body = Buffer.from(JSON.stringify(ReleaseTokenClaims.parse(claims))).toString('base64url');
    return `crt1.${body}.${sign(null, releaseMessage(body), this.#key).toString('base64url')}`;
  }
}

const releaseMessage = (body: string): Buffer => Buffer.from(`cordon-release-token/v1\n${body}`);

/** Checks a break-glass token on the device: signature, then machine, then expiry. */
export function verifyReleaseToken(token: string, publicKeyPem: string, machineId: string, now: Date): { ok: true; claims: ReleaseTokenClaims } | { ok: false; reason: string } {
  const m = /^crt1\.([A-Za-z0-9_-]{1,2048})\.([A-Za-z0-9_-]{1,200})$/.exec(token.trim());
  if (!m) return { ok: false, reason: 'This is not a Cordon release token (they start with crt1.)' };
  let valid = false;
  try {
    valid = verify(null, releaseMessage(m[1]!), publicKeyOf(publicKeyPem), Buffer.from(m[2]!, 'base64url'));
  } catch {
    valid = false;
  }
  if (!valid) return { ok: false, reason: 'The token signature does not verify against the server key this device was enrolled with' };
  const claims = ReleaseTokenClaims.safeParse(JSON.parse(Buffer.from(m[1]!, 'base64url').toString('utf8')));
  if (!claims.success) return { ok: false, reason: 'The token is signed but its content is not a release token' };
  if (claims.data.machineId !== machineId) return { ok: false, reason: `The token is for machine ${claims.data.machineId}, not this one (${machineId})` };
  if (Date.parse(claims.data.expiresAt) <= now.getTime()) return { ok: false, reason: `The token expired at ${claims.data.expiresAt}` };
  return { ok: true, claims: claims.data };
}

/** Recomputes the signed root from a command and its proof; null if the proof is malformed. */
function rootOf(signed: SignedCommand): Buffer | null {
  let h = leafHash(signed.payload);
  for (const step of signed.proof ?? []) {
    const m = /^([lr])([0-9a-f]{64})$/.exec(step);
    if (!m) return null;
    const sibling = Buffer.from(m[2]!, 'hex');
    h = m[1] === 'l' ? nodeHash(sibling, h) : nodeHash(h, sibling);
  }
  return h;
}

export type VerifyOutcome =
  | { ok: true; command: CommandPayload }
  | { ok: false; reason: 'BadSignature' | 'WrongMachine' | 'Expired' | 'Malformed'; detail: string; actionId: string };

/**
 * Checks a command the way the agent must before running it: signature first (nothing unsigned
 * is even parsed), then the target machine, then the expiry.
 */
export function verifyCommand(signed: SignedCommand, publicKeyPem: string, machineId: string, now: Date): VerifyOutcome {
  const guessId = /"actionId":"([0-9a-f-]{36})"/.exec(signed.payload)?.[1] ?? 'unknown';
  let valid = false;
  try {
    const root = rootOf(signed);
    valid = root !== null && verify(null, rootMessage(root), publicKeyOf(publicKeyPem), Buffer.from(signed.signature, 'base64'));
  } catch {
    valid = false;
  }
  if (!valid) return { ok: false, reason: 'BadSignature', detail: 'The command signature does not verify against the server key', actionId: guessId };
  let command: CommandPayload;
  try {
    command = CommandPayload.parse(JSON.parse(signed.payload));
  } catch {
    return { ok: false, reason: 'Malformed', detail: 'The signed command is not a valid command', actionId: guessId };
  }
  if (command.machineId !== machineId) {
    return { ok: false, reason: 'WrongMachine', detail: `The command is for machine ${command.machineId}, not this one`, actionId: command.actionId };
  }
  if (Date.parse(command.expiresAt) <= now.getTime()) {
    return { ok: false, reason: 'Expired', detail: `The command expired at ${command.expiresAt}`, actionId: command.actionId };
  }
  return { ok: true, command };
}
