// Errors that only HTTP has (a body that is not JSON, a missing API key...). The domain's own errors
// (lib/tasks/errors.ts) are mapped to answers in lib/http/problem.ts.

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

export class ServiceUnavailableError extends HttpError {
  /** Sent as the Retry-After header. */
  readonly retryAfterSeconds: number;

  constructor(message: string, options?: { cause?: unknown; retryAfterSeconds?: number }) {
    super(503, 'Service Unavailable', message, options);
    this.name = 'ServiceUnavailableError';
    this.retryAfterSeconds = options?.retryAfterSeconds ?? 5;
  }
}
