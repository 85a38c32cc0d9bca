/** One failing field of a request, as reported in a 422 problem. */
export interface FieldError {
  path: string;
  message: string;
}

/** An error that maps to an HTTP status; below 500 its message is shown to the client. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HttpError';
  }
}

export class BadRequestError extends HttpError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(400, 'Bad Request', message, options);
    this.name = 'BadRequestError';
  }
}

export class UnauthorizedError extends HttpError {
  constructor(message = 'A valid API key is required in the x-api-key header') {
    super(401, 'Unauthorized', message);
    this.name = 'UnauthorizedError';
  }
}

export class NotFoundError extends HttpError {
  constructor(message = 'Task not found') {
    super(404, 'Not Found', message);
    this.name = 'NotFoundError';
  }
}

export class ConflictError extends HttpError {
  constructor(message: string) {
    super(409, 'Conflict', message);
    this.name = 'ConflictError';
  }
}

export class PayloadTooLargeError extends HttpError {
  constructor(message: string) {
    super(413, 'Content Too Large', message);
    this.name = 'PayloadTooLargeError';
  }
}

export class UnsupportedMediaTypeError extends HttpError {
  constructor(message: string) {
    super(415, 'Unsupported Media Type', message);
    this.name = 'UnsupportedMediaTypeError';
  }
}

export class ValidationError extends HttpError {
  constructor(
    readonly errors: FieldError[],
    message = 'The request is not valid',
  ) {
    super(422, 'Unprocessable Content', message);
    this.name = 'ValidationError';
  }
}

export class ServiceUnavailableError extends HttpError {
  /** Sent as the Retry-After header. */
  readonly retryAfterSeconds: number;

  constructor(message: string, options?: { cause?: unknown; retryAfterSeconds?: number }) {
    super(503, 'Service Unavailable', message, options);
    this.name = 'ServiceUnavailableError';
    this.retryAfterSeconds = options?.retryAfterSeconds ?? 5;
  }
}
