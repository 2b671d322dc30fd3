/**
 * The public surface of each workspace package and app, as a committed Markdown report
 * (`<project>/api.md`), so that a change to what a package exports shows in review.
 *
 * Each project's one public entry is `src/index.ts`. Its exports are what the type checker says
 * the module exports (so `export *` is followed to the end), and each export is shown as the
 * TypeScript declaration emitter writes it in a `.d.ts` file: signatures and inferred types, no
 * bodies, no comments, no private members. One program over every entry, resolved through the
 * `development` condition to the sources, means no build step comes first; it runs in a few
 * seconds. `@microsoft/api-extractor` was tried first: it reads built `.d.ts` files only, so the
 * check would have needed the whole workspace built (and one configuration per project) before
 * it could compare anything.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

/** The folders that hold projects, each with its entry at `src/index.ts`. */
export const PROJECT_FOLDERS = ['packages', 'apps'] as const;

/** The file, inside each project, that holds its report. */
export const REPORT_FILE = 'api.md';

/** The command that rewrites every report; the check's failure message names it. */
export const REGENERATE_COMMAND = 'npm run api:report';

/** One project's report: where it belongs and what it should hold. */
export interface ApiReport {
  /** The project's folder relative to the workspace root, e.g. `packages/core`. */
  readonly project: string;
  /** The package name from its package.json, e.g. `@dkv/core`. */
  readonly name: string;
  /** The report's path relative to the workspace root. */
  readonly path: string;
  readonly text: string;
}

/** A project whose committed report differs from its public surface. */
export interface ApiReportDifference {
  readonly path: string;
  /** `missing` when there is no report yet, else the lines that appear only on one side. */
  readonly kind: 'missing' | 'changed';
  readonly added: readonly string[];
  readonly removed: readonly string[];
}

/** The projects of the workspace at `root`, in a stable order. */
export function findProjects(root: string): Array<{ project: string; name: string; entry: string }> {
  const projects: Array<{ project: string; name: string; entry: string }> = [];
  for (const folder of PROJECT_FOLDERS) {
    const dir = join(root, folder);
    if (!existsSync(dir)) continue;
    for (const child of readdirSync(dir).sort()) {
      const entry = join(dir, child, 'src', 'index.ts');
      const manifest = join(dir, child, 'package.json');
      if (!existsSync(entry) || !existsSync(manifest)) continue;
      const { name } = JSON.parse(readFileSync(manifest, 'utf8')) as { name: string };
      projects.push({ project: `${folder}/${child}`, name, entry });
    }
  }
  return projects;
}

/** Renders the report of every project of the workspace at `root`. */
export function renderApiReports(root: string): ApiReport[] {
  const absoluteRoot = resolve(root);
  const projects = findProjects(absoluteRoot);
  const program = ts.createProgram(
    projects.map((p) => p.entry),
    compilerOptions(absoluteRoot),
  );
  const checker = program.getTypeChecker();
  const declarations = new DeclarationTexts(program);
  return projects.map(({ project, name, entry }) => {
    const source = program.getSourceFile(entry);
    const moduleSymbol = source && checker.getSymbolAtLocation(source);
    if (!source || !moduleSymbol) throw new Error(`${project}/src/index.ts is not a module the compiler can read`);
    const exports = checker.getExportsOfModule(moduleSymbol).map((symbol) => describeExport(symbol, checker, absoluteRoot, project));
    return { project, name, path: `${project}/${REPORT_FILE}`, text: renderReport(name, exports, declarations) };
  });
}

/** Compares the reports with the files committed at `root`; an empty list means all are current. */
export function diffApiReports(root: string, reports: readonly ApiReport[]): ApiReportDifference[] {
  const differences: ApiReportDifference[] = [];
  for (const report of reports) {
    const file = join(root, report.path);
    if (!existsSync(file)) {
      differences.push({ path: report.path, kind: 'missing', added: [], removed: [] });
      continue;
    }
    const committed = readFileSync(file, 'utf8');
    if (committed === report.text) continue;
    const before = new Set(committed.split('\n'));
    const after = new Set(report.text.split('\n'));
    differences.push({
      path: report.path,
      kind: 'changed',
      added: [...after].filter((line) => !before.has(line)),
      removed: [...before].filter((line) => !after.has(line)),
    });
  }
  return differences;
}

/** The message a failed check prints: each stale report, a few of its changed lines, and the command. */
export function describeDifferences(differences: readonly ApiReportDifference[]): string {
  const lines = [`The public API of ${differences.length} project(s) changed and its report was not regenerated:`];
  for (const difference of differences) {
    if (difference.kind === 'missing') {
      lines.push(`  ${difference.path}: missing`);
      continue;
    }
    lines.push(`  ${difference.path}:`);
    for (const line of difference.removed.slice(0, 8)) lines.push(`    - ${line}`);
    for (const line of difference.added.slice(0, 8)) lines.push(`    + ${line}`);
    const more =
      difference.removed.length + difference.added.length - Math.min(8, difference.removed.length) - Math.min(8, difference.added.length);
    if (more > 0) lines.push(`    ... and ${more} more changed line(s)`);
  }
  lines.push(`Run \`${REGENERATE_COMMAND}\`, review the change to each api.md, and commit it with the code.`);
  return lines.join('\n');
}

/** The workspace's compiler options, set to emit declarations only (into memory, never to disk). */
function compilerOptions(root: string): ts.CompilerOptions {
  const configPath = join(root, 'tsconfig.base.json');
  const read = ts.readConfigFile(configPath, (path) => ts.sys.readFile(path));
  if (read.error) throw new Error(ts.flattenDiagnosticMessageText(read.error.messageText, '\n'));
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, root, undefined, configPath);
  return {
    ...parsed.options,
    noEmit: false,
    declaration: true,
    emitDeclarationOnly: true,
    removeComments: true,
    sourceMap: false,
    declarationMap: false,
    outDir: join(root, '.api-report-out'),
    rootDir: root,
  };
}

/** One export of an entry: its name, and the declaration it stands for. */
interface ExportEntry {
  readonly name: string;
  /** The declaration's name, when the export renames it (`export { a as b }`). */
  readonly declaredName: string;
  /** Where it is declared: a path relative to the project, or to the workspace if outside it. */
  readonly home: string;
  readonly position: number;
  readonly declaration: ts.Declaration | undefined;
}

function describeExport(symbol: ts.Symbol, checker: ts.TypeChecker, root: string, project: string): ExportEntry {
  const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
  const declaration = target.declarations?.[0];
  const file = declaration?.getSourceFile().fileName ?? '';
  const fromRoot = relative(root, file).split(sep).join('/');
  const home = fromRoot.startsWith(`${project}/`) ? fromRoot.slice(project.length + 1) : fromRoot;
  return { name: symbol.name, declaredName: target.name, home, position: declaration?.getStart() ?? 0, declaration };
}

function renderReport(name: string, exports: readonly ExportEntry[], declarations: DeclarationTexts): string {
  const byHome = new Map<string, ExportEntry[]>();
  for (const entry of exports) byHome.set(entry.home, [...(byHome.get(entry.home) ?? []), entry]);
  const out = [
    `# ${name}: public API`,
    '',
    `What \`src/index.ts\` exports, as its \`.d.ts\` would declare it (signatures only; no comments, no private`,
    `members), grouped by the file that declares it. Generated by \`${REGENERATE_COMMAND}\` (tools/api-report); do not`,
    'edit. `npm test` fails while this file differs from the sources, so a change to the public surface shows in review.',
    '',
  ];
  for (const home of [...byHome.keys()].sort()) {
    const entries = byHome
      .get(home)!
      .slice()
      .sort((a, b) => a.position - b.position || a.name.localeCompare(b.name));
    out.push(`## ${home}`, '', '```ts');
    for (const entry of entries) {
      const text = declarations.textOf(entry);
      out.push(entry.name === entry.declaredName ? text : `// exported as ${entry.name}\n${text}`);
    }
    out.push('```', '');
  }
  return out.join('\n');
}

/** The emitted `.d.ts` text of each declaration: one declaration emit of the whole program, on first need. */
class DeclarationTexts {
  private byFile: Map<string, Map<string, string[]>> | null = null;

  constructor(private readonly program: ts.Program) {}

  textOf(entry: ExportEntry): string {
    const declaration = entry.declaration;
    if (!declaration) return `// ${entry.name}: no declaration found`;
    const source = declaration.getSourceFile();
    if (source.isDeclarationFile) return `// ${entry.declaredName}: declared in ${entry.home}`;
    const texts = this.emitted().get(source.fileName)?.get(entry.declaredName);
    if (!texts) return `// ${entry.declaredName}: not in the emitted declarations of ${entry.home}`;
    return texts.join('\n');
  }

  private emitted(): Map<string, Map<string, string[]>> {
    if (this.byFile) return this.byFile;
    const byFile = new Map<string, Map<string, string[]>>();
    const result = this.program.emit(
      undefined,
      (_name, text, _bom, _onError, sources) => {
        const source = sources?.[0];
        if (source) byFile.set(source.fileName, indexStatements(text));
      },
      undefined,
      true,
    );
    if (result.emitSkipped) throw new Error('the declaration emit failed: run `npm run typecheck` to see why');
    this.byFile = byFile;
    return byFile;
  }
}

/** Each declared name of a `.d.ts` text and the statements that declare it, cleaned for the report. */
function indexStatements(dts: string): Map<string, string[]> {
  const file = ts.createSourceFile('emitted.d.ts', dts, ts.ScriptTarget.Latest, true);
  const statements = new Map<string, string[]>();
  const add = (name: string, text: string): void => {
    statements.set(name, [...(statements.get(name) ?? []), text]);
  };
  for (const statement of file.statements) {
    if (ts.isVariableStatement(statement)) {
      const keyword = statement.declarationList.flags & ts.NodeFlags.Const ? 'const' : 'let';
      for (const declaration of statement.declarationList.declarations)
        add(declaration.name.getText(file), `${keyword} ${declaration.getText(file)};`);
      continue;
    }
    const name = (statement as { name?: ts.Node }).name;
    if (name && ts.isIdentifier(name)) add(name.text, clean(statement.getText(file)));
  }
  return statements;
}

/** Drops `export`/`declare` and private members, which are no part of the surface a user sees. */
function clean(text: string): string {
  return text
    .replace(/^(export )?(declare )?/, '')
    .split('\n')
    .filter((line) => !/^\s*(private\b|#private;)/.test(line))
    .join('\n');
}
