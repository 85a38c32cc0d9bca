import { readFileSync, writeFileSync } from 'node:fs';

// npm leaves out of package-lock.json the optional, platform-specific packages it cannot fetch for this
// machine (a registry that serves only some platforms), and `npm ci` then refuses the lock file as out of
// sync. This records each missing optional dependency with its version, as npm would; `npm ci` skips the
// ones it cannot use. Run it after changing dependencies: `npm run lockfile`.
type Entry = { version?: string; dev?: boolean; optional?: boolean; optionalDependencies?: Record<string, string> };
const file = 'package-lock.json';
const lock = JSON.parse(readFileSync(file, 'utf8')) as { packages: Record<string, Entry> };
let added = 0;
for (const [key, entry] of Object.entries(lock.packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const nested = `${key ? `${key}/` : ''}node_modules/${name}`;
    if (lock.packages[nested] || lock.packages[`node_modules/${name}`]) continue;
    lock.packages[`node_modules/${name}`] = { version, ...(entry.dev ? { dev: true } : {}), optional: true };
    added++;
  }
}
lock.packages = Object.fromEntries(
  Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : a > b ? 1 : 0)),
);
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(added ? `Recorded ${added} optional packages in ${file}.` : `${file} is complete.`);
