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
class LocalOfflinePlugin {
  constructor(serverless, _options, utils) {
    this.serverless = serverless;
    this.log = utils?.log ?? { notice: console.log };
    this.hooks = {
      'offline:start:init': () => require('esbuild').stop(),
      'after:offline:start:init': () => this.guardHttpServer(),
    };
  }

  /** Moves serverless-offline's HTTP server to HTTP_HOST, leaving its Lambda invoke server on loopback. */
  async guardHttpServer() {
    const { service } = this.serverless;
    const offline = this.serverless.pluginManager.plugins.find((p) => p.constructor.name === 'ServerlessOffline');
    const server = offline?.internals?.().getApiGatewayServer?.();
    if (!server?.listener) {
      throw new Error('scripts/offline-plugin.js: serverless-offline did not start its HTTP server as expected');
    }

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
