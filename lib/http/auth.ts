import { createHash, timingSafeEqual } from 'node:crypto';
import { config } from '#lib/config';
import { UnauthorizedError } from '#lib/http/errors';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** The digests of the configured keys, computed once per config. */
let known: { keys: readonly string[]; digests: Buffer[] } | undefined;
const digestsOf = (keys: readonly string[]) => {
  if (known?.keys !== keys) known = { keys, digests: keys.map(digest) };
  return known.digests;
};

/** With API_KEYS set, throws UnauthorizedError unless `key` is one of them (compared in constant time). */
export function requireApiKey(key: string | undefined): void {
  const keys = config().API_KEYS;
  if (keys.length === 0) return;
  if (!key) throw new UnauthorizedError();
  const given = digest(key);
  if (!digestsOf(keys).some((d) => timingSafeEqual(d, given))) throw new UnauthorizedError('The API key is not valid');
}
