import type { z } from 'zod';

/** What a running task can use besides its payload. */
export interface TaskContext {
  /** Fires when the task is cancelled or runs past its timeout. */
  signal: AbortSignal;
  /** Reports progress, 0–100; cheap to call often (writes are throttled). */
  progress(percent: number): void;
}

/** One kind of work the service can run: a name, a payload schema, a default timeout and the work itself. */
export interface TaskType<S extends z.ZodType = z.ZodType> {
  name: string;
  description: string;
  payload: S;
  timeoutMs: number;
  run(payload: z.output<S>, ctx: TaskContext): Promise<unknown>;
}

/** Declares a task type with its payload type inferred from the schema. */
export const defineTaskType = <S extends z.ZodType>(t: TaskType<S>): TaskType<S> => t;
