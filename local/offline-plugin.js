const { isUtf8 } = require('node:buffer');

// A Serverless Framework plugin for local runs, listed between serverless-esbuild and serverless-offline. It changes
// nothing in serverless-offline's files; it uses serverless-offline's hooks, its HTTP server (a hapi server, which
// serverless-offline hands out through `internals()`) and that server's public API:
//
// - Once the functions are bundled it stops esbuild's service process, which otherwise holds about 2 GB of memory
//   for the life of `serverless offline` (esbuild starts it again if anything asks it to build).
// - serverless-offline binds its HTTP port and its Lambda invoke port (LAMBDA_PORT, which runs any function without
//   authentication and answers errors with their stack traces) to one `host`. serverless.yml gives it 127.0.0.1, and
//   this plugin moves the HTTP server alone to HTTP_HOST (`custom.localHttp.host`): the invoke port stays on loopback
//   whatever HTTP_HOST says, and the queue bridge reaches it there.
// - serverless-offline answers every request that has an Origin header with that origin in
//   Access-Control-Allow-Origin, whatever `provider.httpApi.cors` allows. This plugin takes its CORS headers back
//   from answers to origins that the configuration does not allow (all of them by default), as API Gateway does.
// - serverless-offline decodes every body as UTF-8 before the handler sees it, replacing bytes that are not UTF-8
//   with U+FFFD, so the handler cannot refuse them. For such a body this plugin makes serverless-offline take the
//   request as binary: the handler then gets the bytes as they came, base64-encoded (`isBase64Encoded`), and
//   lib/http/body.ts answers 400.
class LocalOfflinePlugin {
  constructor(serverless, _options, utils) {
    this.serverless = serverless;
    this.log = utils?.log ?? { notice: console.log };
    this.hooks = {
      'offline:start:init': () => require('esbuild').stop(),
      'after:offline:start:init': () => this.guardHttpServer(),
    };
  }

  /** Applies the CORS and body rules above to serverless-offline's HTTP server, then moves it to HTTP_HOST. */
  async guardHttpServer() {
    const { service } = this.serverless;
    const offline = this.serverless.pluginManager.plugins.find((p) => p.constructor.name === 'ServerlessOffline');
    const server = offline?.internals?.().getApiGatewayServer?.();
    if (!server?.listener) {
      throw new Error('local/offline-plugin.js: serverless-offline did not start its HTTP server as expected');
    }

    const cors = service.provider.httpApi?.cors;
    const origins = cors === true ? ['*'] : (cors?.allowedOrigins ?? []);
    const allowed = (origin) => origins.includes('*') || origins.includes(origin);
    // Registered after serverless-offline's own onPreResponse extension, so it runs after it.
    server.ext('onPreResponse', (request, h) => {
      const origin = request.headers.origin;
      if (origin === undefined || allowed(origin)) return h.continue;
      const response = request.response.isBoom ? request.response.output : request.response;
      for (const name of Object.keys(response.headers)) {
        if (name.toLowerCase().startsWith('access-control-')) delete response.headers[name];
      }
      return h.continue;
    });

    server.ext('onPreHandler', (request, h) => {
      // With `parse: false` (every route with a body) the payload is the Buffer as received.
      if (Buffer.isBuffer(request.payload) && request.payload.length > 0 && !isUtf8(request.payload)) {
        // serverless-offline's only test for a binary body is this content type (`detectEncoding`). The event keeps
        // the headers as sent (it reads the raw ones), so the handler still sees the client's content type.
        request.headers['content-type'] = 'application/octet-stream';
      }
      return h.continue;
    });

    const host = service.custom?.localHttp?.host;
    if (!host || host === server.settings.host) return;
    const { port } = server.listener.address();
    await new Promise((resolve, reject) => {
      server.listener.close();
      server.listener.once('error', reject);
      server.listener.listen(port, host, () => {
        server.listener.off('error', reject);
        resolve();
      });
    });
    this.log.notice(`HTTP on ${host}:${port}; the Lambda invoke API stays on ${server.settings.host} only`);
  }
}

module.exports = LocalOfflinePlugin;
