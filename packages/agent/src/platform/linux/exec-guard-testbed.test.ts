import { describe, expect, it } from 'vitest';
import { runProgram } from './exec-guard-testbed.js';

describe('runProgram', () => {
  it('answers the exit status of a program that exits without reading its input (no EPIPE error)', async () => {
    // 4 MiB is more than a pipe holds: the write is still going when `true` exits and the pipe closes.
    expect(await runProgram('true', [], { input: 'x'.repeat(4 * 1024 * 1024) })).toMatchObject({ code: 0 });
  });
});
