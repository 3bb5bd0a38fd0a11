import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { CommandPayload, type SignedCommand } from './envelope.js';

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

export class CommandSigner {
  readonly #key: KeyObject;
  readonly keyId: string;
  constructor(privateKeyPem: string) {
    this.#key = createPrivateKey(privateKeyPem);
    this.keyId = keyIdOf(createPublicKey(this.#key).export({ type: 'spki', format: 'pem' }).toString());
  }
  sign(payload: CommandPayload): SignedCommand {
    const text = JSON.stringify(CommandPayload.parse(payload));
    return { payload: text, signature: sign(null, Buffer.from(text), this.#key).toString('base64'), keyId: this.keyId };
  }
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
    valid = verify(null, Buffer.from(signed.payload), createPublicKey(publicKeyPem), Buffer.from(signed.signature, 'base64'));
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
