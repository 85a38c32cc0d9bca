import { ApiError } from '../api';

/** The fields of a 422 answer by their path (`task.payload`, `concurrency`), and the message of the whole answer. */
export interface FormErrors {
  fields: Record<string, string>;
  message: string;
}

export const noErrors: FormErrors = { fields: {}, message: '' };

/** What a failed call says about a form: each field's error where the API names one, else only the message. */
export function formErrorsOf(err: unknown): FormErrors {
  if (err instanceof ApiError && err.errors.length) {
    return { fields: Object.fromEntries(err.errors.map((x) => [x.path, x.message])), message: err.message };
  }
  return { fields: {}, message: (err as Error).message };
}

/** The error of one field, under it, or nothing. */
export function FieldError({ errors, path }: { errors: FormErrors; path: string }) {
  const message = errors.fields[path];
  return message ? <span class="field-error">{message}</span> : null;
}

/** The errors of the form that no field shows (a 409, a network failure, a path the form has no field for). */
export function FormMessage({ errors, shown }: { errors: FormErrors; shown: string[] }) {
  const rest = Object.entries(errors.fields).filter(([path]) => !shown.includes(path));
  if (!errors.message && !rest.length) return null;
  return (
    <div class="form-error span-2" role="alert">
      {errors.message}
      {rest.map(([path, message]) => (
        <div key={path}>
          <code>{path}</code>: {message}
        </div>
      ))}
    </div>
  );
}
