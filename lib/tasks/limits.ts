// Size limits of what the API answers. (No Node.js APIs here: the dashboard's type check reads this file too.)

/**
 * The largest payload or result, as JSON text (bytes, as PostgreSQL writes it), that a list item carries; a larger one
 * is left out (null, with `payload_omitted` or `result_omitted` true) and stays available from GET /api/v1/tasks/{id}.
 *
 * A list answer must stay under Lambda's 6 MB response. Per item, at most: title 255 characters, description 10,000,
 * error 2,000, payload and result 8 KiB each, and under 1,000 bytes of other fields and names. In ASCII that is
 * 255 + 10,000 + 2,000 + 2 × 8,192 + 1,000 = 29,639 bytes, so 100 items (the largest page) are under 3 MB; even with
 * every character of the texts taking 3 bytes (the most one UTF-16 unit takes in UTF-8), 3 × 12,255 + 16,384 + 1,000
 * = 54,149 bytes, 100 items under 5.5 MB. (16 KiB would give 4.6 and 7.1 MB.)
 */
export const LIST_VALUE_MAX_BYTES = 8 * 1024;

/**
 * A whole number with thousands separators (1,000), for texts. Not toLocaleString: its first call loads the ICU
 * locale data, about 20 ms of the cold start of every function that builds such a text.
 */
export const formatCount = (n: number): string => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');

/** A byte count for people: `1 MiB`, `8 KiB` or `170 bytes`. */
export function formatBytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}
