import { z } from 'zod';

// zod compiles a fast path for each object schema (`new Function`) the first time it parses one: 1 to 4 ms per
// schema, paid again in every cold start (the config's schema alone: about 3.5 ms), to save a microsecond or two
// on later parses of this service's small objects (measured: 3 to 5 us a request body either way). Off, for
// every schema of the process.
z.config({ jitless: true });

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** A comma-separated list, blanks dropped. */
const commaList = z
  .string()
  .default('')
  .transform((v) =>
    v
      .split(',')
      .map((k) => k.trim())
      .filter(Boolean),
  );

/** Whether a string is a web origin as browsers send it: http(s), host and port, nothing after. */
const isOrigin = (s: string) => {
  try {
    const url = new URL(s);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === s;
  } catch {
    return false;
  }
};

/** An SSM parameter name: a path of letters, digits and `_.-/`, as SSM allows; `none` for no parameter. */
const ssmName = z
  .string()
  .regex(/^[A-Za-z0-9_.\-/]{1,1011}$/, 'must be an SSM parameter name such as /service/stage/name')
  .transform((name) => (name === 'none' ? undefined : name));

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  STAGE: z.string().min(1).default('local'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .default('postgres://postgres:postgres@127.0.0.1:54329/tasks'),
  /**
   * Deployed stages: the names of SSM SecureString parameters holding DATABASE_URL and API_KEYS, read at run time
   * (lib/secrets.ts) instead of the two variables, which then stay out of the function's environment.
   */
  DATABASE_URL_PARAMETER: ssmName.optional(),
  API_KEYS_PARAMETER: ssmName.optional(),
  /** How long a secret read from SSM is kept before it is read again (a rotated API key takes effect within it). */
  SECRETS_MAX_AGE_S: int(1, 86_400).default(300),
  DATABASE_POOL_MAX: int(1, 100).default(10),
  DATABASE_STATEMENT_TIMEOUT_MS: int(100, 600_000).default(15_000),
  DATABASE_POOL_WAIT_MS: int(100, 60_000).default(10_000),
  QUEUE_DRIVER: z.enum(['postgres', 'rabbitmq', 'sqs']).default('postgres'),
  QUEUE_NAMESPACE: z
    .string()
    .regex(/^[a-z0-9_-]{0,40}$/i, 'letters, digits, - and _ only (up to 40)')
    .default(''),
  RABBITMQ_URL: z
    .string()
    .regex(/^amqps?:\/\//, 'must be an amqp:// or amqps:// URL')
    .default('amqp://guest:guest@127.0.0.1:5672'),
  RABBITMQ_PREFETCH: int(1, 1000).optional(),
  RABBITMQ_QUEUE_EXPIRES_MS: int(1_000, 2_147_483_647).optional(),
  /** The tasks queue is one SQS queue per priority band (lib/queue/sqs.ts). */
  SQS_QUEUE_URL_TASKS_HIGH: z.url().optional(),
  SQS_QUEUE_URL_TASKS_MEDIUM: z.url().optional(),
  SQS_QUEUE_URL_TASKS_LOW: z.url().optional(),
  SQS_QUEUE_URL_TASK_INTAKE: z.url().optional(),
  SQS_QUEUE_URL_TASKS_DLQ: z.url().optional(),
  SQS_QUEUE_URL_TASK_INTAKE_DLQ: z.url().optional(),
  AWS_REGION: z.string().min(1).default('us-east-1'),
  SQS_WAIT_TIME_SECONDS: int(0, 20).default(20),
  QUEUE_PUBLISH_TIMEOUT_MS: int(100, 60_000).default(2_000),
  DEFAULT_MAX_ATTEMPTS: int(1, 10).default(1),
  TASK_RESULT_MAX_BYTES: int(64, 2 * 1024 * 1024).default(1024 * 1024),
  EMULATE_MIN_MS: int(0, 600_000).default(5_000),
  EMULATE_MAX_MS: int(0, 600_000).default(10_000),
  EMULATE_FAILURE_RATE: z.coerce.number().min(0).max(1).default(0.2),
  RETRY_BASE_MS: int(0, 3_600_000).default(1_000),
  RETRY_MAX_MS: int(0, 86_400_000).default(60_000),
  CANCEL_CHECK_MS: int(50, 60_000).default(500),
  /** Task runs the local bridge has going at once (slots, per queue); the next starts as soon as one ends. */
  WORKER_CONCURRENCY: int(1, 1000).default(32),
  /** Messages per local invocation: one, so that each slot frees when its own task ends (see docs/design-notes.md). */
  WORKER_BATCH_SIZE: int(1, 10).default(1),
  OUTBOX_INTERVAL_MS: int(100, 3_600_000).default(3_000),
  /** How often the dispatcher looks for recurring schedules that are due (within its run, see functions/dispatcher.ts). */
  SCHEDULE_TICK_MS: int(100, 60_000).default(1_000),
  /** Longest pause of the releaser of scheduled tasks (it wakes sooner when the next one is due). */
  RELEASE_INTERVAL_MS: int(20, 60_000).default(250),
  API_KEYS: commaList.pipe(z.array(z.string().min(16, 'each key must be at least 16 characters'))),
  /** Origins whose web pages may call the API (CORS); serverless.yml passes them to the gateway (local/cors.js). */
  CORS_ORIGINS: commaList.pipe(z.array(z.string().refine(isOrigin, 'each must be an origin such as https://app.example'))),
  /** A run not heard of for this long is taken for lost; live runs renew their lease every third of it. */
  LEASE_MS: int(1_000, 600_000).default(15_000),
  /** A PENDING task that has waited this long with no outbox row gets its message published again (maintenance). */
  REPUBLISH_PENDING_AFTER_MS: int(60_000, 86_400_000).default(1_800_000),
  /** Key of the HMAC-SHA256 signature of callbacks (X-Signature); unset, a deployed stage refuses `callback_url` (422). */
  CALLBACK_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
  /**
   * Which non-public callback targets are allowed: `false` none (public unicast addresses only), `loopback` also
   * 127.0.0.0/8 and ::1, `true` every address. Default: `loopback` on the local stage, `false` elsewhere.
   */
  CALLBACK_ALLOW_PRIVATE: z.enum(['false', 'loopback', 'true']).optional(),
  /** Longest wait for a callback's answer (connection, headers and body). */
  CALLBACK_TIMEOUT_MS: int(100, 60_000).default(10_000),
  /** Callback POSTs in flight at once, per sender. */
  CALLBACK_CONCURRENCY: int(1, 64).default(8),
  /** The first retry of a failed callback after this; the next after 3, 6, 30, 90, 180 and 360 times it (10 s .. 1 h). */
  CALLBACK_RETRY_BASE_MS: int(10, 3_600_000).default(10_000),
  /** The longest pause between two attempts of a callback. */
  CALLBACK_RETRY_MAX_MS: int(10, 86_400_000).default(3_600_000),
  /** A callback is retried for this long after the task ended, then given up (state `failed`). */
  CALLBACK_RETRY_FOR_MS: int(0, 7 * 86_400_000).default(86_400_000),
  /** How often a sender looks for due callbacks when no notification woke it. */
  CALLBACK_POLL_MS: int(50, 60_000).default(2_000),
  /** Finished tasks older than this many days are deleted with their events and dead letters (maintenance); 0 keeps all. */
  RETENTION_DAYS: int(0, 36_500).default(30),
  LOG_LEVEL: z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT']).default('INFO'),
  /** npm start's console: a line for every request, for all but the dashboard's own (its polling), or for none. */
  LOG_REQUESTS: z.enum(['all', 'api', 'none']).default('api'),
  /** Set by Lambda (and by serverless-offline, which also sets IS_OFFLINE). */
  AWS_LAMBDA_FUNCTION_NAME: z.string().optional(),
  IS_OFFLINE: z.string().optional(),
});

/** The local stage's callback key, so that `npm start` signs callbacks without setup; never used by a deployed stage. */
export const LOCAL_CALLBACK_SECRET = 'local-callback-secret-not-for-deployment';

export type Config = z.infer<typeof envSchema> & { CALLBACK_ALLOW_PRIVATE: 'false' | 'loopback' | 'true' };

/** Raised when an environment variable has a value the service cannot run with. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses and validates a set of environment variables into the service's config. */
export function parseConfig(env: NodeJS.ProcessEnv): Config {
  const clean = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(clean);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const local = parsed.data.STAGE === 'local';
  const config: Config = {
    ...parsed.data,
    CALLBACK_SECRET: parsed.data.CALLBACK_SECRET ?? (local ? LOCAL_CALLBACK_SECRET : undefined),
    CALLBACK_ALLOW_PRIVATE: parsed.data.CALLBACK_ALLOW_PRIVATE ?? (local ? 'loopback' : 'false'),
  };
  if (config.EMULATE_MIN_MS > config.EMULATE_MAX_MS) {
    throw new ConfigError('Invalid configuration:\n  EMULATE_MIN_MS: must not be greater than EMULATE_MAX_MS');
  }
  return config;
}

/** The settings that may come from a secret, and the setting naming the secret of each. */
export const SECRET_SETTINGS = { DATABASE_URL: 'DATABASE_URL_PARAMETER', API_KEYS: 'API_KEYS_PARAMETER' } as const;
export type SecretSetting = keyof typeof SECRET_SETTINGS;

let cached: Config | undefined;
/** The secrets read so far (lib/secrets.ts's loadSecrets), over process.env. */
let secrets: Partial<Record<SecretSetting, string>> = {};

/**
 * The config of this process, read from process.env once, with the secrets loadSecrets() read. A setting whose
 * secret is named but not read yet throws when used, rather than falling back to its local default.
 */
export function config(): Config {
  if (cached) return cached;
  const c = parseConfig({ ...process.env, ...secrets });
  for (const [setting, parameter] of Object.entries(SECRET_SETTINGS) as [SecretSetting, keyof Config][]) {
    if (c[parameter] === undefined || secrets[setting] !== undefined) continue;
    Object.defineProperty(c, setting, {
      get() {
        throw new ConfigError(`${setting} comes from the SSM parameter ${c[parameter]}: await loadSecrets() before using it`);
      },
    });
  }
  cached = c;
  return c;
}

/** Puts the values of secrets into the config (lib/secrets.ts); the next config() parses them, if they changed. */
export function applySecrets(values: Partial<Record<SecretSetting, string>>): void {
  const next = { ...secrets, ...values };
  if (Object.entries(next).every(([k, v]) => secrets[k as SecretSetting] === v)) return;
  secrets = next;
  cached = undefined;
}

/** Whether this process is a Lambda container, which may be frozen as soon as a handler has answered. */
export function onLambda(c: Config = config()): boolean {
  return c.AWS_LAMBDA_FUNCTION_NAME !== undefined && c.IS_OFFLINE === undefined;
}

/** How often a running task checks its lease and whether it was cancelled: every CANCEL_CHECK_MS, at least three times a lease. */
export function runCheckEveryMs(c: Config = config()): number {
  return Math.min(c.CANCEL_CHECK_MS, c.LEASE_MS / 3);
}

/** Forgets the cached config so that the next call reads process.env again (tests and scripts that change it). */
export function resetConfig(): void {
  cached = undefined;
  secrets = {};
}
