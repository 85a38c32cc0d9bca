import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/** Text files a static site may hold, by extension. */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

/** One file of a static site, as read from disk. */
export interface StaticFile {
  body: string;
  contentType: string;
  etag: string;
}

// A file path inside the site: plain segments only, so that no request can leave the folder.
const SAFE_PATH = /^(?:[A-Za-z0-9_-][A-Za-z0-9._-]*\/)*[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

/** Whether the last segment of a request path names a file (has an extension) rather than a client-side route. */
export const looksLikeFile = (requestPath: string): boolean => /\.[A-Za-z0-9]+$/.test(requestPath.split('/').pop() ?? '');

/**
 * The path of `relPath` in the folder of the running bundle or the nearest folder above it that has it: bundled
 * functions run from a build folder (serverless-offline) or /var/task (Lambda), with the package's files around.
 */
export function findUpwards(relPath: string): string | undefined {
  for (let dir = __dirname, i = 0; i < 8; dir = path.dirname(dir), i++) {
    const candidate = path.join(dir, relPath);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

/**
 * A folder of built files (`relativeDir` from the package root), found by looking upwards from the running bundle:
 * serverless-offline runs functions from a build folder and Lambda from /var/task, with the folder beside them.
 */
export function staticSite(relativeDir: string) {
  let root: string | undefined;
  const cache = new Map<string, StaticFile & { mtimeMs: number }>();

  const findRoot = (): string | undefined => {
    if (root) return root;
    const index = findUpwards(path.join(relativeDir, 'index.html'));
    root = index && path.dirname(index);
    return root;
  };

  return {
    /** Whether the site is there at all (it is built separately). */
    available: (): boolean => findRoot() !== undefined,
    /** The file at `relPath` (`assets/index-3f2a.js`), or undefined when there is none or it is not a servable type. */
    file(relPath: string): StaticFile | undefined {
      const dir = findRoot();
      const contentType = CONTENT_TYPES[path.extname(relPath).toLowerCase()];
      if (!dir || !contentType || !SAFE_PATH.test(relPath)) return undefined;
      const full = path.join(dir, relPath);
      let mtimeMs: number;
      try {
        const st = statSync(full);
        if (!st.isFile()) return undefined;
        mtimeMs = st.mtimeMs;
      } catch {
        return undefined;
      }
      // Checked against the file's time, so that a rebuild while the service runs is picked up.
      const hit = cache.get(relPath);
      if (hit && hit.mtimeMs === mtimeMs) return hit;
      const body = readFileSync(full, 'utf8');
      const etag = `"${createHash('sha1').update(body).digest('base64url').slice(0, 16)}"`;
      const entry = { body, contentType, etag, mtimeMs };
      cache.set(relPath, entry);
      return entry;
    },
  };
}
