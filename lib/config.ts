import { z } from 'zod';

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

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  STAGE: z.string().min(1).default('local'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .default('postgres://postgres:postgres@127.0.0.1:54329/tasks'),
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
  SQS_QUEUE_URL_TASKS: z.url().optional(),
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
  WORKER_CONCURRENCY: int(1, 256).default(4),
  WORKER_BATCH_SIZE: int(1, 10).default(10),
  OUTBOX_INTERVAL_MS: int(100, 3_600_000).default(3_000),
  API_KEYS: commaList.pipe(z.array(z.string().min(16, 'each key must be at least 16 characters'))),
  /** Origins whose web pages may call the API (CORS); serverless.yml passes them to the gateway (local/cors.js). */
  CORS_ORIGINS: commaList.pipe(z.array(z.string().refine(isOrigin, 'each must be an origin such as https://app.example'))),
  /** A run not heard of for this long is taken for lost; live runs renew their lease every third of it. */
  LEASE_MS: int(1_000, 600_000).default(15_000),
  /** A PENDING task that has waited this long with no outbox row gets its message published again (maintenance). */
  REPUBLISH_PENDING_AFTER_MS: int(60_000, 86_400_000).default(1_800_000),
  LOG_LEVEL: z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT']).default('INFO'),
  /** npm start's console: a line for every request, for all but the dashboard's own (its polling), or for none. */
  LOG_REQUESTS: z.enum(['all', 'api', 'none']).default('api'),
  /** Set by Lambda (and by serverless-offline, which also sets IS_OFFLINE). */
  AWS_LAMBDA_FUNCTION_NAME: z.string().optional(),
  IS_OFFLINE: z.string().optional(),
});

export type Config = z.infer<typeof envSchema>;

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
  const config = parsed.data;
  if (config.EMULATE_MIN_MS > config.EMULATE_MAX_MS) {
    throw new ConfigError('Invalid configuration:\n  EMULATE_MIN_MS: must not be greater than EMULATE_MAX_MS');
  }
  return config;
}

let cached: Config | undefined;

/** The config of this process, read from process.env once. */
export function config(): Config {
  cached ??= parseConfig(process.env);
  return cached;
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
}
