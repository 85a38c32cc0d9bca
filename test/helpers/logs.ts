import { afterEach, beforeEach, vi } from 'vitest';
import { logger } from '#lib/logger';

/**
 * Captures what the process writes to stdout and stderr during each test (Powertools writes through a Console of
 * its own over them), with the logger at INFO; `entries()` parses the JSON lines.
 */
export function useCapturedOutput() {
  let written = '';
  const writes = { out: process.stdout.write, err: process.stderr.write };
  const capture = (chunk: unknown) => {
    written += String(chunk);
    return true;
  };
  const release = () => {
    process.stdout.write = writes.out;
    process.stderr.write = writes.err;
  };
  beforeEach(() => {
    written = '';
    process.stdout.write = capture as typeof process.stdout.write;
    process.stderr.write = capture as typeof process.stderr.write;
    logger.setLogLevel('INFO');
    // Each invocation but the first puts the logger back at its initial level (SILENT in tests), unless debug
    // sampling is on: keep INFO for the test.
    vi.spyOn(logger, 'refreshSampleRateCalculation').mockImplementation(() => {});
  });
  afterEach(() => {
    release();
    vi.restoreAllMocks();
    logger.setLogLevel('SILENT');
  });
  return {
    written: () => written,
    /** Stops capturing before the test ends (so that its failures show). */
    release,
    entries: (): any[] =>
      written
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l)),
  };
}
