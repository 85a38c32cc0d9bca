import { describe, expect, it } from 'vitest';
import { parseConfig } from '#lib/config';
import { formatBytes, LIST_VALUE_MAX_BYTES } from '#lib/tasks/limits';
import { toTaskListItem } from '#lib/tasks/mapping';
import { CALLBACK_URL_MAX_LENGTH, TaskListSchema } from '#lib/tasks/schemas';

describe('size limits', () => {
  it('a page of 100 of the largest list items fits in a Lambda response (6 MB), even in 3-byte characters', () => {
    const value = { text: 'a'.repeat(LIST_VALUE_MAX_BYTES - 12) }; // 8 KiB as PostgreSQL writes it
    const at = new Date('2026-01-01T00:00:00Z');
    const item = toTaskListItem({
      id: '0b9f3c3e-1c59-4b43-9a0a-5a7d2f1f4a10',
      type: 'checksum',
      title: '€'.repeat(255),
      description: '€'.repeat(10_000),
      priority: 'MEDIUM',
      payload: value,
      payload_omitted: false,
      status: 'FAILED',
      result: value,
      result_omitted: false,
      error: '€'.repeat(2_000),
      attempts: 10,
      max_attempts: 10,
      timeout_ms: 86_400_000,
      progress: 100,
      idempotency_key: null,
      request_hash: null,
      schedule_id: '5c1d0a8e-7f0e-4c52-9d1b-3a2f6e9b8c41',
      schedule_due_at: at,
      request_id: null,
      created_at: at,
      updated_at: at,
      started_at: at,
      finished_at: at,
      heartbeat_at: null,
      held_at: null,
      run_at: null,
      callback_url: `https://example.com/${'a'.repeat(CALLBACK_URL_MAX_LENGTH - 20)}`,
    });
    const page = {
      items: Array.from({ length: 100 }, () => item),
      total: 1_000_000,
      total_exact: true,
      limit: 100,
      offset: 999_900,
      next_cursor: 'x'.repeat(80),
    };
    expect(TaskListSchema.safeParse(page).success).toBe(true);
    const bytes = Buffer.byteLength(JSON.stringify(page));
    expect(bytes).toBeLessThan(5_500_000);
  });

  it('results are limited to 1 MiB unless configured, and limits read as people say them', () => {
    expect(parseConfig({}).TASK_RESULT_MAX_BYTES).toBe(1024 * 1024);
    expect(formatBytes(1024 * 1024)).toBe('1 MiB');
    expect(formatBytes(8 * 1024)).toBe('8 KiB');
    expect(formatBytes(1536)).toBe('1536 bytes');
    expect(formatBytes(170)).toBe('170 bytes');
  });
});
