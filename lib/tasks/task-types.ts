import { db } from '#lib/db/client';
import { listTypeStates, releaseHeldTasks, saveTypeSettings } from '#lib/db/task-types';
import { logger } from '#lib/logger';
import { listTaskTypes } from '#lib/tasks/catalog';
import { NotFoundError } from '#lib/tasks/errors';
import { publishAfterCommit, selfPublishMs } from '#lib/tasks/outbox';
import type { TaskTypeItem, UpdateTaskTypeInput } from '#lib/tasks/schemas';
import { findTaskType } from '#lib/tasks/types/index';

// Task types at run time: pause and concurrency limits (the SQL and its rules: lib/db/task-types.ts).

/** The registered task types with their settings and the runs of each in progress. */
export async function listTaskTypesWithState(): Promise<{ items: TaskTypeItem[] }> {
  const { settings, running } = await listTypeStates(db());
  const byName = new Map(settings.map((s) => [s.name, s]));
  return {
    items: listTaskTypes().items.map((t) => ({
      ...t,
      paused: byName.get(t.name)?.paused ?? false,
      concurrency: byName.get(t.name)?.concurrency ?? null,
      running: running.get(t.name) ?? 0,
    })),
  };
}

/**
 * Lets held tasks go as far as their types have room (of `types`, or of every type) and publishes their messages.
 * Returns how many went. A failure is logged, not thrown: the maintenance tries again.
 */
export async function releaseHeld(types?: readonly string[]): Promise<number> {
  try {
    const released = await releaseHeldTasks(db(), selfPublishMs(), types);
    await Promise.all(released.map((row) => publishAfterCommit(row)));
    if (released.length) logger.info('held tasks released', { count: released.length, types: [...new Set(released.map((r) => r.type))] });
    return released.length;
  } catch (err) {
    logger.warn('could not release held tasks; the maintenance will', { types, error: err as Error });
    return 0;
  }
}

/** Pauses, resumes or limits a type; a type given room again lets its held tasks go at once. */
export async function updateTaskType(name: string, change: UpdateTaskTypeInput): Promise<TaskTypeItem> {
  if (!findTaskType(name)) throw new NotFoundError('Task type not found');
  const saved = await saveTypeSettings(db(), name, change);
  logger.info('task type settings changed', { type: name, paused: saved.paused, concurrency: saved.concurrency });
  await releaseHeld([name]);
  const item = (await listTaskTypesWithState()).items.find((t) => t.name === name);
  return item as TaskTypeItem;
}
