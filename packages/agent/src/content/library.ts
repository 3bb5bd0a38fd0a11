import { LibraryFileRef, libraryContentName, type LibraryFileRef as Ref } from '@cordon/protocol';
import { ContentNotPublishedError } from '../transport/content-fetcher.js';
import type { ContentStore } from './store.js';

/** A library file that cannot be used: the message says why (it is what the command reports). */
export class LibraryFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LibraryFileError';
  }
}

/**
 * The path of a live-response library file's bytes on this device, fetched through the content
 * store (kind `script`: fetched when asked for, never kept up to date in the background, never
 * read whole into memory) and verified: the server's signature over its manifest, the bytes
 * against it, and that it is exactly the version and SHA-256 the command names, so a file that
 * changed in the library since the command was given is refused, not run. `putfile` and `run`
 * call this. The path holds until the next fetch of the same file replaces it.
 */
export async function fetchLibraryFile(store: Pick<ContentStore, 'update' | 'verifiedFile'>, ref: Ref): Promise<string> {
  const parsed = LibraryFileRef.safeParse(ref);
  if (!parsed.success) throw new LibraryFileError(`Not a library file reference: ${parsed.error.issues[0]!.path.join('.')} ${parsed.error.issues[0]!.message}`);
  const { fileName, contentName, version, sha256 } = parsed.data;
  if (contentName !== libraryContentName(fileName)) throw new LibraryFileError(`${contentName} is not the content that carries ${fileName}`);

  let update: Awaited<ReturnType<ContentStore['update']>>;
  try {
    update = await store.update('script', contentName);
  } catch (e) {
    if (e instanceof ContentNotPublishedError) throw new LibraryFileError(`${fileName} is not in the server's library`);
    throw new LibraryFileError(`Could not fetch ${fileName} from the server: ${(e as Error).message}`);
  }
  if (update.status === 'refused') throw new LibraryFileError(`Refused ${fileName} from the server (${update.reason}): ${update.detail}`);
  if (update.status === 'interrupted') throw new LibraryFileError(`The download of ${fileName} stopped after ${update.received} of ${update.manifest.size} bytes (${update.detail}); it resumes when asked again`);

  const file = await store.verifiedFile('script', contentName);
  if (!file) throw new LibraryFileError(`${fileName} on this device does not verify against the server's signature`);
  if (file.manifest.version !== version || file.manifest.sha256 !== sha256) {
    throw new LibraryFileError(`${fileName} changed in the library: the server has version ${file.manifest.version} (SHA-256 ${file.manifest.sha256}), the command names version ${version} (SHA-256 ${sha256})`);
  }
  return file.path;
}
