const fs = require('node:fs');
const path = require('node:path');

// esbuild plugins for the function bundles (serverless.yml: custom.esbuild.plugins).
//
// zod 4 exports every locale of its error messages (`z.locales`, about 50 languages) from the module that also
// gives `z`, so each bundle that validates anything carried all of them: some 250 KB of its 650 (minified), to be
// read and compiled at every cold start. The service uses zod's default, English (`zod/v4/classic` sets it itself
// from `locales/en.js`), and never `z.locales`: this plugin gives zod a `locales` module with English alone.

/** Whether `dir` is one of zod's own folders that export the locales (`v4/classic`, `v4/core`). */
const isZodExporter = (dir) => /[\\/]node_modules[\\/]zod[\\/]v4[\\/](classic|core)$/.test(dir);

const NAMESPACE = 'zod-english-only';

/** @type {import('esbuild').Plugin} */
const zodEnglishOnly = {
  name: NAMESPACE,
  setup(build) {
    build.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      isZodExporter(args.resolveDir) ? { path: path.join(args.resolveDir, '../locales/index.js'), namespace: NAMESPACE } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: NAMESPACE }, (args) => ({
      contents: 'export { default as en } from "./en.js";',
      resolveDir: path.dirname(args.path),
      loader: 'js',
    }));
  },
};

// pg picks its socket code at load by asking whether it runs on Cloudflare Workers: where `navigator` is missing
// (Node.js before 21) it builds a fetch `Response` to find out, which loads Node's fetch implementation (undici,
// about 10 ms of every cold start on Node 20). The functions run on Node.js, never on Workers: this plugin makes
// the answer `false` without asking. It fails the build if pg's code no longer has the function, rather than
// bundling a changed pg unpatched without a word.

const PG_STREAM = /[\\/]node_modules[\\/]pg[\\/]lib[\\/]stream\.js$/;
const CLOUDFLARE_CHECK = 'function isCloudflareRuntime() {';

/** @type {import('esbuild').Plugin} */
const pgNodeOnly = {
  name: 'pg-node-only',
  setup(build) {
    build.onLoad({ filter: PG_STREAM }, async (args) => {
      const source = await fs.promises.readFile(args.path, 'utf8');
      if (!source.includes(CLOUDFLARE_CHECK)) throw new Error(`pg-node-only: ${args.path} no longer has ${CLOUDFLARE_CHECK}`);
      return { contents: source.replace(CLOUDFLARE_CHECK, `${CLOUDFLARE_CHECK}\n  return false;`), loader: 'js' };
    });
  },
};

module.exports = [zodEnglishOnly, pgNodeOnly];
