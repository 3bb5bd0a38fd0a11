import { z } from 'zod';

export const SignedCommand = z.strictObject({
  /** The exact JSON text that was signed; parsed only after the signature verifies. */
  payload: z.string().max(256 * 1024),
  /** Ed25519 signature (base64) over the Merkle root of the commands signed together. */
  signature: z.string().max(200),
  keyId: z.string().max(64),
  /** Sibling hashes from this command's leaf to the signed root ('l' or 'r' + hex); absent when signed alone. */
  proof: z.array(z.string().max(65)).max(64).optional(),
});
export type SignedCommand = z.infer<typeof SignedCommand>;
