import { describe, expect, it } from 'vitest';
import { CliError } from '../context.js';
import { oneOf } from './actions.js';

describe('--status and --type', () => {
  const statuses = ['Pending', 'InProgress', 'Succeeded', 'Failed', 'TimeOut', 'Cancelled'];
  it.each([
    ['failed', 'Failed'],
    ['FAILED', 'Failed'],
    ['inprogress', 'InProgress'],
    ['TimeOut', 'TimeOut'],
  ])('takes %s in any case as %s', (given, canonical) => expect(oneOf('--status', given, statuses)).toBe(canonical));

  it('refuses what is none of them, naming the choices', () => {
    expect(() => oneOf('--status', 'Bogus', statuses)).toThrow(CliError);
    expect(() => oneOf('--status', 'Bogus', statuses)).toThrow('--status must be one of Pending, InProgress, Succeeded, Failed, TimeOut, Cancelled (any case); not Bogus');
  });
});
