#!/usr/bin/env node
// Scaffolds a workspace package or app with the repository's conventions:
// ESM, one public entry (src/index.ts), a "development" export condition that points tests and
// typechecking at the sources, and build/lint/typecheck/test scripts that Nx runs as targets.
// Usage: node tools/new-package.mjs <packages|apps> <name> <tag> [description]
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const [kind, name, tag, ...rest] = process.argv.slice(2);
if (!['packages', 'apps'].includes(kind) || !name || !tag) {
  console.error('usage: node tools/new-package.mjs <packages|apps> <name> <type:domain|type:adapter|type:app|type:testkit> [description]');
  process.exit(2);
}
const dir = join(kind, name);
if (existsSync(join(dir, 'package.json'))) {
  console.error(`${dir} exists already`);
  process.exit(2);
}
mkdirSync(join(dir, 'src'), { recursive: true });
const pkg = {
  name: `@dkv/${name}`,
  version: '0.1.0',
  private: true,
  description: rest.join(' ') || `dkv ${name}`,
  type: 'module',
  exports: {
    '.': {
      development: './src/index.ts',
      types: './dist/index.d.ts',
      default: './dist/index.js',
    },
  },
  scripts: {
    build: 'tsc -p tsconfig.lib.json',
    typecheck: 'tsc -p tsconfig.json --noEmit',
    lint: 'eslint src',
    test: 'vitest run',
  },
  nx: { tags: [tag, `scope:${name}`] },
  dependencies: {},
};
writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
writeFileSync(
  join(dir, 'tsconfig.json'),
  JSON.stringify({ extends: '../../tsconfig.base.json', compilerOptions: { noEmit: true }, include: ['src/**/*.ts', '*.ts'] }, null, 2) +
    '\n',
);
writeFileSync(
  join(dir, 'tsconfig.lib.json'),
  JSON.stringify(
    {
      extends: '../../tsconfig.base.json',
      compilerOptions: { outDir: 'dist', rootDir: 'src', customConditions: [] },
      include: ['src/**/*.ts'],
      exclude: ['src/**/*.test.ts', 'src/**/*.spec.ts', 'src/**/__tests__/**'],
    },
    null,
    2,
  ) + '\n',
);
writeFileSync(
  join(dir, 'vitest.config.ts'),
  `import { defineConfig } from 'vitest/config';\n\nexport default defineConfig({\n  resolve: { conditions: ['development'] },\n  ssr: { resolve: { conditions: ['development'] } },\n  test: { include: ['src/**/*.test.ts'], testTimeout: 20_000, hookTimeout: 30_000 },\n});\n`,
);
console.log(`created ${dir}`);
