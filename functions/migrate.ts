import path from 'node:path';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { customResourceHandler } from '#lib/custom-resource';
import { logger } from '#lib/logger';
import { migrateServiceDatabase } from '#lib/migrations';

/**
 * The DatabaseMigrations custom resource (serverless.yml): applies the migrations shipped beside the function
 * (drizzle/, one level above functions/ in the sources and in the zip) on Create and Update, answering CloudFormation.
 * The secrets are read inside the work, so that a missing one is answered FAILED too.
 */
export const handler = middy(customResourceHandler(() => migrateServiceDatabase(path.join(__dirname, '..', 'drizzle')))).use(
  injectLambdaContext(logger, { resetKeys: true }),
);
