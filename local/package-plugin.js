// A Serverless Framework plugin for `serverless package` and `serverless deploy` (which packages first), listed
// before serverless-esbuild so that its hooks run before that plugin's on the same lifecycle event:
//
// - Before anything is bundled, a deployed stage's settings are checked: those serverless.yml hands the functions
//   must pass lib/config.ts's validation (a bad value would fail every invocation), a stage must name the SSM
//   parameter of its database URL, and one without API keys (no parameter naming them) is refused unless its
//   `openApi` parameter says the API is meant to be open; a queue consumer must not reserve less concurrency than its
//   mappings' caps add up to.
// - A stage that names no VPC (local/vpc.js's empty lists) gets no `provider.vpc`, so that its functions run outside
//   any VPC and the role has no network interface permissions.
// - Before the functions are packaged, the dashboard is built into dashboard/dist when it is missing or older than
//   its sources (local/dashboard-build.ts), so that the dashboard function ships the current one.
//
// The TypeScript modules are loaded through tsx, as the scripts do.

const LOCAL_STAGE = 'local';

/** Loads one of the project's TypeScript modules. */
const load = (module) => require('tsx/cjs/api').require(module, __filename);

/**
 * Why a queue consumer's reserved concurrency would throttle its own event source mappings (below the sum of their
 * MaximumConcurrency), or undefined. `functions` is `service.functions` as resolved: a reservation is the
 * `Fn::If` of serverless.yml (its second branch the number, or no reservation at all for `none`).
 */
function concurrencyRefusal(functions) {
  for (const [name, fn] of Object.entries(functions ?? {})) {
    const reserved = fn?.reservedConcurrency;
    const value = reserved?.['Fn::If'] ? reserved['Fn::If'][1] : reserved;
    if (value === undefined || value === null || value === 'none' || typeof value === 'object') continue;
    const caps = (fn.events ?? []).map((e) => Number(e?.sqs?.maximumConcurrency ?? 0)).reduce((sum, c) => sum + c, 0);
    if (Number(value) < caps) {
      return (
        `The function ${name} would reserve ${value} concurrent executions, fewer than its queues' mappings may run ` +
        `(${caps}): Lambda would throttle their batches. Raise its reserved concurrency to at least ${caps}, ` +
        "lower the mappings' caps, or reserve none."
      );
    }
  }
  return undefined;
}

/**
 * Why a stage must not be packaged with these settings, or undefined when it may. `environment` is
 * `provider.environment` as resolved (its queue URLs are CloudFormation references), `openApi` the stage's
 * parameter, `parseConfig` lib/config.ts's.
 */
function deployRefusal({ stage, environment, openApi, parseConfig, functions }) {
  if (stage === LOCAL_STAGE) return undefined;
  const throttled = concurrencyRefusal(functions);
  if (throttled) return `The stage ${stage} would throttle its queue consumers. ${throttled}`;
  const settings = Object.fromEntries(Object.entries(environment ?? {}).filter(([, value]) => typeof value === 'string'));
  let config;
  try {
    config = parseConfig(settings);
  } catch (err) {
    return `The stage ${stage} would not start: ${err.message}`;
  }
  if (config.DATABASE_URL_PARAMETER === undefined) {
    return (
      `The stage ${stage} would have no database: its URL comes from an SSM SecureString parameter, ` +
      'named by --param databaseUrlParameter=/name (docs/deploying.md, Secrets).'
    );
  }
  if (config.API_KEYS.length === 0 && config.API_KEYS_PARAMETER === undefined && openApi !== true) {
    return (
      `The stage ${stage} would have no API keys: anyone who finds its URL could create, read and cancel tasks. ` +
      'Name the SSM SecureString parameter holding them (comma-separated keys of 16 characters or more) with ' +
      '--param apiKeysParameter=/name, or pass --param openApi=true if the API is meant to be open.'
    );
  }
  return undefined;
}

class LocalPackagePlugin {
  constructor(serverless, _options, utils) {
    this.serverless = serverless;
    this.log = utils?.log ?? { notice: console.log, verbose: () => {} };
    this.hooks = {
      'before:package:initialize': () => {
        this.checkStage();
        this.dropEmptyVpc();
        this.emptyWorkFolder();
      },
      'before:deploy:function:initialize': () => this.checkStage(),
      'before:package:createDeploymentArtifacts': () => this.buildDashboard(),
      'before:deploy:function:packageFunction': () => this.buildDashboard(),
    };
  }

  checkStage() {
    const { service } = this.serverless;
    const refusal = deployRefusal({
      stage: this.serverless.getProvider('aws').getStage(),
      environment: service.provider.environment,
      openApi: service.custom?.openApi,
      parseConfig: load('../lib/config.ts').parseConfig,
      functions: service.functions,
    });
    if (refusal) throw new this.serverless.classes.Error(refusal);
  }

  dropEmptyVpc() {
    const { provider } = this.serverless.service;
    if (provider.vpc && !provider.vpc.subnetIds?.length && !provider.vpc.securityGroupIds?.length) delete provider.vpc;
  }

  /** Empties serverless-esbuild's work folder of this stage, so that only this packaging's bundles are zipped. */
  emptyWorkFolder() {
    const folder = this.serverless.service.custom?.esbuild?.outputWorkFolder;
    if (typeof folder !== 'string' || !folder.startsWith('.esbuild/')) return;
    require('node:fs').rmSync(require('node:path').join(this.serverless.serviceDir, folder), { recursive: true, force: true });
  }

  async buildDashboard() {
    const built = await load('./dashboard-build.ts').buildDashboardIfStale();
    this.log.notice(built ? 'Built the dashboard into dashboard/dist' : 'dashboard/dist is up to date');
  }
}

module.exports = LocalPackagePlugin;
module.exports.deployRefusal = deployRefusal;
