import { randomBytes } from 'node:crypto';
import { ZipFile } from 'yazl';

/**
 * A real zip (written with yazl, as the agent writes packages) of `bytes` of random data stored
 * uncompressed, so its size is about `bytes` plus a few hundred bytes of headers.
 */
export async function zipOf(bytes: number, name = 'Processes/Processes.csv'): Promise<Buffer> {
  const zip = new ZipFile();
  zip.addBuffer(randomBytes(bytes), name, { compress: false, mtime: new Date('2026-11-25T10:00:00Z') });
  zip.end();
  const chunks: Buffer[] = [];
  for await (const c of zip.outputStream as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}
