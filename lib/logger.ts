import { Logger } from '@aws-lambda-powertools/logger';
import { config } from '#lib/config';

/** The structured JSON logger shared by every function and script. */
export const logger = new Logger({
  serviceName: 'async-task-service',
  logLevel: config().LOG_LEVEL,
  persistentKeys: { stage: config().STAGE },
});
