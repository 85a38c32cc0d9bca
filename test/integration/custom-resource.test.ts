import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CustomResourceEvent, customResourceHandler } from '#lib/custom-resource';
import { type ResponseUrlStandIn, startResponseUrlStandIn } from '../helpers/packaged';

describe('a custom resource always answers CloudFormation (lib/custom-resource.ts)', () => {
  let responses: ResponseUrlStandIn;
  beforeAll(async () => {
    responses = await startResponseUrlStandIn();
  });
  afterAll(async () => responses?.close());

  const event = (RequestType: CustomResourceEvent['RequestType']): CustomResourceEvent => ({
    RequestType,
    ResponseURL: responses.url(),
    StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/s/1',
    RequestId: 'r-1',
    LogicalResourceId: 'DatabaseMigrations',
  });
  const answerOf = (e: CustomResourceEvent) => {
    const u = new URL(e.ResponseURL);
    return responses.answers.get(`${u.pathname}${u.search}`)?.body;
  };
  const context = (remainingMs: number) => ({ getRemainingTimeInMillis: () => remainingMs });

  it('answers FAILED with the reason when the work throws', async () => {
    const e = event('Create');
    await customResourceHandler(async () => {
      throw new Error('relation "tasks" already exists');
    })(e, context(60_000));
    expect(answerOf(e)).toMatchObject({ Status: 'FAILED', Reason: 'relation "tasks" already exists', RequestId: 'r-1' });
  });

  it('answers FAILED before the function would time out when the work does not end', async () => {
    const e = event('Update');
    const started = Date.now();
    await customResourceHandler(() => new Promise<void>(() => {}))(e, context(11_000));
    expect(answerOf(e)).toMatchObject({ Status: 'FAILED', Reason: 'Not done within 1 s' });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('answers SUCCESS on Delete without running the work', async () => {
    const e = event('Delete');
    let ran = false;
    await customResourceHandler(async () => {
      ran = true;
    })(e, context(60_000));
    expect(ran).toBe(false);
    expect(answerOf(e)).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: 'DatabaseMigrations' });
  });
});
