import type { Inventory } from '@cordon/protocol';
import { linuxPlatform } from './linux/index.js';

/** What the agent asks of the operating system; one implementation per OS, chosen once here. */
export interface Platform {
  /** Describes the device: everything in an inventory except what the agent itself adds. */
  describe(): Promise<Omit<Inventory, 'agentVersion' | 'capabilities' | 'deviceTags'>>;
}

export function currentPlatform(): Platform {
  switch (process.platform) {
    case 'linux':
      return linuxPlatform;
    default:
      throw new Error(`The Cordon agent does not support ${process.platform} yet`);
  }
}
