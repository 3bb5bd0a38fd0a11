import { createWriteStream, type WriteStream } from 'node:fs';
import type { IndexedFile } from './scanner.js';

/** Lines written to the file at once: one write per file scanned costs the main thread more than the line. */
const BATCH = 512;

/** The index of what a scan read (JSON lines), for StopAndQuarantineFile; written in batches. */
export class ScanIndexWriter {
  readonly #out: WriteStream;
  #lines: string[] = [];

  constructor(path: string) {
    this.#out = createWriteStream(path, { mode: 0o600 });
  }

  add(f: IndexedFile): void {
    this.#lines.push(JSON.stringify(f));
    if (this.#lines.length >= BATCH) this.#flush();
  }

  end(): Promise<void> {
    this.#flush();
    return new Promise((resolve, reject) => this.#out.once('error', reject).end(resolve));
  }

  #flush(): void {
    if (this.#lines.length === 0) return;
    this.#out.write(`${this.#lines.join('\n')}\n`);
    this.#lines = [];
  }
}
