import { LogFormatter, Logger, LogItem } from '@aws-lambda-powertools/logger';
import type { LogAttributes, UnformattedAttributes } from '@aws-lambda-powertools/logger/types';
import { config } from '#lib/config';
import { requestContext } from '#lib/request-context';

/**
 * Error properties that carry a task's data: Drizzle's statement parameters (`params`), and PostgreSQL's `detail`
 * (`Failing row contains (...)`, `Key (...)=(...)`) and `where` (which can quote the JSON being parsed).
 */
const DATA_PROPERTIES = ['params', 'detail', 'where'];

/** Drizzle's failed-query message is `Failed query: <sql>\nparams: <values>`; the values run to the end. */
const PARAMS = /\nparams: [\s\S]*$/;

/** A message without the statement parameters Drizzle appends to a failed query's. */
function withoutQueryParams(message: string): string {
  return message.includes('Failed query: ') ? message.replace(PARAMS, '') : message;
}

/**
 * Powertools' JSON format, with errors stripped of the values they quote from the database: the SQL text, the
 * message and PostgreSQL's code, table and constraint stay; parameters and failing rows (task payloads) go.
 */
class RedactingLogFormatter extends LogFormatter {
  /** The keys of Powertools' own formatter (which the package does not export), in its order. */
  override formatAttributes(attributes: UnformattedAttributes, additional: LogAttributes): LogItem {
    const context = attributes.lambdaContext;
    return new LogItem({
      attributes: {
        level: attributes.logLevel,
        message: attributes.message,
        timestamp: this.formatTimestamp(attributes.timestamp),
        service: attributes.serviceName,
        cold_start: context?.coldStart,
        function_arn: context?.invokedFunctionArn,
        function_memory_size: context?.memoryLimitInMB,
        function_name: context?.functionName,
        function_request_id: context?.awsRequestId,
        sampling_rate: attributes.sampleRateValue,
        xray_trace_id: attributes.xRayTraceId,
        tenant_id: context?.tenantId,
      },
      // The request id and task id of the request or run this line is written for (lib/request-context.ts).
    }).addAttributes({ ...requestContext(), ...additional });
  }

  override formatError(error: Error): LogAttributes {
    // Also applied to `cause`, which the base class formats by calling this method.
    const formatted = super.formatError(error);
    for (const key of DATA_PROPERTIES) delete formatted[key];
    const message = typeof error.message === 'string' ? withoutQueryParams(error.message) : error.message;
    if (message !== error.message) {
      formatted.message = message;
      // The stack starts with the message, parameters and all.
      const stack = typeof error.stack === 'string' ? error.stack.replace(error.message, message) : undefined;
      formatted.stack = Array.isArray(formatted.stack) ? stack?.split('\n') : stack;
    }
    return formatted;
  }
}

/** The structured JSON logger shared by every function and script. */
export const logger = new Logger({
  serviceName: 'async-task-service',
  logLevel: config().LOG_LEVEL,
  persistentKeys: { stage: config().STAGE },
  logFormatter: new RedactingLogFormatter(),
});
