import { verify, type KeyObject } from 'node:crypto';
import { LibraryFileName, libraryContentName, parseEd25519PublicKey, publicKeyFingerprint } from '@cordon/protocol';
import type { LibraryFileView } from '../api/schemas.js';
import type { Principal } from '../auth/permissions.js';
import type { Clock } from '../clock.js';
import { BadRequestError, InsufficientStorageError, NotFoundError, PayloadTooLargeError } from '../errors.js';
import type { LibraryFileRow, LibraryRepository } from '../repositories/library.repository.js';
import type { Transactor } from '../repositories/transactor.js';
import { StagedTooLargeError, type StagedFile } from '../storage/content-files.js';
import { StorageFullError } from '../storage/file-store.js';
import type { AuditService } from './audit.service.js';
import type { ContentService } from './content.service.js';
import type { Locks } from './counters.js';

/** What an upload says besides its bytes (MDE's form fields, and Cordon's Signature and Comment). */
export interface LibraryUpload {
  /** The File part's file name. */
  fileName: string;
  description?: string | null;
  parametersDescription?: string | null;
  hasParameters?: boolean;
  overrideIfExists?: boolean;
  /** Base64 Ed25519 signature of the file's bytes. */
  signature?: string | null;
  comment?: string | null;
}

export interface LibraryOptions {
  /** Refuse an upload without a valid signature by a trusted key. */
  requireSignature: boolean;
  /** Ed25519 public keys (PEM or base64 SPKI DER) whose signatures are accepted. */
  trustedKeys: readonly string[];
  /** Largest file taken. */
  maxFileBytes: number;
}

/** The signature is missing, malformed, or not by a trusted key: 400 InvalidSignature, nothing stored. */
export class InvalidSignatureError extends BadRequestError {
  constructor(why: string) {
    super(`Signature: ${why}`, 'Signature', 'InvalidSignature');
  }
}

const SIGNATURE = /^[A-Za-z0-9+/]{86}==$/;

/**
 * The live-response library (MDE's library files): scripts and tools that responders put on a
 * device and run there. Admins upload them by name; the bytes become signed content (kind
 * `script`, a stable content name per file name, each upload its next version) that agents fetch
 * and check against the server key before use. When the server is told to, an upload must carry
 * an Ed25519 signature of its bytes by a key the server trusts; a signature that is sent is always
 * checked, required or not.
 */
export class LibraryService {
  readonly #trusted: { key: KeyObject; fingerprint: string }[];

  constructor(
    private readonly repo: LibraryRepository,
    private readonly tx: Transactor,
    private readonly audit: AuditService,
    private readonly content: ContentService,
    private readonly locks: Locks,
    private readonly now: Clock,
    private readonly opts: LibraryOptions,
  ) {
    this.#trusted = opts.trustedKeys.map((text) => {
      const key = parseEd25519PublicKey(text);
      return { key, fingerprint: publicKeyFingerprint(key) };
    });
  }

  /** Largest file an upload may carry. */
  get maxFileBytes(): number {
    return this.opts.maxFileBytes;
  }

  async list(): Promise<LibraryFileView[]> {
    return (await this.repo.list()).map(view);
  }

  async get(fileName: string): Promise<LibraryFileView> {
    const row = await this.repo.get(fileName);
    if (!row) throw new NotFoundError('Library file', fileName.slice(0, 128));
    return view(row);
  }

  /**
   * Writes an upload's bytes to the content staging area as they arrive (hashed on the way, never
   * held whole in memory) for `upload`; more than `maxFileBytes` stops the reading: 413, nothing kept.
   */
  async receive(bytes: AsyncIterable<Uint8Array>): Promise<StagedFile> {
    try {
      return await this.content.stage(bytes, this.opts.maxFileBytes);
    } catch (e) {
      if (e instanceof StagedTooLargeError) throw new PayloadTooLargeError(`File: a library file may be at most ${this.opts.maxFileBytes} bytes (libraryMaxFileBytes); nothing was kept`, 'LibraryFileTooLarge', 'File');
      if (e instanceof StorageFullError) throw new InsufficientStorageError(`${e.message}; nothing was kept`);
      throw e;
    }
  }

  /** Removes received bytes that will not be uploaded (the request failed on another field). */
  discard(staged: StagedFile): Promise<void> {
    return this.content.discard(staged);
  }

  /**
   * Stores received bytes as the file `input.fileName`: refused (and nothing changed) when the name
   * is not a plain file name, the file is empty, the signature does not hold, or the name exists
   * and `overrideIfExists` is not set. The staged bytes are published or removed, whatever happens.
   */
  async upload(principal: Principal, input: LibraryUpload, staged: StagedFile): Promise<LibraryFileView> {
    try {
      const name = LibraryFileName.safeParse(input.fileName);
      if (!name.success) throw new BadRequestError(`File: the file name ${JSON.stringify(input.fileName.slice(0, 140))} ${name.error.issues[0]!.message}`, 'File');
      const fileName = name.data;
      if (staged.size === 0) throw new BadRequestError('File: the file is empty; send the bytes of the script or tool', 'File');
      const signedBy = await this.#signer(staged, input.signature?.trim() || null);
      const contentName = libraryContentName(fileName);
      const comment = input.comment ?? null;
      // One upload or delete of a name at a time (on every node): the row always names the newest
      // version of its content, which is what agents fetch.
      return await this.locks.exclusive(`library/${fileName}`, async () => {
        const previous = await this.repo.get(fileName);
        if (previous && !input.overrideIfExists) {
          throw new BadRequestError(`A library file named ${fileName} exists already; send OverrideIfExists=true to replace it`, 'OverrideIfExists', 'LibraryFileAlreadyExists');
        }
        const { manifest } = await this.content.publishStaged('script', contentName, staged, principal.name, comment);
        const time = this.now().toISOString();
        const row = await this.tx(async (u) => {
          const stored = await u.library.put({
            file_name: fileName,
            description: input.description ?? null,
            has_parameters: input.hasParameters ? 1 : 0,
            parameters_description: input.parametersDescription ?? null,
            sha256: staged.sha256,
            size: staged.size,
            signed_by: signedBy,
            content_name: contentName,
            content_version: manifest.version,
            created_by: principal.name,
            creation_time: time,
            last_updated_by: principal.name,
            last_updated_time: time,
          });
          await u.audit.append([
            this.audit.row(
              {
                actor: principal.name,
                action: 'UploadLibraryFile',
                targetType: 'libraryFile',
                targetId: fileName,
                comment,
                outcome: 'Succeeded',
                detail: { sha256: staged.sha256, size: staged.size, previousSha256: previous?.sha256 ?? null, signedBy, contentName, contentVersion: manifest.version },
              },
              time,
            ),
          ]);
          return stored;
        });
        return view(row);
      });
    } finally {
      // Published bytes were moved into place: this removes only what was not.
      await this.content.discard(staged);
    }
  }

  /** Deletes a file: devices can no longer be given it (the versions already published stay signed content). */
  async remove(principal: Principal, fileName: string, comment: string | null = null): Promise<void> {
    await this.locks.exclusive(`library/${fileName}`, () =>
      this.tx(async (u) => {
        const row = await u.library.get(fileName);
        if (!row) throw new NotFoundError('Library file', fileName.slice(0, 128));
        await u.library.remove(fileName);
        const time = this.now().toISOString();
        await u.audit.append([
          this.audit.row(
            { actor: principal.name, action: 'DeleteLibraryFile', targetType: 'libraryFile', targetId: fileName, comment, outcome: 'Succeeded', detail: { sha256: row.sha256, size: Number(row.size), contentName: row.content_name, contentVersion: Number(row.content_version) } },
            time,
          ),
        ]);
      }),
    );
  }

  /**
   * The fingerprint of the trusted key whose signature of the staged bytes verifies, or null when
   * none was sent and none is required. Ed25519 signs the message itself (not a digest), so the
   * bytes are read whole, once, and only when there is a signature to check.
   */
  async #signer(staged: StagedFile, signature: string | null): Promise<string | null> {
    if (signature === null) {
      if (this.opts.requireSignature) throw new InvalidSignatureError('this server takes only library files signed by a trusted key (libraryRequireSignature); send Signature, the base64 Ed25519 signature of the file');
      return null;
    }
    if (!SIGNATURE.test(signature)) throw new InvalidSignatureError('must be the base64 of a 64-byte Ed25519 signature of the file');
    if (this.#trusted.length === 0) throw new InvalidSignatureError('this server trusts no signing key (libraryTrustedKeys is empty), so no signature can be checked; an admin adds the public key first');
    const bytes = await this.content.stagedBytes(staged);
    const sig = Buffer.from(signature, 'base64');
    const by = this.#trusted.find((t) => verify(null, bytes, t.key, sig));
    if (!by) throw new InvalidSignatureError(`does not verify against the file with any trusted key (${this.#trusted.map((t) => t.fingerprint).join(', ')}); sign the exact bytes uploaded`);
    return by.fingerprint;
  }
}

const view = (r: LibraryFileRow): LibraryFileView => ({
  fileName: r.file_name,
  description: r.description,
  sha256: r.sha256,
  size: Number(r.size),
  creationTime: r.creation_time,
  createdBy: r.created_by,
  lastUpdatedTime: r.last_updated_time,
  lastUpdatedBy: r.last_updated_by,
  hasParameters: Number(r.has_parameters) === 1,
  parametersDescription: r.parameters_description,
  signedBy: r.signed_by,
  contentName: r.content_name,
  contentVersion: Number(r.content_version),
});
