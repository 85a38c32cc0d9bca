import { readFileSync } from 'node:fs';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

// The Docker image keeps the production dependencies and the few development ones its Dockerfile names (KEEP_DEV):
// what `npm start` loads at its start must come from those, or the container fails as it starts.
describe("the Docker image's npm start", () => {
  it('loads no development dependency the image leaves out (a dev-only one is imported where it is needed)', async () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { dependencies: object; devDependencies: object };
    const keep = /ARG KEEP_DEV="([^"]+)"/.exec(readFileSync('Dockerfile', 'utf8'))?.[1]?.split(' ') ?? [];
    expect(keep).toContain('tsx');
    const allowed = new Set([...Object.keys(pkg.dependencies), ...keep]);
    const result = await build({
      entryPoints: ['scripts/start.ts'],
      bundle: true,
      platform: 'node',
      packages: 'external',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    // The modules loaded at the start: from the entry, along static imports only.
    const { inputs } = result.metafile;
    const seen = new Set<string>();
    const external = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const i of inputs[file]?.imports ?? []) {
        if (i.kind === 'dynamic-import') continue;
        if (i.external) external.add(i.path);
        else visit(i.path);
      }
    };
    visit('scripts/start.ts');
    expect(seen.size).toBeGreaterThan(10);
    const packageOf = (p: string) => (p.startsWith('@') ? p.split('/').slice(0, 2).join('/') : (p.split('/')[0] as string));
    const outside = [...new Set([...external].filter((p) => !p.startsWith('node:')).map(packageOf))].filter((name) => !allowed.has(name));
    expect(outside).toEqual([]);
  });
});
