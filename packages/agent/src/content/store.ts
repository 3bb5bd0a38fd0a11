import { createHash } from 'node:crypto';
import { closeSync, createReadStream, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { checkContent, ContentKind, ContentManifest, SignedManifest, verifyManifest, type ContentRefusal } from '@cordon/protocol';
import { writeFileDurable } from '../durable.js';

/** Where the store gets content from (the server, in production; a fake in tests). */
export interface ContentFetcher {
  /** The newest signed manifest the server publishes for kind + name. */
  manifest(kind: ContentKind, name: string): Promise<unknown>;
  /** The bundle's bytes from `offset` to its end. A cut connection ends early or throws. */
  bytes(manifest: ContentManifest, offset: number): AsyncIterable<Uint8Array>;
}

/** What an update did. A refusal or an interruption leaves the last good version in use. */
export type ContentUpdate =
  | { status: 'installed'; manifest: ContentManifest; resumedFrom: number }
  | { status: 'current'; manifest: ContentManifest }
  | { status: 'interrupted'; manifest: ContentManifest; received: number; detail: string }
  | { status: 'refused'; reason: ContentRefusal | 'NotNewer' | 'Unusable'; detail: string; kept: ContentManifest | null };

/**
 * Checks content of one kind before it is installed: answers why this agent cannot use it (rules
 * its engine cannot compile), or null. Refused content is never installed: the last good one stays.
 */
export type ContentCheck = (bytes: Buffer) => string | null;

/** Installed content, verified just now. */
export interface Content {
  manifest: ContentManifest;
  bytes: Buffer;
}

const Pointer = z.strictObject({ signed: SignedManifest, file: z.string().regex(/^v\d+\.bin$/) });
type Pointer = z.infer<typeof Pointer>;

/**
 * Signed content (indicators, rule packs, scripts) under `<dataDir>/content/<kind>/<name>/`:
 * `current.json` (the signed manifest in use and its file), `v<version>.bin`, and at most one
 * `.part` download. Nothing is installed or used that does not verify against the server's
 * signing key, and versions only go up; whatever goes wrong, the last good version stays.
 */
export class ContentStore {
  readonly #root: string;
  /** One update at a time per kind + name: two would write the same partial file. */
  readonly #busy = new Map<string, Promise<ContentUpdate>>();

  constructor(
    dataDir: string,
    private readonly signingPublicKeyPem: string,
    private readonly fetcher: ContentFetcher,
    private readonly checks: Partial<Record<ContentKind, ContentCheck>> = {},
  ) {
    this.#root = join(dataDir, 'content');
  }

  /** Fetches the newest version of kind + name if it is newer, resuming an interrupted download. */
  update(kind: ContentKind, name: string): Promise<ContentUpdate> {
    const key = `${kind}/${name}`;
    const running = this.#busy.get(key);
    if (running) return running;
    const run = this.#update(kind, name).finally(() => this.#busy.delete(key));
    this.#busy.set(key, run);
    return run;
  }

  /** The manifest of the version in use, as recorded (not re-verified; `load` verifies). */
  current(kind: ContentKind, name: string): ContentManifest | null {
    const p = this.#pointer(kind, name);
    const v = p && verifyManifest(p.signed, this.signingPublicKeyPem, { kind, name });
    return v && v.ok ? v.manifest : null;
  }

  /** The content in use, verified (signature, size, SHA-256) as it is read; null if there is none or it no longer verifies. */
  load(kind: ContentKind, name: string): Content | null {
    // An update may move the pointer and remove the old file between our two reads: read again then.
    for (let attempt = 0; attempt < 2; attempt++) {
      const p = this.#pointer(kind, name);
      if (!p) return null;
      const v = verifyManifest(p.signed, this.signingPublicKeyPem, { kind, name });
      if (!v.ok) return null;
      let bytes: Buffer;
      try {
        bytes = readFileSync(join(this.#dir(kind, name), p.file));
      } catch {
        continue;
      }
      return checkContent(v.manifest, { size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') }).ok ? { manifest: v.manifest, bytes } : null;
    }
    return null;
  }

  /**
   * The file of the content in use and its manifest, verified now (signature, then size and SHA-256
   * read as a stream: large content is never held in memory); null if there is none or it no
   * longer verifies. The path holds until the next update of kind + name replaces the version.
   */
  async verifiedFile(kind: ContentKind, name: string): Promise<{ manifest: ContentManifest; path: string } | null> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const p = this.#pointer(kind, name);
      if (!p) return null;
      const v = verifyManifest(p.signed, this.signingPublicKeyPem, { kind, name });
      if (!v.ok) return null;
      const path = join(this.#dir(kind, name), p.file);
      let actual: { size: number; sha256: string };
      try {
        actual = { size: statSync(path).size, sha256: await sha256File(path) };
      } catch {
        // An update moved the pointer and removed the old file meanwhile: read again.
        continue;
      }
      return checkContent(v.manifest, actual).ok ? { manifest: v.manifest, path } : null;
    }
    return null;
  }

  async #update(kind: ContentKind, name: string): Promise<ContentUpdate> {
    const kept = this.current(kind, name);
    const refuse = (reason: ContentRefusal | 'NotNewer' | 'Unusable', detail: string): ContentUpdate => ({ status: 'refused', reason, detail, kept });
    const signed = SignedManifest.safeParse(await this.fetcher.manifest(kind, name));
    if (!signed.success) return refuse('Malformed', 'The server sent something that is not a signed manifest');
    // The manifest is checked before a single byte is downloaded.
    const v = verifyManifest(signed.data, this.signingPublicKeyPem, { kind, name });
    if (!v.ok) return refuse(v.reason, v.detail);
    const m = v.manifest;
    if (kept && m.version === kept.version && m.sha256 === kept.sha256) return { status: 'current', manifest: m };
    if (kept && m.version <= kept.version) return refuse('NotNewer', `Version ${m.version} is not newer than version ${kept.version} in use`);

    const dir = this.#dir(kind, name);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // The partial file is named after the exact bundle, so bytes of another one are never resumed.
    const partName = `v${m.version}-${m.sha256.slice(0, 16)}.part`;
    const part = join(dir, partName);
    for (const f of readdirSync(dir)) if (f.endsWith('.part') && f !== partName) rmSync(join(dir, f), { force: true });
    let offset = existsSync(part) ? statSync(part).size : 0;
    if (offset > m.size) {
      rmSync(part, { force: true });
      offset = 0;
    }
    const resumedFrom = offset;
    if (offset < m.size) {
      const fd = openSync(part, 'a', 0o600);
      let cut: string | null = null;
      let oversize = false;
      try {
        for await (const chunk of this.fetcher.bytes(m, offset)) {
          if (offset + chunk.length > m.size) {
            oversize = true;
            break;
          }
          writeSync(fd, chunk);
          offset += chunk.length;
        }
      } catch (e) {
        cut = (e as Error).message || String(e);
      } finally {
        // What arrived is kept (durably) for the next attempt to resume from.
        fsyncSync(fd);
        closeSync(fd);
      }
      if (oversize) {
        rmSync(part, { force: true });
        return refuse('SizeMismatch', `The server sent more than the ${m.size} bytes the manifest says`);
      }
      if (offset < m.size) return { status: 'interrupted', manifest: m, received: offset, detail: cut ?? `The download ended after ${offset} of ${m.size} bytes` };
    }
    const check = checkContent(m, { size: statSync(part).size, sha256: await sha256File(part) });
    if (!check.ok) {
      // Not resumable: bad bytes somewhere in the file; the next attempt starts over.
      rmSync(part, { force: true });
      return refuse(check.reason, check.detail);
    }
    const unusable = this.checks[kind]?.(readFileSync(part));
    if (unusable) {
      rmSync(part, { force: true });
      return refuse('Unusable', unusable);
    }
    // The part file is the temp file: fsync'd above, renamed into place, then the pointer moves.
    const file = `v${m.version}.bin`;
    renameSync(part, join(dir, file));
    writeFileDurable(join(dir, 'current.json'), JSON.stringify({ signed: signed.data, file } satisfies Pointer));
    for (const f of readdirSync(dir)) if (/^v\d+\.bin$/.test(f) && f !== file) rmSync(join(dir, f), { force: true });
    return { status: 'installed', manifest: m, resumedFrom };
  }

  #dir(kind: ContentKind, name: string): string {
    // Kind and name become directories: only values a manifest may carry.
    if (!ContentKind.safeParse(kind).success) throw new Error(`${JSON.stringify(kind)} is not a content kind`);
    if (!ContentManifest.shape.name.safeParse(name).success) throw new Error(`${JSON.stringify(name)} is not a content name`);
    return join(this.#root, kind, name);
  }

  #pointer(kind: ContentKind, name: string): Pointer | null {
    const file = join(this.#dir(kind, name), 'current.json');
    try {
      const p = Pointer.safeParse(JSON.parse(readFileSync(file, 'utf8')));
      return p.success ? p.data : null;
    } catch {
      return null;
    }
  }
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
