import { db } from '#lib/db/client';
import { findSchedule, listSchedules } from '#lib/db/schedules';
import { NotFoundError } from '#lib/tasks/errors';
import { toSchedule } from '#lib/tasks/mapping';
import type { ListSchedulesQuery, Schedule } from '#lib/tasks/schemas';

// Reading recurring schedules: nothing here changes anything or publishes a message (the read-only functions bundle
// only this).

/** The detail of the 404 for a schedule id that names none. */
export const SCHEDULE_NOT_FOUND = 'Schedule not found';

/** The schedule with this id; NotFoundError when there is none. */
export async function getSchedule(id: string): Promise<Schedule> {
  const row = await findSchedule(db(), id);
  if (!row) throw new NotFoundError(SCHEDULE_NOT_FOUND);
  return toSchedule(row);
}

/** A page of schedules, newest first. */
export async function searchSchedules(q: ListSchedulesQuery) {
  const { items, total } = await listSchedules(db(), q);
  return { items: items.map(toSchedule), total, limit: q.limit, offset: q.offset };
}
