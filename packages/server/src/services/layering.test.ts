import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// Habit 2: services hold the rules; repositories hold SQL, and only the store seam (db/) knows the
// engine; files and processes are reached through their own seams (storage/, the gateway). A service
// that imports the query builder, the schema, a driver, fs or child_process fails here.
const dirs = [import.meta.dirname, join(import.meta.dirname, '..', 'actions')];
const FORBIDDEN = [/from 'kysely'/, /from 'better-sqlite3'/, /from 'pg'/, /from '\.\.\/db\//, /from 'node:child_process'/, /from 'node:fs/];

describe('services', () => {
  it('never import the store engine, its schema or a driver (nor do action handlers)', () => {
    const offenders: string[] = [];
    for (const dir of dirs) {
      for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))) {
        const text = readFileSync(join(dir, file), 'utf8');
        for (const re of FORBIDDEN) if (re.test(text)) offenders.push(`${file}: ${re.source}`);
      }
    }
    expect(offenders).toEqual([]);
  });
});
