import { defineConfig } from 'vitest/config';

// The global setup (one PostgreSQL server and a migrated template database) belongs to the root only,
// so projects repeat the shared options instead of inheriting them.
const shared = {
  env: { LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'SILENT', NODE_ENV: 'test' },
  testTimeout: 30_000,
  hookTimeout: 120_000,
};

export default defineConfig({
  test: {
    globalSetup: ['test/setup/global.ts'],
    projects: [
      { test: { ...shared, name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      { test: { ...shared, name: 'integration', include: ['test/integration/**/*.test.ts'] } },
      { test: { ...shared, name: 'e2e', include: ['test/e2e/**/*.test.ts'], fileParallelism: false, testTimeout: 90_000 } },
    ],
  },
});
