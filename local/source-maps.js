// Injected into every function's bundle (serverless.yml: custom.esbuild.inject): stack traces name the TypeScript
// files and lines, through the .js.map beside the bundle.
//
// Not Node's own --enable-source-maps: with it Node reads and parses each bundle's map (about 1 MB of JSON) as the
// module loads, some 10 ms of every cold start, for stack traces that most invocations never print.
// source-map-support reads a map only when a stack trace is formatted (an error logged), and keeps it for the next.
require('source-map-support').install({ environment: 'node', handleUncaughtExceptions: false, hookRequire: false });
