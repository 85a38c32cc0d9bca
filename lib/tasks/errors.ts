import type { z } from 'zod';

// The domain's own errors. The domain knows nothing of HTTP: the HTTP adapter maps these to answers in one place
// (lib/http/problem.ts), and the queue consumers decide on them by class.

/** One failing field of an input, as reported in a 422 problem or a dead letter. */
export interface FieldError {
  path: string;
  message: string;
}

/** Something the domain refuses for a reason the caller can read. */
export class DomainError extends Error {
  override name = 'DomainError';
}

/** Input that parses but is not valid (a bad field, an unknown task type, a reused idempotency key). */
export class InvalidInputError extends DomainError {
  override name = 'InvalidInputError';
  constructor(
    readonly errors: FieldError[],
    message = 'The request is not valid',
  ) {
    super(message);
  }
}

/** Nothing with that id. */
export class NotFoundError extends DomainError {
  override name = 'NotFoundError';
  constructor(message = 'Task not found') {
    super(message);
  }
}

/** The task's state does not allow the operation (or a concurrent request holds what it needs). */
export class ConflictError extends DomainError {
  override name = 'ConflictError';
}

/** A service the operation needs (the queue) cannot be reached now; trying again later may work. */
export class UnavailableError extends DomainError {
  override name = 'UnavailableError';
}

/** Converts zod issues to the contract's `errors` list (`path` joined with dots). */
export function zodIssuesToFieldErrors(issues: readonly z.core.$ZodIssue[]): FieldError[] {
  return issues.map((i) => ({ path: i.path.map(String).join('.') || '(root)', message: i.message }));
}
