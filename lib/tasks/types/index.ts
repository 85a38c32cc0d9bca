import { checksum } from '#lib/tasks/types/checksum';
import type { TaskType } from '#lib/tasks/types/define';
import { emulate } from '#lib/tasks/types/emulate';

export type { TaskContext, TaskType } from '#lib/tasks/types/define';

/** Every task type the service runs, by name. Add a type by writing its module and listing it here. */
export const TASK_TYPES: Readonly<Record<string, TaskType>> = Object.freeze({
  [emulate.name]: emulate as TaskType,
  [checksum.name]: checksum as TaskType,
});

export const TASK_TYPE_NAMES = Object.keys(TASK_TYPES);
export const DEFAULT_TASK_TYPE = emulate.name;

/** The task type registered under `name`, or undefined. */
export const findTaskType = (name: string): TaskType | undefined => (Object.hasOwn(TASK_TYPES, name) ? TASK_TYPES[name] : undefined);
