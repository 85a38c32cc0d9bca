import { describe, expect, it } from 'vitest';
import { ConfigError, onLambda, parseConfig } from '#lib/config';

describe('config', () => {
  it('has working defaults with nothing set', () => {
    const c = parseConfig({});
    expect(c).toMatchObject({
      QUEUE_DRIVER: 'postgres',
      DEFAULT_MAX_ATTEMPTS: 1,
      EMULATE_MIN_MS: 5000,
      EMULATE_MAX_MS: 10000,
      EMULATE_FAILURE_RATE: 0.2,
      WORKER_CONCURRENCY: 32,
      WORKER_BATCH_SIZE: 1,
    });
  });

  it('treats empty values as unset', () => {
    expect(parseConfig({ QUEUE_DRIVER: '', DATABASE_URL: '' }).QUEUE_DRIVER).toBe('postgres');
  });

  it('names the variable with a bad value', () => {
    expect(() => parseConfig({ QUEUE_DRIVER: 'kafka' })).toThrow(ConfigError);
    expect(() => parseConfig({ QUEUE_DRIVER: 'kafka' })).toThrow(/QUEUE_DRIVER/);
    expect(() => parseConfig({ WORKER_CONCURRENCY: 'many' })).toThrow(/WORKER_CONCURRENCY/);
    expect(() => parseConfig({ DATABASE_URL: 'mysql://x' })).toThrow(/DATABASE_URL: must be a postgres/);
    expect(() => parseConfig({ EMULATE_MIN_MS: '9000', EMULATE_MAX_MS: '10' })).toThrow(/EMULATE_MIN_MS/);
  });

  it('reads CORS_ORIGINS as a list of origins, none by default, and refuses anything else', () => {
    expect(parseConfig({}).CORS_ORIGINS).toEqual([]);
    expect(parseConfig({ CORS_ORIGINS: 'https://app.example, http://localhost:5173,' }).CORS_ORIGINS).toEqual([
      'https://app.example',
      'http://localhost:5173',
    ]);
    for (const bad of ['*', 'null', 'app.example', 'https://app.example/', 'https://app.example/path', 'ftp://app.example']) {
      expect(() => parseConfig({ CORS_ORIGINS: bad }), bad).toThrow(/CORS_ORIGINS/);
    }
  });

  it('tells a Lambda container from serverless-offline and from a plain process', () => {
    expect(onLambda(parseConfig({ AWS_LAMBDA_FUNCTION_NAME: 'tasksCreate' }))).toBe(true);
    expect(onLambda(parseConfig({ AWS_LAMBDA_FUNCTION_NAME: 'tasksCreate', IS_OFFLINE: 'true' }))).toBe(false);
    expect(onLambda(parseConfig({}))).toBe(false);
  });
});
