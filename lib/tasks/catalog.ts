import { z } from 'zod';
import type { TaskTypeItem } from '#lib/tasks/schemas';
import { DEFAULT_TASK_TYPE, TASK_TYPES } from '#lib/tasks/types/index';

type JsonSchema = Record<string, unknown>;

/** A payload's JSON Schema with its descriptions; a root that zod wrote as a `$ref` to its own id is inlined. */
function payloadJsonSchema(schema: z.ZodType): JsonSchema {
  const { $schema: _, ...out } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const { $ref, $defs, ...rest } = out as { $ref?: string; $defs?: Record<string, JsonSchema> };
  const name = $ref?.startsWith('#/$defs/') ? $ref.slice('#/$defs/'.length) : undefined;
  if (!name || !$defs?.[name]) return out;
  // Other definitions stay, for any `$ref` inside the root that points at them.
  const { [name]: root, ...others } = $defs;
  return { ...root, ...rest, ...(Object.keys(others).length ? { $defs: others } : {}) };
}

/** A type as registered in code; its run-time settings come from lib/tasks/task-types.ts. */
export type RegisteredTaskType = Omit<TaskTypeItem, 'paused' | 'concurrency' | 'running'>;

let cached: { items: RegisteredTaskType[] } | undefined;

/** The registered task types with the JSON Schema of their payloads, so that a client can build a form for each. */
export function listTaskTypes(): { items: RegisteredTaskType[] } {
  cached ??= {
    items: Object.values(TASK_TYPES).map((t) => ({
      name: t.name,
      description: t.description,
      default: t.name === DEFAULT_TASK_TYPE,
      timeout_ms: t.timeoutMs,
      payload_schema: payloadJsonSchema(t.payload),
    })),
  };
  return cached;
}
