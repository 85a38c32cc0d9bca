import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

describe('the layers', () => {
  // The rules are in .dependency-cruiser.cjs; dependency-cruiser reads the imports of every file.
  it('point one way: no import breaks a rule of .dependency-cruiser.cjs', async () => {
    const { stdout } = await run(
      'npx',
      ['depcruise', 'lib', 'functions', 'local', 'scripts', '--config', '.dependency-cruiser.cjs', '--output-type', 'json'],
      {
        maxBuffer: 64 * 1024 * 1024,
      },
    ).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
    const result = JSON.parse(stdout) as {
      summary: { violations: { rule: { name: string }; from: string; to: string }[]; totalCruised: number };
    };
    expect(result.summary.totalCruised).toBeGreaterThan(50);
    expect(result.summary.violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`)).toEqual([]);
  }, 60_000);
});
