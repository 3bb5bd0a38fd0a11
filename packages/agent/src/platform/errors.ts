/**
 * A program the platform needs is not installed here (nft on a device without nftables): an
 * expected condition on some devices, not a bug. Logged as one line saying what to install,
 * without a stack trace.
 */
export class MissingToolError extends Error {
  override name = 'MissingToolError';
}
