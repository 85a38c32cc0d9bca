import { afterEach, describe, expect, it } from 'vitest';
import { applySecrets, config, resetConfig } from '#lib/config';

describe('config() and the secrets read at run time (lib/secrets.ts)', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
    resetConfig();
  });

  it('throws on a setting whose secret is named but not read yet, rather than using its local default', () => {
    process.env.DATABASE_URL_PARAMETER = '/svc/dev/database-url';
    process.env.API_KEYS_PARAMETER = '/svc/dev/api-keys';
    process.env.LOG_LEVEL = 'WARN';
    resetConfig();
    expect(config().LOG_LEVEL).toBe('WARN');
    expect(() => config().DATABASE_URL).toThrow(
      /DATABASE_URL comes from the SSM parameter \/svc\/dev\/database-url: await loadSecrets\(\)/,
    );
    expect(() => config().API_KEYS).toThrow(/API_KEYS comes from the SSM parameter/);
    applySecrets({ DATABASE_URL: 'postgres://u:p@db:5432/tasks', API_KEYS: 'a'.repeat(16) });
    expect(config().DATABASE_URL).toBe('postgres://u:p@db:5432/tasks');
    expect(config().API_KEYS).toEqual(['a'.repeat(16)]);
  });

  it('parses the secrets again when they change (a rotated API key), and not when they do not', () => {
    process.env.API_KEYS_PARAMETER = '/svc/dev/api-keys';
    resetConfig();
    applySecrets({ API_KEYS: 'a'.repeat(16) });
    const first = config();
    applySecrets({ API_KEYS: 'a'.repeat(16) });
    expect(config()).toBe(first);
    applySecrets({ API_KEYS: `${'a'.repeat(16)},${'b'.repeat(16)}` });
    expect(config().API_KEYS).toEqual(['a'.repeat(16), 'b'.repeat(16)]);
  });

  it('takes both settings from the environment when no parameter is named (local runs)', () => {
    process.env.DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/x';
    process.env.API_KEYS = 'k'.repeat(16);
    delete process.env.DATABASE_URL_PARAMETER;
    delete process.env.API_KEYS_PARAMETER;
    resetConfig();
    expect(config().DATABASE_URL).toBe('postgres://postgres@127.0.0.1:5432/x');
    expect(config().API_KEYS).toEqual(['k'.repeat(16)]);
  });
});
