// Goal: every project's committed api.md is its current public surface, so that `npm test` fails
// (naming `npm run api:report`) when an export changes without its report; and the check itself
// notices an added export, a changed signature and a missing report.
// Method: render the reports of this workspace once and compare them with the committed files;
// then build a throw-away workspace of one package in a temporary folder, write its report,
// change its source, and read what the check says.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { describeDifferences, diffApiReports, REGENERATE_COMMAND, renderApiReports } from './report.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('api reports of this workspace', () => {
  it('match the public surface of every package and app', () => {
    const reports = renderApiReports(ROOT);
    expect(reports.map((r) => r.path)).toContain('packages/core/api.md');
    const differences = diffApiReports(ROOT, reports);
    if (differences.length > 0) expect.fail(describeDifferences(differences));
  }, 120_000);
});

describe('the api report check', () => {
  const root = mkdtempSync(join(tmpdir(), 'dkv-api-report-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const writePackage = (source: string): void => {
    mkdirSync(join(root, 'packages/demo/src'), { recursive: true });
    writeFileSync(
      join(root, 'tsconfig.base.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, types: [], noLib: true },
      }),
    );
    writeFileSync(join(root, 'packages/demo/package.json'), JSON.stringify({ name: '@demo/demo', type: 'module' }));
    writeFileSync(join(root, 'packages/demo/src/index.ts'), "export * from './greet.js';\n");
    writeFileSync(join(root, 'packages/demo/src/greet.ts'), source);
  };

  it('reports a missing report, then an added export and a changed signature, with the command', () => {
    writePackage('export function greet(name: string) { return `hello ${name}`; }\nfunction hidden(): void {}\nhidden();\n');
    const first = renderApiReports(root);
    expect(first[0]?.text).toContain('function greet(name: string): string;');
    expect(first[0]?.text).not.toContain('hidden');
    expect(diffApiReports(root, first)).toEqual([{ path: 'packages/demo/api.md', kind: 'missing', added: [], removed: [] }]);
    writeFileSync(join(root, 'packages/demo/api.md'), first[0]!.text);
    expect(diffApiReports(root, first)).toEqual([]);

    writePackage(
      'export function greet(name: string, loud = false) { return loud ? name : `hello ${name}`; }\nexport class Greeter { private secret = 1; constructor(readonly name: string) {} }\n',
    );
    const differences = diffApiReports(root, renderApiReports(root));
    expect(differences).toHaveLength(1);
    expect(differences[0]?.removed).toContain('function greet(name: string): string;');
    expect(differences[0]?.added).toContain('function greet(name: string, loud?: boolean): string;');
    expect(differences[0]?.added).toContain('class Greeter {');
    expect(differences[0]?.added.join('\n')).not.toContain('secret');
    const message = describeDifferences(differences);
    expect(message).toContain('packages/demo/api.md');
    expect(message).toContain(REGENERATE_COMMAND);
  }, 60_000);
});
