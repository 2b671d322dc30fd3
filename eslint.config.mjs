// Lint rules for the whole workspace. The module-boundary rule is what keeps the hexagon honest:
// domain packages may not reach for frameworks, networking or the DI container.
import js from '@eslint/js';
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

const frameworks = [
  'fastify',
  'undici',
  'inversify',
  'reflect-metadata',
  'zod',
  'pino',
  'prom-client',
  'msgpackr',
  'commander',
  '@fastify/*',
];
const nodeNetworking = [
  'node:http',
  'node:https',
  'node:net',
  'node:dgram',
  'node:child_process',
  'http',
  'https',
  'net',
  'dgram',
  'child_process',
];

export default [
  { ignores: ['**/dist/**', '**/node_modules/**', '**/.nx/**', '**/vitest.config.ts', 'benchmarks/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.mjs', '**/*.js'],
    plugins: { '@nx': nx },
    languageOptions: {
      globals: {
        process: 'readonly',
        Buffer: 'readonly',
        console: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setImmediate: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        URL: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        performance: 'readonly',
        AbortController: 'readonly',
        fetch: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          depConstraints: [
            { sourceTag: 'type:domain', onlyDependOnLibsWithTags: ['type:domain'], bannedExternalImports: frameworks },
            { sourceTag: 'type:adapter', onlyDependOnLibsWithTags: ['type:domain', 'type:adapter', 'type:testkit'] },
            // A test harness (SimCluster) composes its graph with Inversify too, in *.container.ts files only (rule below).
            {
              sourceTag: 'type:testkit',
              onlyDependOnLibsWithTags: ['type:domain', 'type:adapter', 'type:testkit'],
              bannedExternalImports: ['reflect-metadata'],
            },
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:domain', 'type:adapter', 'type:testkit', 'type:app'] },
          ],
        },
      ],
    },
  },
  {
    // Tests may use the test kit and in-memory adapters (never the other way round).
    files: ['**/*.test.ts'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          depConstraints: [
            {
              sourceTag: 'type:domain',
              onlyDependOnLibsWithTags: ['type:domain', 'type:adapter', 'type:testkit'],
              bannedExternalImports: frameworks,
            },
            { sourceTag: '*', onlyDependOnLibsWithTags: ['*'] },
          ],
        },
      ],
    },
  },
  {
    // Inversify belongs in composition roots: files named *.composition.ts, *.container.ts or main.ts.
    files: ['apps/**/src/**/*.ts', 'packages/**/src/**/*.ts'],
    ignores: ['**/*.composition.ts', '**/*.container.ts', '**/main.ts', '**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: 'inversify', message: 'Inversify is used in composition roots only (*.composition.ts)' },
            { name: 'reflect-metadata', message: 'composition roots only' },
          ],
        },
      ],
    },
  },
  {
    // Domain code: no networking, no wall clock, no ambient randomness (see STYLE.md).
    files: ['packages/{core,hashing,quorum,replication,membership,coordination,storage}/src/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            ...nodeNetworking.map((name) => ({ name, message: 'domain packages do not do networking; use a port' })),
            { name: 'inversify', message: 'Inversify is used in composition roots only' },
            { name: 'reflect-metadata', message: 'composition roots only' },
          ],
        },
      ],
      'no-restricted-syntax': [
        'error',
        { selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']", message: 'use the Clock port' },
        { selector: "CallExpression[callee.object.name='Math'][callee.property.name='random']", message: 'use the Rng port' },
        { selector: "CallExpression[callee.name='setTimeout']", message: 'use the Scheduler port' },
        { selector: "CallExpression[callee.name='setInterval']", message: 'use the Scheduler port' },
      ],
    },
  },
];
