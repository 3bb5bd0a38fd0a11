import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { principalOf } from '../http/app.js';
import { answers, LibraryFile, LibraryFileList, NoContent } from '../api/schemas.js';
import { ApiError, BadRequestError } from '../errors.js';
import type { StagedFile } from '../storage/content-files.js';
import type { LibraryService, LibraryUpload } from '../services/library.service.js';
import { odata } from './common.js';

/** How long the rest of a refused upload is read (and dropped) before the connection is cut. */
const LINGER_MS = 30_000;

const FileNameParam = z.object({ fileName: z.string().min(1).max(200) });
const DeleteQuery = z.object({ comment: z.string().max(4000).optional() });

/** The form's text fields as MDE documents them (and Cordon's Signature and Comment), with their longest value. */
const FIELDS = {
  Description: 1000,
  ParametersDescription: 1000,
  HasParameters: 5,
  OverrideIfExists: 5,
  Signature: 200,
  Comment: 4000,
} as const;
type Field = keyof typeof FIELDS;
/** Part names are matched whatever their case: MDE's own example sends `file`. */
const FIELD_BY_LOWER = new Map<string, Field | 'File'>([['file', 'File'], ...(Object.keys(FIELDS) as Field[]).map((f) => [f.toLowerCase(), f] as [string, Field])]);
const KNOWN = ['File', ...Object.keys(FIELDS)].join(', ');

/** What the OpenAPI document says the form holds; the route reads the parts itself, as they stream. */
const UploadForm = z.object({
  File: z.string().meta({ format: 'binary', description: 'The file; its name (1-128 letters, digits, . _ -, not starting with .) becomes fileName. Required' }),
  Description: z.string().optional(),
  ParametersDescription: z.string().optional().meta({ description: 'The parameters the script takes' }),
  HasParameters: z.enum(['true', 'false']).optional(),
  OverrideIfExists: z.enum(['true', 'false']).optional().meta({ description: 'Replace a file of that name (default false: refused with 400 LibraryFileAlreadyExists)' }),
  Signature: z.string().optional().meta({ description: 'Cordon: base64 Ed25519 signature of the file by a key in libraryTrustedKeys (required when libraryRequireSignature is set; always checked when sent)' }),
  Comment: z.string().optional().meta({ description: 'Cordon: why (kept in the audit log)' }),
});

/**
 * The live-response library, in MDE's shape (`/api/libraryfiles`): analysts list it, admins
 * upload (multipart/form-data, as MDE clients send it) and delete.
 */
export function libraryRoutes(library: LibraryService) {
  return async (fastify: FastifyInstance) => {
    // Multipart is taken here only; the file part is streamed to disk, never buffered.
    await fastify.register(multipart, { preservePath: true, limits: { fileSize: library.maxFileBytes + 1, files: 1, fields: 20, parts: 21, fieldSize: 16 * 1024, headerPairs: 100 } });
    // A refusal answered before the whole upload arrived (too large, a bad field, a role without
    // the permission): the rest is read and dropped, as clients show the answer only once they have
    // sent their body; a client still sending after LINGER_MS is cut off.
    fastify.addHook('onSend', async (req, reply) => {
      if (reply.statusCode < 400 || req.raw.readableEnded) return;
      const cut = setTimeout(() => req.raw.destroy(), LINGER_MS).unref();
      const read = () => clearTimeout(cut);
      req.raw.once('end', read).once('close', read);
      req.raw.resume();
    });
    const app = fastify.withTypeProvider<ZodTypeProvider>();
    const tags = ['live response library'];
    const audit = (action: string) => ({ action, targetType: 'libraryFile' as const });

    app.get('/libraryfiles', { config: { access: 'library.read' }, schema: { tags, summary: 'List the live-response library files', response: answers({ 200: LibraryFileList }) } }, async () =>
      odata('LibraryFiles', await library.list()),
    );

    app.get('/libraryfiles/:fileName', { config: { access: 'library.read' }, schema: { tags, summary: 'Cordon: one library file', params: FileNameParam, response: answers({ 200: LibraryFile }) } }, async (req) =>
      library.get(req.params.fileName),
    );

    app.post(
      '/libraryfiles',
      {
        config: { access: 'library.write', audit: audit('UploadLibraryFile') },
        // The form is read part by part in the handler (the file streamed to disk): nothing to validate before.
        validatorCompiler: () => (data) => ({ value: data }),
        schema: {
          tags,
          summary: `Upload a file to the live-response library (multipart/form-data; 200 with the file). A name that exists is refused (400 LibraryFileAlreadyExists) unless OverrideIfExists=true; larger than libraryMaxFileBytes: 413 LibraryFileTooLarge; a bad or (when required) missing signature: 400 InvalidSignature. Nothing is changed when refused.`,
          consumes: ['multipart/form-data'],
          body: UploadForm,
          response: answers({ 200: LibraryFile }),
        },
      },
      async (req) => {
        const { input, staged } = await readUpload(req, library);
        return library.upload(principalOf(req), input, staged);
      },
    );

    app.delete(
      '/libraryfiles/:fileName',
      { config: { access: 'library.write', audit: audit('DeleteLibraryFile') }, schema: { tags, summary: 'Delete a file from the live-response library (204)', params: FileNameParam, querystring: DeleteQuery, response: answers({ 204: NoContent }) } },
      async (req, reply) => {
        await library.remove(principalOf(req), req.params.fileName, req.query.comment ?? null);
        return reply.code(204).send();
      },
    );
  };
}

/**
 * Reads the form in the order its parts come: the file is handed to the library as it streams in
 * (so a field may come before or after it), each text field is checked as it arrives. On any
 * refusal, bytes already received are removed.
 */
async function readUpload(req: FastifyRequest, library: LibraryService): Promise<{ input: LibraryUpload; staged: StagedFile }> {
  if (!req.isMultipart()) throw new BadRequestError(`Send the upload as multipart/form-data with the parts ${KNOWN} (File required)`, 'body');
  const fields: Partial<Record<Field, string>> = {};
  // Kept on the request so a refusal's audit record carries the Comment, as for JSON bodies.
  req.body = fields;
  let staged: StagedFile | undefined;
  let fileName = '';
  try {
    for await (const part of req.parts()) {
      const field = FIELD_BY_LOWER.get(part.fieldname.toLowerCase());
      if (!field) throw new BadRequestError(`${part.fieldname.slice(0, 100)} is not a known field here; send ${KNOWN}`, part.fieldname.slice(0, 100));
      if (field === 'File') {
        if (part.type !== 'file') throw new BadRequestError('File must be a file part (with a filename), not a text field', 'File');
        if (staged) throw new BadRequestError('File is given twice; send one file per upload', 'File');
        fileName = part.filename;
        staged = await library.receive(part.file);
        continue;
      }
      if (part.type !== 'field') throw new BadRequestError(`${field} must be a text field, not a file`, field);
      if (field in fields) throw new BadRequestError(`${field} is given twice; send it once`, field);
      const value = String(part.value);
      if (part.valueTruncated || value.length > FIELDS[field]) throw new BadRequestError(`${field} must be at most ${FIELDS[field]} characters`, field);
      if (value.includes('\u0000')) throw new BadRequestError(`${field} must not contain NUL characters`, field);
      fields[field] = value;
    }
    if (!staged) throw new BadRequestError('File is required: send the file as the multipart/form-data part named File', 'File');
    return {
      staged,
      input: {
        fileName,
        description: fields.Description ?? null,
        parametersDescription: fields.ParametersDescription ?? null,
        hasParameters: flag(fields, 'HasParameters'),
        overrideIfExists: flag(fields, 'OverrideIfExists'),
        signature: fields.Signature ?? null,
        comment: fields.Comment ?? null,
      },
    };
  } catch (e) {
    if (staged) await library.discard(staged);
    throw multipartError(e);
  }
}

/** A true/false field (MDE's clients send `true`, PowerShell's send `True`); absent is false. */
function flag(fields: Partial<Record<Field, string>>, field: 'HasParameters' | 'OverrideIfExists'): boolean {
  const v = fields[field]?.trim().toLowerCase();
  if (v === undefined || v === 'false') return false;
  if (v === 'true') return true;
  throw new BadRequestError(`${field} must be true or false, not ${JSON.stringify(fields[field]!.slice(0, 20))}`, field);
}

/** The multipart reader's own errors, said as the API says errors. */
function multipartError(e: unknown): unknown {
  if (e instanceof ApiError) return e;
  const code = (e as { code?: string }).code;
  if (code === 'FST_FILES_LIMIT') return new BadRequestError('File is given twice; send one file per upload', 'File');
  if (code === 'FST_FIELDS_LIMIT' || code === 'FST_PARTS_LIMIT') return new BadRequestError(`The form has too many parts; send only ${KNOWN}`, 'body');
  if (code === 'FST_PROTO_VIOLATION') return new BadRequestError('The form names a forbidden field', 'body');
  if (e instanceof Error && /multipart|boundary|part terminated|unexpected end/i.test(e.message)) return new BadRequestError(`The multipart/form-data body is malformed: ${e.message}`, 'body');
  return e;
}
