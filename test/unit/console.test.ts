import { describe, expect, it } from 'vitest';
import { consoleLine, lineFilter, offlineOutputFilter } from '#local/console';

const log = (fields: Record<string, unknown>) =>
  JSON.stringify({
    level: 'INFO',
    timestamp: '2026-12-03T01:06:06.255Z',
    service: 'async-task-service',
    cold_start: false,
    function_arn: 'offline_invokedFunctionArn_for_async-task-service-local-tasksCreate',
    function_name: 'async-task-service-local-tasksCreate',
    sampling_rate: 0,
    stage: 'local',
    ...fields,
  });

const request = (extra: Record<string, unknown> = {}) =>
  log({
    message: 'request',
    request_id: 'r-1',
    route: 'GET /api/v1/stats',
    method: 'GET',
    path: '/api/v1/stats',
    status: 200,
    ms: 12,
    ...extra,
  });

describe("npm start's console", () => {
  it('shows a request as one short line, without the boilerplate keys', () => {
    expect(consoleLine(request(), 'api')).toBe('01:06:06.255 INFO  GET /api/v1/stats -> 200 (12 ms) request_id=r-1');
  });

  it("leaves out the dashboard's polling unless LOG_REQUESTS=all, but never its failures", () => {
    const polling = request({ dashboard: true });
    expect(consoleLine(polling, 'api')).toBeUndefined();
    expect(consoleLine(polling, 'all')).toContain('GET /api/v1/stats -> 200');
    expect(consoleLine(request({ dashboard: true, status: 503 }), 'api')).toContain('-> 503');
    expect(consoleLine(request(), 'none')).toBeUndefined();
    // Lines that are not requests are shown whatever LOG_REQUESTS says.
    expect(consoleLine(log({ message: 'task created', task_id: 't-1' }), 'none')).toContain('task created task_id=t-1');
  });

  it('shows an error with its name, message and first frames', () => {
    const line = consoleLine(
      log({
        level: 'ERROR',
        message: 'unexpected error',
        error: {
          name: 'TypeError',
          message: 'x is undefined',
          stack: 'TypeError: x is undefined\n    at a (lib/a.ts:1:1)\n    at b (lib/b.ts:2:2)',
        },
      }),
      'api',
    );
    expect(line).toBe(
      '01:06:06.255 ERROR unexpected error\n  TypeError: x is undefined\n      at a (lib/a.ts:1:1)\n      at b (lib/b.ts:2:2)',
    );
  });

  it("drops serverless-offline's banner, request lines and blank lines, and keeps its errors", () => {
    const output = [
      'Starting Offline at stage local (us-east-1)',
      '',
      'Function names exposed for local invocation by aws-sdk:',
      '   * tasksCreate: async-task-service-local-tasksCreate',
      '│   POST   | http://127.0.0.1:3000/api/v1/tasks   │',
      'Warning: something to know',
      'Server ready: http://127.0.0.1:3000 🚀',
      '',
      'GET /api/v1/stats (λ: stats)',
      '(λ: stats) RequestId: abc  Duration: 12 ms',
      request({ dashboard: true }),
      'POST /api/v1/tasks (λ: tasksCreate)',
      request({ method: 'POST', path: '/api/v1/tasks', status: 201 }),
      'Error: something broke',
      '',
    ].join('\n');
    const shown: string[] = [];
    const feed = lineFilter(offlineOutputFilter('api'), (text) => shown.push(text));
    // In chunks that split lines, as a pipe delivers them.
    for (let i = 0; i < output.length; i += 37) feed(output.slice(i, i + 37));
    expect(shown.join('')).toBe(
      [
        'Warning: something to know',
        '01:06:06.255 INFO  POST /api/v1/tasks -> 201 (12 ms) request_id=r-1',
        'Error: something broke',
        '',
      ].join('\n'),
    );
  });
});
