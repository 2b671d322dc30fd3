/**
 * `npm run api:report` writes each project's public API report (`<project>/api.md`);
 * `npm run api:report -- --check` only compares them with the sources and exits 1, naming the
 * stale reports and the command, when one differs. The test in report.test.ts runs the same
 * check as part of `npm test`.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeDifferences, diffApiReports, renderApiReports } from './report.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const args = process.argv.slice(2);
const unknown = args.filter((arg) => arg !== '--check');
if (unknown.length > 0) {
  process.stderr.write(`unknown argument(s): ${unknown.join(' ')}\nusage: npx tsx tools/api-report/cli.ts [--check]\n`);
  process.exit(2);
}
const reports = renderApiReports(ROOT);
const differences = diffApiReports(ROOT, reports);
if (args.includes('--check')) {
  if (differences.length > 0) {
    process.stderr.write(`${describeDifferences(differences)}\n`);
    process.exit(1);
  }
  process.stdout.write(`api reports: ${reports.length} current\n`);
} else {
  for (const difference of differences) {
    const report = reports.find((r) => r.path === difference.path)!;
    writeFileSync(join(ROOT, report.path), report.text);
  }
  process.stdout.write(
    `api reports: ${differences.length} of ${reports.length} rewritten${differences.length > 0 ? ` (${differences.map((d) => d.path).join(', ')})` : ''}\n`,
  );
}
