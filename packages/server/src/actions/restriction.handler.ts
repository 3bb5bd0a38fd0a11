import type { MachineRow } from '../repositories/machines.repository.js';
import type { ActionHandler } from './types.js';

/** Restrict and Unrestrict app execution: the device page offers the one that changes the device's state. */
export class RestrictionHandler implements ActionHandler {
  readonly types = ['RestrictCodeExecution', 'UnrestrictCodeExecution'] as const;

  engaged(type: string, machine: MachineRow): boolean {
    return type === 'RestrictCodeExecution' && machine.restriction_state === 'Restricted';
  }
}
