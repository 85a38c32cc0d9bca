import { sql } from 'drizzle-orm';

/** An array of `type` as one parameter (not a list of them), so that the statement's text does not depend on its length. */
export const arrayOf = (values: readonly unknown[], type: string) => sql`${sql.param(values)}::${sql.raw(type)}[]`;

/** A task id array parameter. */
export const uuids = (ids: readonly string[]) => arrayOf(ids, 'uuid');
