import { RESTRICTION_NOT_COVERED as PROTOCOL_LIST } from '@cordon/protocol';
import { describe, expect, it } from 'vitest';
import { RESTRICTION_NOT_COVERED } from './restriction';

describe('what a restriction does not cover', () => {
  it('says what the protocol says', () => {
    expect(RESTRICTION_NOT_COVERED).toEqual(PROTOCOL_LIST);
  });
});
