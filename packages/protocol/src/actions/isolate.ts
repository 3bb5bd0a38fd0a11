import { z } from 'zod';
import { AllowList } from '../isolation.js';
import { defineAction } from './define.js';

export const IsolationType = z.enum(['Full', 'Selective']);

/** Cuts a device off the network except Cordon (and, Selective, what its policy allows). */
export const isolate = defineAction({
  type: 'Isolate',
  label: 'Isolate device',
  verbPhrase: 'isolate',
  path: 'isolate',
  body: { isolationType: IsolationType },
  /** `allow` is the selective policy in force for this device, resolved by the server at submission. */
  parameters: z.strictObject({ isolationType: IsolationType, allow: AllowList.optional() }),
  option: {
    field: 'isolationType',
    label: 'Isolation type',
    values: IsolationType.options,
    default: 'Full',
    item: '{value} isolation',
    isScope: true,
    describe: {
      Full: '{device} is cut off from every network connection except Cordon, so you can keep responding. Open connections are cut. Its users are notified.',
      Selective: '{device} is cut off from the network except Cordon and the destinations, programs and services its selective policy allows. Its users are notified.',
    },
  },
  capability: 'isolation',
  minAgentVersion: '0.2.0',
  exclusionKey: 'Isolation',
  permission: 'actions.submit',
  busy: 'An isolation of this device is already under way',
  destructive: true,
  icon: 'lock',
  barPosition: 70,
  cli: { verb: 'isolate', summary: 'isolate a machine from the network (it stays connected to Cordon)' },
});
