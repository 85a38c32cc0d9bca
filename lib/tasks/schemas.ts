import { z } from 'zod';
import { TASK_PRIORITIES, TASK_STATUSES } from '#lib/model';
import { canonicalTimeZone, cronProblem } from '#lib/tasks/cron';
import { formatBytes, formatCount, LIST_VALUE_MAX_BYTES } from '#lib/tasks/limits';

// The schemas are marked pure (`/* @__PURE__ */`) and their helpers free of side effects: the bundler then drops
// the ones a function does not use, which it must otherwise keep and build at every cold start (zod's methods
// could have side effects as far as it can tell). Registering a schema's `id` (`.meta`) matters to the OpenAPI
// document only, whose bundles keep every schema of the route manifest.

/** Longest `?wait=` in seconds: API Gateway gives up on a request after 30 s (29 s for Lambda's own timeout). */
export const WAIT_MAX_S = 25;

/** Rejects NUL characters, which PostgreSQL text cannot store. */
/* @__NO_SIDE_EFFECTS__ */
const noNul = (s: string) => !s.includes('\u0000');
/** Beyond this many matching tasks, a list filtered by search or time reports `total` as a lower bound. */
export const TOTAL_COUNT_CAP = 1_000;

/** Where a list page ended: the newest-first order's key of its last task. */
export interface ListPosition {
  created_at: string;
  id: string;
}

/** The opaque `cursor` of a list position (base64url of its key). */
/* @__NO_SIDE_EFFECTS__ */
export const encodeListCursor = (p: ListPosition): string => Buffer.from(`${p.created_at}|${p.id}`, 'utf8').toString('base64url');

/** The list position of a cursor; null when it is not one this API made. */
export function decodeListCursor(cursor: string): ListPosition | null {
  const [created_at, id, ...rest] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  if (rest.length || !created_at || !id) return null;
  if (!z.iso.datetime({ precision: 3 }).safeParse(created_at).success || !z.uuid().safeParse(id).success) return null;
  return { created_at, id };
}

/* @__NO_SIDE_EFFECTS__ */
const text = (max: number) => z.string().max(max).refine(noNul, 'must not contain NUL characters');

export const TaskStatusSchema = /* @__PURE__ */ z.enum(TASK_STATUSES).meta({ id: 'TaskStatus' });
export const TaskPrioritySchema = /* @__PURE__ */ z.enum(TASK_PRIORITIES).meta({ id: 'TaskPriority' });
export const TaskIdSchema = /* @__PURE__ */ z
  .guid({ error: 'must be a UUID' })
  .meta({ description: 'Task id', example: '019ae3f0-1c2a-7b3c-8d4e-5a7d2f1f4a10' });

const isoTime = /* @__PURE__ */ z.iso.datetime({ offset: true }).meta({ example: '2026-01-01T12:00:00.000Z' });
// PostgreSQL stores years 1 to 9999 only (and a time zone offset can move a date out of that range).
const isoTimeInRange = /* @__PURE__ */ isoTime.refine((v) => {
  const year = new Date(v).getUTCFullYear();
  // Not a date at all: the format check above has said so already.
  return Number.isNaN(year) || (year >= 1 && year <= 9999);
}, 'must be between the years 1 and 9999');

export const TitleSchema = /* @__PURE__ */ z
  .string()
  .trim()
  .min(1, 'must not be blank')
  .max(255, 'must be at most 255 characters')
  .refine(noNul, 'must not contain NUL characters');
export const DescriptionSchema = /* @__PURE__ */ text(10_000).nullable();
export const PayloadSchema = /* @__PURE__ */ z
  .record(z.string(), z.unknown())
  .meta({ description: "Input of the task type, validated by the type's schema" });

/** A delay before a task starts; at most a year (a later start is a `run_at`). */
const DelayMsSchema = /* @__PURE__ */ z
  .number()
  .int()
  .min(0)
  .max(31_536_000_000)
  .meta({ description: 'Start this many milliseconds from now, at most a year (not with run_at); 0 is an ordinary create' });
const RunAtSchema = /* @__PURE__ */ isoTimeInRange.meta({
  description: 'Start at this time (not with delay_ms): SCHEDULED until then; a time not in the future is an ordinary create',
  example: '2026-01-01T12:00:00.000Z',
});

/** Longest callback_url: room for a token in it, and still a page of 100 list items fits in a Lambda answer. */
export const CALLBACK_URL_MAX_LENGTH = 1024;

export const CallbackUrlSchema = /* @__PURE__ */ z
  .url({ protocol: /^https?$/, error: 'must be an http or https URL' })
  .max(CALLBACK_URL_MAX_LENGTH, `must be at most ${CALLBACK_URL_MAX_LENGTH} characters`)
  // ASCII only, so that its length is its size: other characters are percent-encoded (and host names punycode).
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII, without spaces (percent-encode other characters)')
  .meta({
    description:
      'Where the service POSTs `{ event, task }` when the task ends (COMPLETED, FAILED or CANCELLED), signed with X-Signature; see GET /api/v1/tasks/{id}/callbacks',
    example: 'https://example.com/hooks/tasks',
  });

/** The fields of a create, without the checks across fields (which an extended schema adds again, see `withSchedule`). */
export const CreateTaskFields = /* @__PURE__ */ z.strictObject({
  type: z.string().min(1).max(100).default('emulate').meta({ description: 'A registered task type', example: 'emulate' }),
  title: TitleSchema.meta({ example: 'Resize uploaded images' }),
  description: DescriptionSchema.optional(),
  priority: TaskPrioritySchema.default('MEDIUM'),
  payload: PayloadSchema.default({}),
  max_attempts: z.number().int().min(1).max(10).optional().meta({ description: 'Attempts allowed (default from DEFAULT_MAX_ATTEMPTS)' }),
  timeout_ms: z
    .number()
    .int()
    .min(100)
    .max(86_400_000)
    .optional()
    .meta({ description: "Longest run of one attempt; at most the type's default timeout, which applies when absent" }),
  run_at: RunAtSchema.optional(),
  delay_ms: DelayMsSchema.optional(),
  callback_url: CallbackUrlSchema.optional(),
});

/** Adds the check that `run_at` and `delay_ms` are not both given (422 on `delay_ms`). */
/* @__NO_SIDE_EFFECTS__ */
const withSchedule = <S extends z.ZodType<{ run_at?: string; delay_ms?: number }>>(schema: S) =>
  schema.refine((v) => v.run_at === undefined || v.delay_ms === undefined, {
    path: ['delay_ms'],
    message: 'give either run_at or delay_ms, not both',
  });

export const CreateTaskSchema = /* @__PURE__ */ withSchedule(CreateTaskFields).meta({ id: 'CreateTask' });
export type CreateTaskInput = z.output<typeof CreateTaskSchema>;

export const UpdateTaskSchema = /* @__PURE__ */ withSchedule(
  z.strictObject({
    title: TitleSchema.optional(),
    description: DescriptionSchema.optional(),
    priority: TaskPrioritySchema.optional(),
    payload: PayloadSchema.optional(),
    run_at: RunAtSchema.optional().meta({ description: 'A new start time, while SCHEDULED only (409 otherwise); not with delay_ms' }),
    delay_ms: DelayMsSchema.optional().meta({
      description: 'A new start this many milliseconds from now, while SCHEDULED only (409 otherwise); not with run_at',
    }),
  }),
)
  .refine((v) => Object.keys(v).length > 0, 'at least one of title, description, priority, payload, run_at, delay_ms is required')
  .meta({ id: 'UpdateTask' });
export type UpdateTaskInput = z.output<typeof UpdateTaskSchema>;

const statusList = /* @__PURE__ */ z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean),
  )
  .pipe(z.array(TaskStatusSchema).min(1, 'at least one status'))
  .meta({ description: 'One status or several, comma-separated', example: 'PENDING,IN_PROGRESS' });

/* @__NO_SIDE_EFFECTS__ */
const intParam = (min: number, max: number, fallback: number) =>
  z
    .string()
    .regex(/^\d{1,9}$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`))
    .default(fallback);

export const ListTasksQuerySchema = /* @__PURE__ */ z
  .object({
    status: statusList.optional(),
    priority: TaskPrioritySchema.optional(),
    type: text(100).min(1).optional(),
    created_from: isoTimeInRange.optional().meta({ description: 'Created at or after (inclusive)' }),
    created_to: isoTimeInRange.optional().meta({ description: 'Created before (exclusive)' }),
    search: text(200).min(1).optional().meta({ description: 'Case-insensitive substring of title or description' }),
    schedule_id: z.guid({ error: 'must be a UUID' }).toLowerCase().optional().meta({ description: 'Created by this recurring schedule' }),
    limit: intParam(1, 100, 20),
    offset: intParam(0, 1_000_000, 0),
    cursor: z
      .string()
      .max(200)
      .optional()
      .transform((v, ctx) => {
        if (v === undefined) return undefined;
        const at = decodeListCursor(v);
        if (!at) ctx.addIssue({ code: 'custom', message: 'not a cursor this API gave (next_cursor)' });
        return at ?? undefined;
      })
      .meta({
        description:
          'The `next_cursor` of the page before: the page after it (keyset paging, as fast at any depth; `offset` must then be 0)',
      }),
  })
  .superRefine((q, ctx) => {
    if (q.cursor && q.offset > 0) ctx.addIssue({ code: 'custom', path: ['offset'], message: 'must be 0 (or left out) with a cursor' });
  })
  .meta({ id: 'ListTasksQuery' });
export type ListTasksQuery = z.output<typeof ListTasksQuerySchema>;

export const TaskIdParamsSchema = /* @__PURE__ */ z.object({ id: TaskIdSchema });

export const TaskSchema = /* @__PURE__ */ z
  .object({
    id: z.uuid().meta({ description: 'UUID version 7: its first 48 bits are the time of creation, in milliseconds' }),
    type: z.string(),
    title: z.string(),
    description: z.string().nullable(),
    priority: TaskPrioritySchema,
    payload: PayloadSchema,
    status: TaskStatusSchema,
    result: z.unknown().nullable().meta({ description: 'Set on COMPLETED' }),
    error: z.string().nullable().meta({ description: 'Set on FAILED, and on a failed attempt that will be retried' }),
    attempts: z.number().int(),
    max_attempts: z.number().int().min(1).max(10),
    timeout_ms: z.number().int().nullable().meta({ description: "Longest run of one attempt (null: the type's default)" }),
    progress: z.number().int().min(0).max(100).nullable(),
    created_at: isoTime,
    updated_at: isoTime,
    started_at: isoTime.nullable(),
    finished_at: isoTime.nullable(),
    schedule_id: z.uuid().nullable().meta({ description: 'The recurring schedule that created the task (null if none, or deleted)' }),
    run_at: isoTime.nullable().meta({ description: 'When the task was to start (run_at or delay_ms of the create); null: at once' }),
    callback_url: z.string().nullable().meta({ description: 'Where the service POSTs the task when it ends' }),
  })
  .meta({ id: 'Task' });
export type Task = z.output<typeof TaskSchema>;

/* @__NO_SIDE_EFFECTS__ */
const omitted = (what: string) =>
  z.boolean().meta({
    description: `The ${what} is larger than ${formatBytes(LIST_VALUE_MAX_BYTES)} as JSON and left out here (null); GET /api/v1/tasks/{id} has it`,
  });

export const TaskListItemSchema = /* @__PURE__ */ TaskSchema.extend({
  payload: PayloadSchema.nullable().meta({ description: 'Input of the task type; null when payload_omitted' }),
  payload_omitted: omitted('payload'),
  result: z.unknown().nullable().meta({ description: 'Set on COMPLETED; null when result_omitted' }),
  result_omitted: omitted('result'),
}).meta({ id: 'TaskListItem', description: 'A task as a list shows it: a large payload or result is left out' });
export type TaskListItem = z.output<typeof TaskListItemSchema>;

export const TaskListSchema = /* @__PURE__ */ z
  .object({
    items: z.array(TaskListItemSchema),
    total: z
      .number()
      .int()
      .meta({
        description: `The tasks matching the filters (all pages). Exact when \`total_exact\`; otherwise at least this many: a search or a time range is counted up to ${formatCount(TOTAL_COUNT_CAP)}`,
      }),
    total_exact: z.boolean().meta({ description: 'Whether `total` is the exact count (else a lower bound)' }),
    limit: z.number().int(),
    offset: z.number().int(),
    next_cursor: z.string().nullable().meta({ description: 'Pass as `cursor` for the next page; null when this page is the last' }),
  })
  .meta({ id: 'TaskList' });

export const TaskStatusResponseSchema = /* @__PURE__ */ z
  .object({ task_id: z.uuid(), status: TaskStatusSchema })
  .meta({ id: 'TaskStatusResponse' });

export const TaskEventSchema = /* @__PURE__ */ z
  .object({
    from_status: TaskStatusSchema.nullable(),
    to_status: TaskStatusSchema,
    at: isoTime,
    reason: z.string().nullable(),
    attempt: z
      .number()
      .int()
      .nullable()
      .meta({ description: 'On the events of a failed attempt (to PENDING or FAILED): its number; else null' }),
    error: z.string().nullable().meta({ description: "On the events of a failed attempt: the attempt's error; else null" }),
  })
  .meta({ id: 'TaskEvent' });
export const TaskEventListSchema = /* @__PURE__ */ z.object({ items: z.array(TaskEventSchema) }).meta({ id: 'TaskEventList' });

export const CallbackAttemptSchema = /* @__PURE__ */ z
  .object({
    delivery_id: z.uuid().meta({ description: 'The X-Delivery-Id of the delivery: the same for every attempt of it' }),
    event: z.enum(['task.completed', 'task.failed', 'task.cancelled']),
    attempt: z.number().int().min(1).meta({ description: 'The number of the attempt within its delivery, from 1' }),
    at: isoTime.meta({ description: 'When the attempt ended' }),
    status_code: z.number().int().nullable().meta({ description: "The receiver's HTTP status; null when none came" }),
    error: z
      .string()
      .nullable()
      .meta({ description: 'Why the attempt failed (no answer, refused target, a non-2xx status); null when delivered' }),
    duration_ms: z.number().int().nullable(),
  })
  .meta({ id: 'CallbackAttempt' });
export const CallbackAttemptListSchema = /* @__PURE__ */ z
  .object({ items: z.array(CallbackAttemptSchema) })
  .meta({ id: 'CallbackAttemptList' });

export const HealthSchema = /* @__PURE__ */ z
  .object({
    status: z.enum(['ok', 'error']),
    checks: z.object({ database: z.string(), queue: z.string() }),
  })
  .meta({ id: 'Health' });

export const ProblemSchema = /* @__PURE__ */ z
  .object({
    type: z.string().meta({ example: 'about:blank' }),
    title: z.string().meta({ example: 'Not Found' }),
    status: z.number().int().meta({ example: 404 }),
    detail: z.string().meta({ example: 'Task not found' }),
    instance: z.string().optional(),
    request_id: z.string().optional(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: 'Problem' });

/** A create request plus an optional idempotency key: a `task_intake` message, an item of a batch create. */
export const IntakeMessageSchema = /* @__PURE__ */ withSchedule(
  CreateTaskFields.extend({
    idempotency_key: text(255)
      .min(1)
      .optional()
      .meta({ description: 'A repeat with the same key and body within 24 hours gives the first task and creates nothing' }),
  }),
).meta({ id: 'TaskIntakeMessage' });
export type KeyedCreateInput = z.output<typeof IntakeMessageSchema>;

/** Most tasks in one batch create. */
export const BATCH_MAX = 100;

export const CreateTaskBatchSchema = /* @__PURE__ */ z
  .strictObject({
    tasks: z
      .array(IntakeMessageSchema)
      .min(1, 'at least one task')
      .max(BATCH_MAX, `at most ${BATCH_MAX} tasks`)
      .meta({ description: 'Create bodies, each with an optional idempotency_key; the whole request is at most 256 KiB' }),
  })
  .meta({ id: 'CreateTaskBatch' });
export type CreateTaskBatchInput = z.output<typeof CreateTaskBatchSchema>;

export const TaskBatchSchema = /* @__PURE__ */ z
  .object({ items: z.array(TaskSchema).meta({ description: 'The tasks, in the order of the request' }) })
  .meta({ id: 'TaskBatch' });

const WaitSchema = /* @__PURE__ */ z
  .string()
  .regex(/^\d{1,9}$/, 'must be a whole number of seconds')
  .transform(Number)
  .pipe(z.number().min(1, 'must be at least 1').max(WAIT_MAX_S, `must be at most ${WAIT_MAX_S}`))
  .optional()
  .meta({
    description: `Seconds (1-${WAIT_MAX_S}) to wait for the task to finish: the answer comes as soon as it is COMPLETED, FAILED or CANCELLED, or after this long with the task as it is then`,
    example: '10',
  });

export const WaitQuerySchema = /* @__PURE__ */ z.object({ wait: WaitSchema }).meta({ id: 'WaitQuery' });
export type WaitQuery = z.output<typeof WaitQuerySchema>;

/** The `tasks` message: one run of one task. */
// Ids are compared with PostgreSQL's, which are lowercase.
export const TaskMessageSchema = /* @__PURE__ */ z.object({ task_id: z.uuid().toLowerCase() }).meta({ id: 'TaskMessage' });

const count = /* @__PURE__ */ z.number().int().min(0);
const StatusCountsSchema = /* @__PURE__ */ z
  .object({ SCHEDULED: count, NEW: count, PENDING: count, IN_PROGRESS: count, COMPLETED: count, FAILED: count, CANCELLED: count })
  .meta({ id: 'StatusCounts', description: 'Tasks in each status' });

export const StatsSchema = /* @__PURE__ */ z
  .object({
    generated_at: isoTime,
    total: count.meta({ description: 'All tasks' }),
    by_status: StatusCountsSchema,
    by_type: z
      .array(z.object({ type: z.string(), total: count, by_status: StatusCountsSchema }))
      .meta({ description: 'Every registered type (with zeros) and any other type found in the table, by name' }),
    throughput: z
      .array(
        z.object({
          minute: isoTime.meta({ description: 'Start of the minute' }),
          created: count,
          completed: count.meta({ description: 'Runs that ended COMPLETED in this minute' }),
          failed: count.meta({ description: 'Runs that ended FAILED in this minute' }),
        }),
      )
      .meta({ description: 'The last 60 minutes, oldest first; the last entry is the current minute so far' }),
    queue: z.object({
      driver: z.enum(['postgres', 'rabbitmq', 'sqs']),
      depth: count.nullable().meta({ description: 'Messages waiting in the tasks queue; null when the queue did not answer in time' }),
      dead_letters: count.meta({ description: 'Dead letters recorded, of both queues (GET /api/v1/dead-letters)' }),
      dead_letters_by_queue: z.object({ tasks: count, task_intake: count }).meta({ description: 'Dead letters recorded, by queue' }),
    }),
  })
  .meta({ id: 'Stats' });
export type Stats = z.output<typeof StatsSchema>;

export const BULK_ACTIONS = ['cancel', 'retry'] as const;

export const BulkActionSchema = /* @__PURE__ */ z
  .strictObject({
    action: z.enum(BULK_ACTIONS).meta({ description: 'What to do to each task: as DELETE /api/v1/tasks/{id} or POST .../retry' }),
    ids: z
      .array(TaskIdSchema.toLowerCase())
      .min(1, 'at least one id')
      .max(100, 'at most 100 ids')
      .meta({ description: 'Tasks to act on (repeats count once)' }),
  })
  .meta({ id: 'BulkAction' });
export type BulkActionInput = z.output<typeof BulkActionSchema>;

export const BulkActionResultSchema = /* @__PURE__ */ z
  .object({
    action: z.enum(BULK_ACTIONS),
    succeeded: count,
    failed: count,
    items: z
      .array(
        z.object({
          id: z.uuid(),
          status: z.number().int().meta({ description: 'The status the single-task route would have answered: 200, 404, 409 or 500' }),
          task: z.union([TaskSchema, z.null()]),
          error: z.string().nullable().meta({ description: 'Why the action was refused, when it was' }),
        }),
      )
      .meta({ description: 'One result per id, in the order given: the task after the action, or why it was refused' }),
  })
  .meta({ id: 'BulkActionResult' });
export type BulkActionResult = z.output<typeof BulkActionResultSchema>;

export const TaskTypeSchema = /* @__PURE__ */ z
  .object({
    name: z.string(),
    description: z.string(),
    default: z.boolean().meta({ description: 'The type of a task created without one' }),
    timeout_ms: z.number().int().meta({ description: 'Default (and longest) run of one attempt' }),
    payload_schema: z.record(z.string(), z.unknown()).meta({ description: "JSON Schema of the type's payload" }),
    paused: z.boolean().meta({ description: 'While true no run of the type starts; its tasks wait in PENDING' }),
    concurrency: z
      .number()
      .int()
      .nullable()
      .meta({ description: 'Most runs of the type at once across all processes and instances; null for no limit' }),
    running: z.number().int().meta({ description: 'Runs of the type in progress now' }),
  })
  .meta({ id: 'TaskType' });
export type TaskTypeItem = z.output<typeof TaskTypeSchema>;

export const TaskTypeListSchema = /* @__PURE__ */ z.object({ items: z.array(TaskTypeSchema) }).meta({ id: 'TaskTypeList' });

export const TaskTypeParamsSchema = /* @__PURE__ */ z.object({
  name: z.string().min(1).max(100).meta({ description: 'The name of a registered task type' }),
});

export const UpdateTaskTypeSchema = /* @__PURE__ */ z
  .strictObject({
    paused: z.boolean().optional().meta({ description: 'Pause (true) or resume (false) the starting of runs' }),
    concurrency: z
      .number()
      .int()
      .min(1)
      .max(10_000)
      .nullable()
      .optional()
      .meta({ description: 'Most runs at once across all processes; null removes the limit' }),
  })
  .meta({ id: 'UpdateTaskType' });
export type UpdateTaskTypeInput = z.output<typeof UpdateTaskTypeSchema>;
export type TaskTypeList = z.output<typeof TaskTypeListSchema>;

export const ScheduleIdParamsSchema = /* @__PURE__ */ z.object({
  id: z.guid({ error: 'must be a UUID' }).meta({ description: 'Schedule id', example: '5c1d0a8e-7f0e-4c52-9d1b-3a2f6e9b8c41' }),
});

const ScheduleNameSchema = /* @__PURE__ */ z
  .string()
  .trim()
  .min(1, 'must not be blank')
  .max(200, 'must be at most 200 characters')
  .refine(noNul, 'must not contain NUL characters')
  .meta({ description: 'Unique among the schedules', example: 'nightly-report' });

const CronSchema = /* @__PURE__ */ z
  .string()
  .max(200, 'must be at most 200 characters')
  .superRefine((cron, ctx) => {
    const problem = cronProblem(cron);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .meta({
    description: 'Five fields: minute hour day-of-month month day-of-week (Vixie cron: `*`, lists, ranges, steps, names)',
    example: '30 2 * * *',
  });

const TimeZoneSchema = /* @__PURE__ */ z
  .string()
  .max(100)
  .transform((name, ctx) => {
    const canonical = canonicalTimeZone(name);
    if (!canonical) ctx.addIssue({ code: 'custom', message: 'must be an IANA time zone name such as Europe/Berlin or UTC' });
    return canonical ?? name;
  })
  .meta({ description: 'IANA time zone that the cron expression is read in', example: 'Europe/Berlin' });

/** The task a schedule creates at each due time: a create body (the schedule says when it runs). */
export const ScheduleTaskSchema = /* @__PURE__ */ CreateTaskFields.omit({ run_at: true, delay_ms: true }).meta({
  id: 'ScheduleTask',
  description: 'A task create body: the task each due time creates',
});

export const CreateScheduleSchema = /* @__PURE__ */ z
  .strictObject({
    name: ScheduleNameSchema,
    cron: CronSchema,
    timezone: TimeZoneSchema.default('UTC'),
    task: ScheduleTaskSchema,
    enabled: z.boolean().default(true),
  })
  .meta({ id: 'CreateSchedule' });
export type CreateScheduleInput = z.output<typeof CreateScheduleSchema>;

export const UpdateScheduleSchema = /* @__PURE__ */ z
  .strictObject({
    name: ScheduleNameSchema.optional(),
    cron: CronSchema.optional(),
    timezone: TimeZoneSchema.optional(),
    task: ScheduleTaskSchema.optional().meta({ description: 'Replaces the whole task body' }),
    enabled: z.boolean().optional(),
  })
  .refine((v) => Object.keys(v).length > 0, 'at least one of name, cron, timezone, task, enabled is required')
  .meta({ id: 'UpdateSchedule' });
export type UpdateScheduleInput = z.output<typeof UpdateScheduleSchema>;

export const ListSchedulesQuerySchema = /* @__PURE__ */ z
  .object({ limit: intParam(1, 100, 20), offset: intParam(0, 1_000_000, 0) })
  .meta({ id: 'ListSchedulesQuery' });
export type ListSchedulesQuery = z.output<typeof ListSchedulesQuerySchema>;

export const ScheduleSchema = /* @__PURE__ */ z
  .object({
    id: z.uuid(),
    name: z.string(),
    cron: z.string(),
    timezone: z.string(),
    task: ScheduleTaskSchema,
    enabled: z.boolean(),
    next_run_at: isoTime.nullable().meta({ description: 'The next due time; null while disabled' }),
    last_run_at: isoTime.nullable().meta({ description: 'When the last run (due or triggered) created its task' }),
    created_at: isoTime,
    updated_at: isoTime,
  })
  .meta({ id: 'Schedule' });
export type Schedule = z.output<typeof ScheduleSchema>;

export const ScheduleListSchema = /* @__PURE__ */ z
  .object({ items: z.array(ScheduleSchema), total: z.number().int(), limit: z.number().int(), offset: z.number().int() })
  .meta({ id: 'ScheduleList' });
export const DEAD_LETTER_QUEUES = ['tasks', 'task_intake'] as const;
export const DeadLetterQueueSchema = /* @__PURE__ */ z
  .enum(DEAD_LETTER_QUEUES)
  .meta({ id: 'DeadLetterQueue', description: 'The queue a dead letter came from' });

export const DeadLetterSchema = /* @__PURE__ */ z
  .object({
    id: z.uuid(),
    queue: DeadLetterQueueSchema,
    task_id: z.uuid().nullable().meta({ description: 'The task the message is about (tasks queue), if it still exists' }),
    reason: z.string().meta({ description: 'Why the message will never be handled as it is' }),
    body: z.string().meta({ description: 'The message as it was received' }),
    failed_at: isoTime,
    receive_count: count.meta({ description: 'Deliveries of the message before it was given up' }),
  })
  .meta({ id: 'DeadLetter' });
export type DeadLetter = z.output<typeof DeadLetterSchema>;

export const ListDeadLettersQuerySchema = /* @__PURE__ */ z
  .object({
    queue: DeadLetterQueueSchema.optional().meta({ description: 'One queue; both when absent' }),
    limit: intParam(1, 100, 20),
    offset: intParam(0, 1_000_000, 0),
  })
  .meta({ id: 'ListDeadLettersQuery' });
export type ListDeadLettersQuery = z.output<typeof ListDeadLettersQuerySchema>;

export const DeadLetterListSchema = /* @__PURE__ */ z
  .object({ items: z.array(DeadLetterSchema), total: count, limit: count, offset: count })
  .meta({ id: 'DeadLetterList' });

export const DeadLetterIdParamsSchema = /* @__PURE__ */ z.object({ id: z.guid({ error: 'must be a UUID' }).toLowerCase() });

export const RedriveResultSchema = /* @__PURE__ */ z
  .object({
    dead_letter: DeadLetterSchema.meta({ description: 'The dead letter, now removed' }),
    task: z.union([TaskSchema, z.null()]).meta({
      description: 'tasks: the task, back in PENDING (or as it was when it was already on its way); task_intake: null',
    }),
  })
  .meta({ id: 'RedriveResult' });
export type RedriveResult = z.output<typeof RedriveResultSchema>;

/** Most dead letters one bulk redrive takes. */
export const REDRIVE_MAX = 100;

export const RedriveDeadLettersSchema = /* @__PURE__ */ z
  .strictObject({
    queue: DeadLetterQueueSchema,
    ids: z
      .array(z.guid({ error: 'must be a UUID' }).toLowerCase())
      .min(1, 'at least one id')
      .max(REDRIVE_MAX, `at most ${REDRIVE_MAX} ids`)
      .optional()
      .meta({ description: `Dead letters of that queue to redrive; when absent, its oldest ${REDRIVE_MAX}` }),
  })
  .meta({ id: 'RedriveDeadLetters' });
export type RedriveDeadLettersInput = z.output<typeof RedriveDeadLettersSchema>;

export const RedriveManyResultSchema = /* @__PURE__ */ z
  .object({
    queue: DeadLetterQueueSchema,
    succeeded: count,
    failed: count,
    remaining: count.meta({ description: 'Dead letters of the queue left afterwards' }),
    items: z
      .array(
        z.object({
          id: z.uuid(),
          status: z
            .number()
            .int()
            .meta({ description: 'What POST /api/v1/dead-letters/{id}/redrive would have answered: 200, 404, 409 or 500' }),
          task: z.union([TaskSchema, z.null()]),
          error: z.string().nullable().meta({ description: 'Why the redrive was refused, when it was' }),
        }),
      )
      .meta({ description: 'One result per dead letter, in order' }),
  })
  .meta({ id: 'RedriveManyResult' });
export type RedriveManyResult = z.output<typeof RedriveManyResultSchema>;
