import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { waitUntil } from '#lib/time';
import { watchForChanges } from '#local/watch';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('watchForChanges (npm start -- --watch)', () => {
  const dirs: string[] = [];
  const stops: (() => void)[] = [];
  afterEach(() => {
    for (const stop of stops.splice(0)) stop();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  const tempTree = () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'watch-'));
    dirs.push(dir);
    mkdirSync(path.join(dir, 'lib', 'deep'), { recursive: true });
    mkdirSync(path.join(dir, 'functions'));
    return dir;
  };

  it('restarts once for a burst of changes, in any watched folder and below', async () => {
    const dir = tempTree();
    const runs: string[][] = [];
    const stop = watchForChanges(
      async (files) => {
        runs.push(files);
      },
      { dirs: [path.join(dir, 'lib'), path.join(dir, 'functions')], debounceMs: 100 },
    );
    stops.push(stop);
    await stop.ready;
    writeFileSync(path.join(dir, 'lib', 'deep', 'a.ts'), 'export const a = 1;');
    writeFileSync(path.join(dir, 'functions', 'b.ts'), 'export const b = 1;');
    writeFileSync(path.join(dir, 'lib', '.a.ts.swp'), 'x');
    writeFileSync(path.join(dir, 'lib', 'sedX1b2c3'), 'x');
    await waitUntil('a restart', () => runs.length > 0, 5_000, 20);
    await sleep(300);
    expect(runs).toHaveLength(1);
    expect(runs[0]?.some((f) => f.endsWith('deep/a.ts'))).toBe(true);
    expect(runs[0]?.some((f) => f.endsWith('functions/b.ts'))).toBe(true);
    expect(runs[0]).toHaveLength(2);
  });

  it('never restarts twice at once: changes during a restart lead to one more restart after it', async () => {
    const dir = tempTree();
    let active = 0;
    let most = 0;
    const runs: string[][] = [];
    let release: () => void = () => {};
    const stop = watchForChanges(
      async (files) => {
        active++;
        most = Math.max(most, active);
        runs.push(files);
        if (runs.length === 1) await new Promise<void>((r) => (release = r));
        active--;
      },
      { dirs: [path.join(dir, 'lib')], debounceMs: 50 },
    );
    stops.push(stop);
    await stop.ready;
    writeFileSync(path.join(dir, 'lib', 'first.ts'), '1');
    await waitUntil('the first restart', () => runs.length === 1, 5_000, 20);
    // While the first restart is still going on:
    writeFileSync(path.join(dir, 'lib', 'second.ts'), '2');
    await sleep(150);
    writeFileSync(path.join(dir, 'lib', 'third.ts'), '3');
    await sleep(150);
    expect(runs).toHaveLength(1);
    release();
    await waitUntil('the second restart', () => runs.length === 2, 5_000, 20);
    await sleep(300);
    expect(runs).toHaveLength(2);
    expect(most).toBe(1);
    expect(runs[1]?.map((f) => path.basename(f)).sort()).toEqual(['second.ts', 'third.ts']);
  });

  it('sees a file that an editor replaces on save (a new file renamed over it), every time', async () => {
    const dir = tempTree();
    const file = path.join(dir, 'lib', 'handler.ts');
    writeFileSync(file, '0');
    const runs: string[][] = [];
    const stop = watchForChanges(
      async (files) => {
        runs.push(files);
      },
      { dirs: [path.join(dir, 'lib')], debounceMs: 50 },
    );
    stops.push(stop);
    await stop.ready;
    for (let i = 1; i <= 3; i++) {
      writeFileSync(`${file}.tmp`, String(i));
      renameSync(`${file}.tmp`, file);
      await waitUntil(`restart ${i}`, () => runs.length === i, 5_000, 20);
    }
    writeFileSync(file, 'in place');
    await waitUntil('restart 4', () => runs.length === 4, 5_000, 20);
    expect(runs.every((r) => r.length === 1 && r[0] === file)).toBe(true);
  });

  it('stops watching when told', async () => {
    const dir = tempTree();
    let runs = 0;
    const stop = watchForChanges(
      async () => {
        runs++;
      },
      { dirs: [path.join(dir, 'lib')], debounceMs: 50 },
    );
    await stop.ready;
    stop();
    writeFileSync(path.join(dir, 'lib', 'late.ts'), '1');
    await sleep(300);
    expect(runs).toBe(0);
  });
});
