import { createHash, type Hash } from 'node:crypto';

/** Uploads followed at once; abandoned ones leave entries behind, so past this all are forgotten. */
const MAX_FOLLOWED = 1000;

/**
 * The SHA-256 of each upload as its chunks are stored, so completing one needs no second read of
 * the whole file. Only this process's view: after a restart, or when another node stored a chunk,
 * the thread is lost and {@link take} answers undefined (the caller then reads the file).
 */
export class RunningHashes {
  readonly #byId = new Map<string, { hash: Hash; offset: number }>();

  /** Counts a chunk stored at `offset` (a chunk at 0 starts over). */
  stored(id: string, offset: number, chunk: Buffer): void {
    const running = offset === 0 ? { hash: createHash('sha256'), offset: 0 } : this.#byId.get(id);
    if (!running || running.offset !== offset) {
      this.#byId.delete(id);
      return;
    }
    if (this.#byId.size >= MAX_FOLLOWED && !this.#byId.has(id)) this.#byId.clear();
    running.hash.update(chunk);
    running.offset = offset + chunk.length;
    this.#byId.set(id, running);
  }

  /** The SHA-256 of the upload's first `size` bytes if all of them, and only they, were seen here; forgets it either way. */
  take(id: string, size: number): string | undefined {
    const running = this.#byId.get(id);
    this.#byId.delete(id);
    return running && running.offset === size ? running.hash.digest('hex') : undefined;
  }

  forget(id: string): void {
    this.#byId.delete(id);
  }
}

/** A chunk's SHA-256 against what the agent says it is (hex, any case). */
export function chunkMatches(chunk: Buffer, sha256: string): boolean {
  return createHash('sha256').update(chunk).digest('hex') === sha256.toLowerCase();
}
