import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';

// `npm run bench:cold [-- --package <folder>] [-- --baseline <folder>] [-- --runs 5] [-- --instructions]
// [-- --json <file>]`: the cold start of each packaged function. Packages the default stage (or takes the zips of an
// earlier `serverless package --package <folder>`), unzips each function, and runs its module in `runs` fresh
// Node.js processes, as Lambda's runtime would load it (with the NODE_OPTIONS the template gives the function, if
// any; the AWS SDK resolved from node_modules as the runtime provides it). What is measured is the module load
// inside the process, from just before the require() to just after it, not the process start: a bare `node -e 0`
// takes about 100 ms on a loaded two-core machine, Lambda's runtime is started before the function's code is
// fetched. Prints the zip size and the median load time of each function (and with --instructions the load's CPU
// instructions, which the machine's load does not move; valgrind must be installed). With --baseline, the same for
// the zips of another package folder, measured in turn with the first.

const ROOT = path.resolve(__dirname, '..');
const run = promisify(execFile);

const { values: args } = parseArgs({
  options: {
    package: { type: 'string' },
    runs: { type: 'string', default: '5' },
    json: { type: 'string' },
    baseline: { type: 'string' },
    instructions: { type: 'boolean', default: false },
  },
});

/** The environment of a function's process: the runtime's variables, the AWS SDK from node_modules. */
const processEnv = (nodeOptions: string) => ({
  PATH: process.env.PATH,
  NODE_OPTIONS: nodeOptions,
  NODE_PATH: path.join(ROOT, 'node_modules'),
  AWS_REGION: 'us-east-1',
  AWS_LAMBDA_FUNCTION_NAME: 'bench',
});

/**
 * With --instructions: the CPU instructions of the module's load, counted by valgrind's callgrind (those of a
 * process that loads it, less those of one that loads nothing). Unlike times, the count does not move with what else
 * the machine is doing: a change's effect shows even when the load time's noise is larger than it.
 */
async function loadInstructions(dir: string, entry: string, nodeOptions: string): Promise<number> {
  const count = async (script: string) => {
    const { stderr } = await run('valgrind', ['--tool=callgrind', '--callgrind-out-file=/dev/null', process.execPath, '-e', script], {
      cwd: dir,
      env: processEnv(nodeOptions),
      maxBuffer: 1 << 24,
    });
    const collected = /Collected : (\d+)/.exec(stderr);
    if (!collected) throw new Error(`callgrind printed no count: ${stderr.slice(-500)}`);
    return Number(collected[1]);
  };
  return (await count(`require(${JSON.stringify(entry)})`)) - (await count('0'));
}

/** The load of one module in a fresh process, in milliseconds. */
async function loadMs(dir: string, entry: string, nodeOptions: string): Promise<number> {
  const script = `const t=process.hrtime.bigint();require(${JSON.stringify(entry)});process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6));`;
  const { stdout } = await run(process.execPath, ['-e', script], {
    cwd: dir,
    env: processEnv(nodeOptions),
  });
  return Number(stdout);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};

async function main(): Promise<void> {
  const runs = Math.max(1, Number(args.runs));
  let out = args.package ? path.resolve(args.package) : '';
  const work = mkdtempSync(path.join(os.tmpdir(), 'bench-cold-'));
  try {
    if (!out) {
      out = path.join(work, 'package');
      const staging = path.join(work, 'tmp');
      mkdirSync(staging);
      console.log('Packaging the default stage...');
      await run(path.join(ROOT, 'node_modules/.bin/serverless'), ['package', '--package', out], {
        cwd: ROOT,
        env: { ...process.env, TMPDIR: staging, AWS_PROFILE: 'none-configured', AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' },
        timeout: 600_000,
      });
    }
    const rows: Array<Record<string, string | number>> = [];
    /** The NODE_OPTIONS of a function in the template of a package folder ('' when it sets none). */
    const nodeOptionsOf = (folder: string, name: string): string => {
      const template = path.join(folder, 'cloudformation-template-update-stack.json');
      if (!existsSync(template)) return '';
      const resources = JSON.parse(readFileSync(template, 'utf8')).Resources ?? {};
      const fn = resources[`${name.charAt(0).toUpperCase()}${name.slice(1)}LambdaFunction`];
      return String(fn?.Properties?.Environment?.Variables?.NODE_OPTIONS ?? '');
    };
    const round = (ms: number) => Math.round(ms * 10) / 10;
    for (const zip of readdirSync(out)
      .filter((f) => f.endsWith('.zip'))
      .sort()) {
      const name = zip.replace(/\.zip$/, '');
      const sides = [{ label: '', folder: out }];
      if (args.baseline && existsSync(path.join(args.baseline, zip)))
        sides.unshift({ label: 'baseline ', folder: path.resolve(args.baseline) });
      const measured = [];
      for (const side of sides) {
        const dir = path.join(work, `${side.label.trim() || 'current'}-${name}`);
        await run('unzip', ['-q', '-o', path.join(side.folder, zip), '-d', dir]);
        const entry = readdirSync(path.join(dir, 'functions')).find((f) => f.endsWith('.js'));
        if (entry)
          measured.push({
            ...side,
            dir,
            entry,
            nodeOptions: nodeOptionsOf(side.folder, name),
            times: [] as number[],
            kb: Math.round(statSync(path.join(side.folder, zip)).size / 1024),
          });
      }
      for (let i = 0; i < runs; i++) for (const m of measured) m.times.push(await loadMs(m.dir, `./functions/${m.entry}`, m.nodeOptions));
      const row: Record<string, string | number> = { function: name };
      for (const m of measured) {
        row[`${m.label}zip KB`] = m.kb;
        row[`${m.label}load ms (median)`] = round(median(m.times));
        row[`${m.label}min ms`] = round(Math.min(...m.times));
        if (args.instructions)
          row[`${m.label}M instructions`] = Math.round((await loadInstructions(m.dir, `./functions/${m.entry}`, m.nodeOptions)) / 1e6);
      }
      rows.push(row);
    }
    console.table(rows);
    if (args.json) writeFileSync(args.json, `${JSON.stringify(rows, null, 2)}\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
