import { describe, expect, it } from 'vitest';
import { deadLetterQueueOfName, messagesOf, toRabbitMqEvent, toSqsEvent } from '#lib/queue/events';

describe('messages of a dead-letter queue', () => {
  it('names the queue they were dead-lettered from, whatever the prefix and the spelling', () => {
    expect(
      [
        'async-task-service-dev-tasks-dlq',
        'async-task-service-dev-task_intake-dlq',
        'tasks.dlq',
        'task_intake.dlq',
        'ns-1.tasks.dlq',
        'tasks',
        'task_intake',
        'mytasks-dlq',
      ].map(deadLetterQueueOfName),
    ).toEqual(['tasks', 'task_intake', 'tasks', 'task_intake', 'tasks', undefined, undefined, undefined]);
  });

  it("reads the source queue from an SQS event's ARN and from an Amazon MQ event's queue, with RabbitMQ's reason", () => {
    const m = { id: '1', body: '{}', priority: 0, receiveCount: 5 };
    expect(messagesOf(toSqsEvent('task_intake.dlq', [m]))).toEqual([{ id: '1', body: '{}', receiveCount: 5, deadLetterOf: 'task_intake' }]);
    expect(messagesOf(toSqsEvent('tasks', [m]))[0]?.deadLetterOf).toBeUndefined();
    const rabbit = toRabbitMqEvent('tasks.dlq', [m]);
    const first = Object.values(rabbit.rmqMessagesByQueue)[0]?.[0];
    if (first) first.basicProperties.headers = { ...first.basicProperties.headers, 'x-death': [{ reason: 'rejected', count: 1 }] };
    expect(messagesOf(rabbit)).toEqual([
      { id: '1', body: '{}', receiveCount: 5, deadLetterOf: 'tasks', brokerReason: 'RabbitMQ: rejected' },
    ]);
  });
});
