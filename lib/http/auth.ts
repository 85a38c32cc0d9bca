import { createHash, timingSafeEqual } from 'node:crypto';
import { config } from '#lib/config';
import { UnauthorizedError } from '#lib/http/errors';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** With API_KEYS set, throws UnauthorizedError unless `key` is one of them (compared in constant time). */
export function requireApiKey(key: string | undefined): void {
  const keys = config().API_KEYS;
  if (keys.length === 0) return;
  if (!key) throw new UnauthorizedError();
  const given = digest(key);
  if (!keys.some((k) => timingSafeEqual(digest(k), given))) throw new UnauthorizedError('The API key is not valid');
}
