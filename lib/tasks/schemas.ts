import { z } from 'zod';
import { TASK_PRIORITIES, TASK_STATUSES } from '#lib/model';
import { formatBytes, LIST_VALUE_MAX_BYTES } from '#lib/tasks/limits';

/** Rejects NUL characters, which PostgreSQL text cannot store. */
const noNul = (s: string) => !s.includes('\u0000');
/** Beyond this many matching tasks, a list filtered by search or time reports `total` as a lower bound. */
export const TOTAL_COUNT_CAP = 1_000;

/** Where a list page ended: the newest-first order's key of its last task. */
export interface ListPosition {
  created_at: string;
  id: string;
}

/** The opaque `cursor` of a list position (base64url of its key). */
export const encodeListCursor = (p: ListPosition): string => Buffer.from(`${p.created_at}|${p.id}`, 'utf8').toString('base64url');

/** The list position of a cursor; null when it is not one this API made. */
export function decodeListCursor(cursor: string): ListPosition | null {
  const [created_at, id, ...rest] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  if (rest.length || !created_at || !id) return null;
  if (!z.iso.datetime({ precision: 3 }).safeParse(created_at).success || !z.uuid().safeParse(id).success) return null;
  return { created_at, id };
}

const text = (max: number) => z.string().max(max).refine(noNul, 'must not contain NUL characters');

export const TaskStatusSchema = z.enum(TASK_STATUSES).meta({ id: 'TaskStatus' });
export const TaskPrioritySchema = z.enum(TASK_PRIORITIES).meta({ id: 'TaskPriority' });
export const TaskIdSchema = z
  .guid({ error: 'must be a UUID' })
  .meta({ description: 'Task id', example: '0b9f3c3e-1c59-4b43-9a0a-5a7d2f1f4a10' });

const isoTime = z.iso.datetime({ offset: true }).meta({ example: '2026-01-01T12:00:00.000Z' });
// PostgreSQL stores years 1 to 9999 only (and a time zone offset can move a date out of that range).
const isoTimeInRange = isoTime.refine((v) => {
  const year = new Date(v).getUTCFullYear();
  // Not a date at all: the format check above has said so already.
  return Number.isNaN(year) || (year >= 1 && year <= 9999);
}, 'must be between the years 1 and 9999');

export const TitleSchema = z
  .string()
  .trim()
  .min(1, 'must not be blank')
  .max(255, 'must be at most 255 characters')
  .refine(noNul, 'must not contain NUL characters');
export const DescriptionSchema = text(10_000).nullable();
export const PayloadSchema = z
  .record(z.string(), z.unknown())
  .meta({ description: "Input of the task type, validated by the type's schema" });

export const CreateTaskSchema = z
  .strictObject({
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
  })
  .meta({ id: 'CreateTask' });
export type CreateTaskInput = z.output<typeof CreateTaskSchema>;

export const UpdateTaskSchema = z
  .strictObject({
    title: TitleSchema.optional(),
    description: DescriptionSchema.optional(),
    priority: TaskPrioritySchema.optional(),
    payload: PayloadSchema.optional(),
  })
  .refine((v) => Object.keys(v).length > 0, 'at least one of title, description, priority, payload is required')
  .meta({ id: 'UpdateTask' });
export type UpdateTaskInput = z.output<typeof UpdateTaskSchema>;

const statusList = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean),
  )
  .pipe(z.array(TaskStatusSchema).min(1, 'at least one status'))
  .meta({ description: 'One status or several, comma-separated', example: 'PENDING,IN_PROGRESS' });

const intParam = (min: number, max: number, fallback: number) =>
  z
    .string()
    .regex(/^\d{1,9}$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`))
    .default(fallback);

export const ListTasksQuerySchema = z
  .object({
    status: statusList.optional(),
    priority: TaskPrioritySchema.optional(),
    type: text(100).min(1).optional(),
    created_from: isoTimeInRange.optional().meta({ description: 'Created at or after (inclusive)' }),
    created_to: isoTimeInRange.optional().meta({ description: 'Created before (exclusive)' }),
    search: text(200).min(1).optional().meta({ description: 'Case-insensitive substring of title or description' }),
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

export const TaskIdParamsSchema = z.object({ id: TaskIdSchema });

export const TaskSchema = z
  .object({
    id: z.uuid(),
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
  })
  .meta({ id: 'Task' });
export type Task = z.output<typeof TaskSchema>;

const omitted = (what: string) =>
  z.boolean().meta({
    description: `The ${what} is larger than ${formatBytes(LIST_VALUE_MAX_BYTES)} as JSON and left out here (null); GET /api/v1/tasks/{id} has it`,
  });

export const TaskListItemSchema = TaskSchema.extend({
  payload: PayloadSchema.nullable().meta({ description: 'Input of the task type; null when payload_omitted' }),
  payload_omitted: omitted('payload'),
  result: z.unknown().nullable().meta({ description: 'Set on COMPLETED; null when result_omitted' }),
  result_omitted: omitted('result'),
}).meta({ id: 'TaskListItem', description: 'A task as a list shows it: a large payload or result is left out' });
export type TaskListItem = z.output<typeof TaskListItemSchema>;

export const TaskListSchema = z
  .object({
    items: z.array(TaskListItemSchema),
    total: z
      .number()
      .int()
      .meta({
        description: `The tasks matching the filters (all pages). Exact when \`total_exact\`; otherwise at least this many: a search or a time range is counted up to ${TOTAL_COUNT_CAP.toLocaleString('en')}`,
      }),
    total_exact: z.boolean().meta({ description: 'Whether `total` is the exact count (else a lower bound)' }),
    limit: z.number().int(),
    offset: z.number().int(),
    next_cursor: z.string().nullable().meta({ description: 'Pass as `cursor` for the next page; null when this page is the last' }),
  })
  .meta({ id: 'TaskList' });

export const TaskStatusResponseSchema = z.object({ task_id: z.uuid(), status: TaskStatusSchema }).meta({ id: 'TaskStatusResponse' });

export const TaskEventSchema = z
  .object({
    from_status: TaskStatusSchema.nullable(),
    to_status: TaskStatusSchema,
    at: isoTime,
    reason: z.string().nullable(),
  })
  .meta({ id: 'TaskEvent' });
export const TaskEventListSchema = z.object({ items: z.array(TaskEventSchema) }).meta({ id: 'TaskEventList' });

export const HealthSchema = z
  .object({
    status: z.enum(['ok', 'error']),
    checks: z.object({ database: z.string(), queue: z.string() }),
  })
  .meta({ id: 'Health' });

export const ProblemSchema = z
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

/** The `task_intake` message: a create request plus an optional idempotency key. */
export const IntakeMessageSchema = CreateTaskSchema.extend({
  idempotency_key: text(255).min(1).optional(),
}).meta({ id: 'TaskIntakeMessage' });

/** The `tasks` message: one run of one task. */
// Ids are compared with PostgreSQL's, which are lowercase.
export const TaskMessageSchema = z.object({ task_id: z.uuid().toLowerCase() }).meta({ id: 'TaskMessage' });

const count = z.number().int().min(0);
const StatusCountsSchema = z
  .object({ NEW: count, PENDING: count, IN_PROGRESS: count, COMPLETED: count, FAILED: count, CANCELLED: count })
  .meta({ id: 'StatusCounts', description: 'Tasks in each status' });

export const StatsSchema = z
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
      dead_letters: count.nullable().meta({ description: 'Messages in the tasks dead-letter queue; null when it did not answer in time' }),
    }),
  })
  .meta({ id: 'Stats' });
export type Stats = z.output<typeof StatsSchema>;

export const BULK_ACTIONS = ['cancel', 'retry'] as const;

export const BulkActionSchema = z
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

export const BulkActionResultSchema = z
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

export const TaskTypeListSchema = z
  .object({
    items: z.array(
      z.object({
        name: z.string(),
        description: z.string(),
        default: z.boolean().meta({ description: 'The type of a task created without one' }),
        timeout_ms: z.number().int().meta({ description: 'Default (and longest) run of one attempt' }),
        payload_schema: z.record(z.string(), z.unknown()).meta({ description: "JSON Schema of the type's payload" }),
      }),
    ),
  })
  .meta({ id: 'TaskTypeList' });
export type TaskTypeList = z.output<typeof TaskTypeListSchema>;
