import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['development'] },
  ssr: { resolve: { conditions: ['development'] } },
  test: { include: ['src/**/*.test.ts'], testTimeout: 20_000, hookTimeout: 30_000, maxWorkers: 2 },
});
