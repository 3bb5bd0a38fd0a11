import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { keyIdOf } from '@cordon/protocol';

/** Where the chain stood at a moment, signed by the server's key, kept outside the database. */
export interface SignedCheckpoint {
  seq: number;
  hash: string;
  time: string;
  keyId: string;
  signature: string;
}

const message = (c: { seq: number; hash: string; time: string }): Buffer => Buffer.from(JSON.stringify(['cordon-audit-checkpoint/v1', c.seq, c.hash, c.time]));

/**
 * Signs and checks checkpoints with the server's signing key. Someone who can write to the
 * database but not read the data directory can rewrite the whole chain consistently, but cannot
 * sign a checkpoint for it: the chain then disagrees with the last checkpoint.
 */
export class CheckpointSigner {
  readonly #private: KeyObject;
  readonly #public: KeyObject;
  readonly keyId: string;

  constructor(privateKeyPem: string) {
    this.#private = createPrivateKey(privateKeyPem);
    this.#public = createPublicKey(this.#private);
    this.keyId = keyIdOf(this.#public.export({ type: 'spki', format: 'pem' }).toString());
  }

  sign(c: { seq: number; hash: string; time: string }): SignedCheckpoint {
    return { seq: c.seq, hash: c.hash, time: c.time, keyId: this.keyId, signature: sign(null, message(c), this.#private).toString('base64') };
  }

  verify(c: SignedCheckpoint): boolean {
    try {
      return c.keyId === this.keyId && verify(null, message(c), this.#public, Buffer.from(c.signature, 'base64'));
    } catch {
      return false;
    }
  }
}
