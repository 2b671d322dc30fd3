import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['development'] },
  ssr: { resolve: { conditions: ['development'] } },
  // Tests a file marks concurrent (processes that share nothing) run two at a time: one per core of the 2-core CI machine.
  test: { include: ['src/**/*.test.ts'], testTimeout: 20_000, hookTimeout: 30_000, maxConcurrency: 2 },
});
