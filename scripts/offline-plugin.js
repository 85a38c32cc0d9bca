// A Serverless Framework plugin for local runs, between serverless-esbuild and serverless-offline: once the
// functions are bundled, it stops esbuild's service process, which otherwise holds about 2 GB of memory for the
// life of `serverless offline` (esbuild starts it again if anything asks it to build).
class StopEsbuildPlugin {
  constructor() {
    this.hooks = { 'offline:start:init': () => require('esbuild').stop() };
  }
}

module.exports = StopEsbuildPlugin;
