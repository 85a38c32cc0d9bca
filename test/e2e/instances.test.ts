import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { requireRabbitMq } from '../helpers/external-services';
import { auditUntilSettled, report, type Sent } from '../helpers/faults';
import { type RunningService, startService } from '../helpers/offline';

// Many instances: two complete stacks (serverless-offline and the bridge each, with the default slots) share one
// database and one broker. Every task created through either of them runs exactly once.

const rabbit = await requireRabbitMq();
const TASKS = 1_000;
const CLIENTS = 16;

/** Creates `n` tasks from `CLIENTS` loops, each create going to the next instance in turn; records every answer. */
async function createTasks(instances: RunningService[], n: number): Promise<Sent[]> {
  const sent: Sent[] = [];
  let next = 0;
  const loop = async () => {
    for (let i = next++; i < n; i = next++) {
      const svc = instances[i % instances.length] as RunningService;
      const at = Date.now();
      const res = await fetch(`${svc.baseUrl}/api/v1/tasks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ title: `task ${i}`, payload: { duration_ms: 20, failure_rate: 0 } }),
        signal: AbortSignal.timeout(20_000),
      });
      const json = (await res.json().catch(() => ({}))) as { id?: string; status?: string };
      sent.push({ status: res.status, id: json.id, taskStatus: json.status, at });
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, loop));
  return sent;
}

const drivers = [
  { driver: 'postgres', available: true },
  { driver: 'rabbitmq', available: rabbit },
];

describe.each(drivers)('two instances on one database ($driver queue)', ({ driver, available }) => {
  let database: TestDatabase | undefined;
  const instances: RunningService[] = [];
  const stops: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    if (!available) return;
    database = await createTestDatabase();
    await database.pool.end();
    const env = {
      DATABASE_URL: database.url,
      QUEUE_DRIVER: driver,
      QUEUE_NAMESPACE: `instances_${process.pid}`,
      RABBITMQ_QUEUE_EXPIRES_MS: '600000',
      OUTBOX_INTERVAL_MS: '500',
    };
    const started = await Promise.allSettled([startService({ bridge: true, env }), startService({ bridge: true, env })]);
    for (const s of started) {
      if (s.status === 'fulfilled') {
        instances.push(s.value.svc);
        stops.push(s.value.stop);
      }
    }
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
  });
  afterAll(async () => {
    await Promise.all(stops.map((stop) => stop()));
    await database?.drop();
  });

  it.runIf(available)(`runs each of ${TASKS} tasks created through both exactly once`, async () => {
    const since = Date.now();
    const sent = await createTasks(instances, TASKS);
    const ids = sent.filter((s) => s.status === 201 && s.id).map((s) => s.id as string);
    const a = await auditUntilSettled(database?.url as string, ids, since, 60_000);
    report(`two instances, ${driver}`, sent, a);
    expect(sent.filter((s) => s.status !== 201)).toEqual([]);
    expect(a).toMatchObject({ accepted: TASKS, missing: 0, terminal: TASKS, completed: TASKS, stuck: [], stranded: [] });
    // One IN_PROGRESS per task: none started twice, none completed twice.
    expect(a.ranTwice).toEqual([]);
    expect(a.duplicates).toEqual([]);
    expect(a.runs).toBe(TASKS);
  });
});
