import { describe, expect, it } from 'vitest';
import { parseOsRelease } from './index.js';

describe('parseOsRelease', () => {
  it('reads quoted and bare values and ignores comments', () => {
    const text = '# comment\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME=Debian\nVERSION_ID=\'12\'\nbad line\n';
    expect(parseOsRelease(text)).toEqual({ PRETTY_NAME: 'Debian GNU/Linux 12 (bookworm)', NAME: 'Debian', VERSION_ID: '12' });
  });
});
