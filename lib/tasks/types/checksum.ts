import { createHash } from 'node:crypto';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { z } from 'zod';
import { defineTaskType } from '#lib/tasks/types/define';

export const checksumPayload = z
  .strictObject({
    text: z.string().max(100_000).meta({ description: 'Text to hash (UTF-8)' }),
    algorithm: z.enum(['sha256', 'sha512', 'sha1', 'md5']).default('sha256'),
    rounds: z.number().int().min(1).max(1_000_000).default(1).meta({ description: 'Times the digest is hashed again (key stretching)' }),
  })
  .meta({ id: 'ChecksumPayload' });

const CHUNK = 10_000;

/** Hashes a text, optionally many rounds over, yielding between chunks so cancel and timeout are honoured. */
export const checksum = defineTaskType({
  name: 'checksum',
  description: 'Computes a hash of a text, optionally stretched over many rounds',
  payload: checksumPayload,
  timeoutMs: 60_000,
  async run(p, { signal, progress }) {
    let digest = createHash(p.algorithm).update(p.text, 'utf8').digest();
    for (let done = 1; done < p.rounds; ) {
      const until = Math.min(p.rounds, done + CHUNK);
      for (; done < until; done++) digest = createHash(p.algorithm).update(digest).digest();
      progress(Math.floor((done * 100) / p.rounds));
      await yieldToLoop();
      signal.throwIfAborted();
    }
    return { algorithm: p.algorithm, rounds: p.rounds, hex: digest.toString('hex') };
  },
});
