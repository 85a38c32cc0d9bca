import { describe, expect, it } from 'vitest';
import { newTaskId } from '#lib/db/tasks';
import { shortId } from '../../dashboard/src/format';

describe("the dashboard's short task id", () => {
  it('tells apart tasks created in the same millisecond, whose ids begin alike (UUID version 7)', () => {
    const ids = Array.from({ length: 100 }, () => newTaskId());
    expect(new Set(ids.map((id) => id.slice(0, 8))).size).toBeLessThan(3); // the time: the same for all of them
    expect(new Set(ids.map(shortId)).size).toBe(100);
    for (const id of ids) expect(id.endsWith(shortId(id))).toBe(true);
  });
});
