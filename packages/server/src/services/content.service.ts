import type { Readable } from 'node:stream';
import { ContentKind, ContentManifest, MAX_CONTENT_BYTES, sha256Hex, SignedManifest, type ContentSigner } from '@cordon/protocol';
import type { Clock } from '../clock.js';
import { BadRequestError, markAudited } from '../errors.js';
import type { ContentRepository, ContentRow } from '../repositories/content.repository.js';
import type { ContentFiles, StagedFile } from '../storage/content-files.js';
import type { AuditService } from './audit.service.js';

/** One published version: its manifest (as signed) and what agents are sent. */
export interface PublishedContent {
  manifest: ContentManifest;
  signed: SignedManifest;
}

/** A published version's bytes, for the gateway to send (whole or from an offset). */
export interface ContentBytes {
  size: number;
  read(start: number): Readable;
}

const fileOf = (version: number): string => `v${version}.bin`;

const published = (r: ContentRow): PublishedContent => {
  const signed = SignedManifest.parse(JSON.parse(r.signed_manifest));
  return { signed, manifest: ContentManifest.parse(JSON.parse(signed.manifest)) };
};

/**
 * Signed content (indicators, rule packs, scripts) that agents fetch: each publication of kind +
 * name becomes the next version, its bytes kept durably in the file store and its manifest signed
 * with the server's signing key, so a device checks everything it installs against the key it
 * enrolled with. Versions only grow (a device refuses to go back).
 */
export class ContentService {
  readonly #listeners: ((manifest: ContentManifest) => void)[] = [];

  constructor(
    private readonly repo: ContentRepository,
    private readonly files: ContentFiles,
    private readonly audit: AuditService,
    private readonly signer: ContentSigner,
    private readonly now: Clock,
  ) {}

  /**
   * Publishes `bytes` as the next version of kind + name on behalf of `actor`. Kind, name and size
   * are checked before anything is written; the bytes are durable before the version is recorded.
   */
  async publish(kind: string, name: string, bytes: Buffer, actor: string, comment: string | null = null): Promise<PublishedContent> {
    await this.#check(kind, name, bytes.length, actor, comment);
    const staged = await this.files.stage(bytes);
    return this.publishStaged(kind, name, { id: staged, sha256: sha256Hex(bytes), size: bytes.length }, actor, comment);
  }

  /**
   * Writes a stream to the staging area (hashed as it is written, never held whole in memory) for
   * `publishStaged`; more than `maxBytes` (at most MAX_CONTENT_BYTES) stops it: StagedTooLargeError.
   */
  stage(source: AsyncIterable<Uint8Array>, maxBytes: number): Promise<StagedFile> {
    return this.files.stageStream(source, Math.min(maxBytes, MAX_CONTENT_BYTES));
  }

  /** A staged file's bytes, whole: for a check that needs them at once (an Ed25519 signature). */
  stagedBytes(staged: StagedFile): Promise<Buffer> {
    return this.files.readStaged(staged.id);
  }

  /** Removes a staged file that will not be published. */
  async discard(staged: StagedFile): Promise<void> {
    await this.files.discard(staged.id).catch(() => undefined);
  }

  /**
   * Publishes a staged file as the next version of kind + name (see `publish`); the staged file is
   * moved into place, or removed if publishing fails.
   */
  async publishStaged(kind: string, name: string, staged: StagedFile, actor: string, comment: string | null = null): Promise<PublishedContent> {
    try {
      const k = await this.#check(kind, name, staged.size, actor, comment);
      const row = await this.repo.insertNext(
        k,
        name,
        (version) => {
          const createdAt = this.now().toISOString();
          const signed = this.signer.sign({ kind: k, name, version, createdAt, sha256: staged.sha256, size: staged.size });
          return {
            row: { kind: k, name, version, created_at: createdAt, sha256: staged.sha256, size: staged.size, signed_manifest: JSON.stringify(signed), file: fileOf(version) },
            audit: this.audit.row({ actor, action: 'PublishContent', targetType: 'content', targetId: `${k}/${name}`, comment, outcome: 'Succeeded', detail: { version, sha256: staged.sha256, size: staged.size } }, createdAt),
          };
        },
        (r) => this.files.place(staged.id, k, name, r.file),
      );
      const done = published(row);
      for (const listener of this.#listeners) listener(done.manifest);
      return done;
    } catch (e) {
      await this.discard(staged);
      throw e;
    }
  }

  /** Kind, name and size checked (a refusal audited); answers the kind. */
  async #check(kind: string, name: string, size: number, actor: string, comment: string | null): Promise<ContentKind> {
    const refused = async (message: string, target: string) => {
      await this.audit.record({ actor, action: 'PublishContent', targetType: 'content', targetId: `${String(kind)}/${String(name)}`.slice(0, 200), comment, outcome: 'Refused', detail: { reason: message } });
      return markAudited(new BadRequestError(message, target, 'InvalidInput'));
    };
    const k = ContentKind.safeParse(kind);
    if (!k.success) throw await refused(`${JSON.stringify(kind)} is not a content kind; use one of ${ContentKind.options.join(', ')}`, 'kind');
    if (!ContentManifest.shape.name.safeParse(name).success) throw await refused(`${JSON.stringify(name)} is not a content name: 1-64 letters, digits, '_' or '-', starting with a letter or digit`, 'name');
    if (size > MAX_CONTENT_BYTES) throw await refused(`Content may be at most ${MAX_CONTENT_BYTES} bytes; this is ${size}`, 'body');
    return k.data;
  }

  /** Tells `listener` of every version published (once committed): the server tells agents with it. */
  onPublished(listener: (manifest: ContentManifest) => void): void {
    this.#listeners.push(listener);
  }

  /** The newest version of kind + name, or null when none was published (or kind/name is not valid). */
  async latest(kind: string, name: string): Promise<PublishedContent | null> {
    if (!valid(kind, name)) return null;
    const row = await this.repo.latest(kind, name);
    return row ? published(row) : null;
  }

  /** The bytes of one published version, or null when there is no such version. */
  async bytes(kind: string, name: string, version: number): Promise<ContentBytes | null> {
    if (!valid(kind, name) || !Number.isSafeInteger(version) || version < 1) return null;
    const row = await this.repo.get(kind, name, version);
    if (!row) return null;
    return { size: Number(row.size), read: (start) => this.files.read(row.kind, row.name, row.file, start) };
  }
}

/** Whether kind and name are values a manifest may carry (and so may become paths). */
export function valid(kind: string, name: string): boolean {
  return ContentKind.safeParse(kind).success && ContentManifest.shape.name.safeParse(name).success;
}
