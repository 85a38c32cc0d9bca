import { readFileSync } from 'node:fs';
import path from 'node:path';
import { findUpwards } from '#lib/http/static';

/** Swagger UI files served under /docs/, with their content types. */
export const DOCS_ASSETS: Readonly<Record<string, string>> = {
  'swagger-ui-bundle.js': 'application/javascript; charset=utf-8',
  'swagger-ui.css': 'text/css; charset=utf-8',
};

const cache = new Map<string, string>();

const findAsset = (name: string) => findUpwards(path.join('node_modules', 'swagger-ui-dist', name));

/** The text of a Swagger UI asset, or undefined when the name is not one we serve. */
export function docsAsset(name: string): { body: string; contentType: string } | undefined {
  const contentType = DOCS_ASSETS[name];
  if (!contentType || !Object.hasOwn(DOCS_ASSETS, name)) return undefined;
  let body = cache.get(name);
  if (body === undefined) {
    const file = findAsset(name);
    if (!file) return undefined;
    body = readFileSync(file, 'utf8');
    cache.set(name, body);
  }
  return { body, contentType };
}

/** The Swagger UI page for the OpenAPI document at `specUrl`. */
export function swaggerUiPage(specUrl: string): string {
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Async Task Service API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({ url: ${JSON.stringify(specUrl)}, dom_id: '#swagger-ui', deepLinking: true });
  </script>
</body>
</html>
`;
}
