import { describe, expect, it } from 'vitest';
import { hashPassword, verifyPassword } from './users.service.js';

describe('password hashes', () => {
  it('are scrypt at N = 32768 by default, and verify with the cost each one keeps', async () => {
    const strong = await hashPassword('correct horse battery');
    expect(strong).toMatch(/^scrypt\$32768\$8\$1\$/);
    const cheap = await hashPassword('correct horse battery', 1024);
    expect(cheap).toMatch(/^scrypt\$1024\$8\$1\$/);
    for (const stored of [strong, cheap]) {
      expect(await verifyPassword(stored, 'correct horse battery')).toBe(true);
      expect(await verifyPassword(stored, 'correct horse battery!')).toBe(false);
    }
  });
});
