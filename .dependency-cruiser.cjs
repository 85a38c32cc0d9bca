// The layers of the service and what must never import what (docs/architecture.md explains them).
// Checked by `npm run layers`, in CI and by test/unit/layers.test.ts.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'lib-not-to-entry-points',
      comment: 'lib/ is shared code: it never imports a function, a script or the local-only machinery.',
      severity: 'error',
      from: { path: '^lib/' },
      to: { path: '^(functions|scripts|local)/' },
    },
    {
      name: 'domain-not-to-http',
      comment: 'The domain (lib/tasks) knows nothing of HTTP: it throws its own errors, mapped in lib/http/problem.ts.',
      severity: 'error',
      from: { path: '^lib/tasks/' },
      to: { path: '^lib/http/' },
    },
    {
      name: 'data-not-up',
      comment: 'The data layer (lib/db) imports neither the domain, nor HTTP, nor the queue.',
      severity: 'error',
      from: { path: '^lib/db/' },
      to: { path: '^lib/(tasks|http|queue)/' },
    },
    {
      name: 'queue-not-up',
      comment: 'Queue adapters know nothing of tasks or HTTP.',
      severity: 'error',
      from: { path: '^lib/queue/' },
      to: { path: '^lib/(tasks|http)/' },
    },
    {
      name: 'leaves-are-leaves',
      comment: 'The model and the small utilities import nothing else of lib/.',
      severity: 'error',
      from: { path: '^lib/(model|group-commit|concurrency|time)\\.ts$' },
      to: { path: '^lib/', pathNot: '^lib/(model|group-commit|concurrency|time)\\.ts$' },
    },
    {
      name: 'functions-are-thin',
      comment: 'A function reaches the data and queue layers only through the domain (queue event shapes excepted).',
      severity: 'error',
      from: { path: '^functions/' },
      to: { path: '^lib/(db|queue)/', pathNot: '^lib/queue/events\\.ts$' },
    },
    {
      name: 'no-circular',
      comment: 'No import cycles.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
      extensions: ['.ts', '.js', '.json'],
    },
  },
};
