import { linuxPlatform } from './linux/index.js';
import type { Platform } from './types.js';

export type * from './types.js';
export { MissingToolError } from './errors.js';

/** The one place that picks the implementation for this OS: everything else sees only ./types.ts. */
export function currentPlatform(): Platform {
  switch (process.platform) {
    case 'linux':
      return linuxPlatform;
    default:
      throw new Error(`The Cordon agent does not support ${process.platform} yet`);
  }
}
