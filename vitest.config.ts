import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Child-process end-to-end tests spawn the CLI; give them room on 2 cores.
    testTimeout: 30_000,
    pool: 'forks',
  },
});
