import type { Context } from 'aws-lambda';
import { logger } from '#lib/logger';

/** What CloudFormation sends a custom resource's function. */
export interface CustomResourceEvent {
  RequestType: 'Create' | 'Update' | 'Delete';
  ResponseURL: string;
  StackId: string;
  RequestId: string;
  LogicalResourceId: string;
  PhysicalResourceId?: string;
  ResourceType?: string;
  ResourceProperties?: Record<string, unknown>;
}

/** Time kept back from the function's timeout to answer CloudFormation when the work overruns. */
const ANSWER_MARGIN_MS = 10_000;
/** CloudFormation's limit on a response is 4 KB: the reason is cut well below. */
const MAX_REASON_CHARS = 1_000;

/**
 * Sends CloudFormation the outcome, by PUT to the request's presigned S3 URL. Written here rather than taken from
 * cfn-response, which AWS ships only to functions whose code is inline in the template: a dozen lines of fetch.
 * An empty content type, as the URL was signed without one. Tried three times.
 */
async function answer(event: CustomResourceEvent, status: 'SUCCESS' | 'FAILED', reason: string | undefined): Promise<void> {
  const body = JSON.stringify({
    Status: status,
    Reason: (reason ?? status).slice(0, MAX_REASON_CHARS),
    PhysicalResourceId: event.PhysicalResourceId ?? event.LogicalResourceId,
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
    Data: {},
  });
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await fetch(event.ResponseURL, {
        method: 'PUT',
        body,
        headers: { 'content-type': '' },
        signal: AbortSignal.timeout(5_000),
      });
      if (res.ok) return;
      throw new Error(`The response URL answered ${res.status}`);
    } catch (err) {
      if (attempt >= 3) throw err;
      await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
    }
  }
}

/**
 * A custom resource's handler: runs `work` on Create and Update, nothing on Delete, and always answers CloudFormation
 * (SUCCESS, or FAILED with the error's message), also when the work would outlive the function, so that a stack never
 * waits an hour for an answer that will not come.
 */
export function customResourceHandler(work: (event: CustomResourceEvent) => Promise<void>) {
  return async (event: CustomResourceEvent, context: Pick<Context, 'getRemainingTimeInMillis'>): Promise<void> => {
    let timer: NodeJS.Timeout | undefined;
    let status: 'SUCCESS' | 'FAILED' = 'SUCCESS';
    let reason: string | undefined;
    try {
      if (event.RequestType !== 'Delete') {
        const overrun = new Promise<never>((_, reject) => {
          const ms = Math.max(1_000, context.getRemainingTimeInMillis() - ANSWER_MARGIN_MS);
          timer = setTimeout(() => reject(new Error(`Not done within ${Math.round(ms / 1000)} s`)), ms);
        });
        await Promise.race([work(event), overrun]);
      }
    } catch (err) {
      status = 'FAILED';
      reason = err instanceof Error ? err.message : String(err);
      logger.error('Custom resource failed', { request_type: event.RequestType, error: err as Error });
    } finally {
      clearTimeout(timer);
    }
    logger.info('Custom resource answered', { request_type: event.RequestType, status });
    await answer(event, status, reason);
  };
}
