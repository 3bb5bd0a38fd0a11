/**
 * The one error hierarchy of the API. Each error carries its public code, HTTP status and the
 * field it is about; `http/app.ts` is the single place that turns it into the API's error body.
 */
/** Marks an error whose refusal the service already wrote to the audit log, so the request hook does not write it twice. */
export function markAudited<E extends Error>(error: E): E {
  (error as { audited?: boolean }).audited = true;
  return error;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly target?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
  toBody(): { error: { code: string; message: string; target?: string } } {
    return { error: { code: this.code, message: this.message, ...(this.target !== undefined ? { target: this.target } : {}) } };
  }
}

export class BadRequestError extends ApiError {
  constructor(message: string, target?: string, code = 'InvalidRequestBody') {
    super(400, code, message, target);
  }
}

export class NotFoundError extends ApiError {
  constructor(what: string, id: string) {
    super(404, 'ResourceNotFound', `${what} ${id} was not found`, 'id');
  }
}

export class UnauthorizedError extends ApiError {
  constructor(message = 'Authentication required: send Authorization: Bearer <token>') {
    super(401, 'Unauthorized', message, undefined, { 'www-authenticate': 'Bearer' });
  }
}

export class ForbiddenError extends ApiError {
  constructor(permission: string, role: string) {
    super(403, 'Forbidden', `The ${role} role does not have the ${permission} permission`);
  }
}

/** MDE clients match this exact message text. */
export class ActiveRequestAlreadyExistsError extends ApiError {
  constructor(target: string) {
    super(400, 'ActiveRequestAlreadyExists', 'Action is already in progress', target);
  }
}

export class ConflictError extends ApiError {
  constructor(message: string, code = 'Conflict', target?: string) {
    super(409, code, message, target);
  }
}

/** What was sent is larger than the server accepts, whatever its state: sending it again will not help. */
export class PayloadTooLargeError extends ApiError {
  constructor(message: string, code = 'PayloadTooLarge', target?: string) {
    super(413, code, message, target);
  }
}

/** The server could not store what it was sent (disk full): the sender should back off and retry. */
export class InsufficientStorageError extends ApiError {
  constructor(message: string) {
    super(507, 'InsufficientStorage', message);
  }
}

export class NotSupportedError extends ApiError {
  constructor(message: string, target = 'type') {
    super(400, 'NotSupported', message, target);
  }
}

export class TooManyRequestsError extends ApiError {
  constructor(retryAfterSeconds: number) {
    super(429, 'TooManyRequests', `Too many requests; retry after ${retryAfterSeconds} seconds`, undefined, { 'retry-after': String(retryAfterSeconds) });
  }
}

/** The store cannot be reached right now (a database restart, a network cut): nothing was done; retry. */
export class StoreUnavailableApiError extends ApiError {
  constructor(retryAfterSeconds = 5) {
    super(503, 'ServiceUnavailable', `The server cannot reach its database right now; nothing was changed. Retry after ${retryAfterSeconds} seconds`, undefined, { 'retry-after': String(retryAfterSeconds) });
  }
}
