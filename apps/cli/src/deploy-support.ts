/**
 * Test support for the deployment files in deploy/: a reader of the Dockerfile's instructions
 * (enough of the syntax for deploy/docker/Dockerfile: line continuations, comments, JSON and
 * shell forms, `KEY=value` ENV, flags such as `--from=`), and a reader of the Kubernetes
 * manifests (YAML documents). The tests use them to run the image's exact entry point outside a
 * container and to hold the manifests to what the processes serve. Not part of the CLI's build.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

/** The repository's root. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** The image's Dockerfile. */
export const DOCKERFILE = join(REPO_ROOT, 'deploy/docker/Dockerfile');
/** The Kubernetes manifests' folder. */
export const KUBERNETES_DIR = join(REPO_ROOT, 'deploy/kubernetes');

/** One Dockerfile instruction: its keyword in upper case, its `--flag=value` options, and the rest. */
export interface DockerInstruction {
  readonly keyword: string;
  readonly flags: Readonly<Record<string, string>>;
  /** The arguments after the flags, as written (continuations joined). */
  readonly rest: string;
}

/** One build stage: `FROM <image> [AS <name>]` and what follows it. */
export interface DockerStage {
  readonly image: string;
  readonly name: string | null;
  readonly instructions: readonly DockerInstruction[];
}

/** What a container of the final stage runs with. */
export interface ImageRuntime {
  readonly entrypoint: readonly string[];
  readonly cmd: readonly string[];
  readonly user: string | null;
  readonly workdir: string | null;
  readonly env: Readonly<Record<string, string>>;
  readonly expose: readonly number[];
  readonly volumes: readonly string[];
  /** The HEALTHCHECK's command (exec form) and its options, or null without one. */
  readonly healthcheck: { readonly command: readonly string[]; readonly flags: Readonly<Record<string, string>> } | null;
}

/** Splits a Dockerfile into its stages (the lines before the first FROM, ARGs, are left out). */
export function parseDockerfile(text: string): DockerStage[] {
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (pending === '' && (line.trim() === '' || line.trim().startsWith('#'))) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    logical.push((pending + line).trim());
    pending = '';
  }
  if (pending !== '') logical.push(pending.trim());
  const stages: Array<{ image: string; name: string | null; instructions: DockerInstruction[] }> = [];
  for (const line of logical) {
    const instruction = parseInstruction(line);
    if (instruction.keyword === 'FROM') {
      const [image, as, name] = instruction.rest.split(/\s+/);
      stages.push({ image: image ?? '', name: as?.toUpperCase() === 'AS' ? (name ?? null) : null, instructions: [] });
    } else if (stages.length > 0) {
      stages[stages.length - 1]!.instructions.push(instruction);
    }
  }
  return stages;
}

function parseInstruction(line: string): DockerInstruction {
  const space = line.search(/\s/);
  const keyword = (space < 0 ? line : line.slice(0, space)).toUpperCase();
  let rest = space < 0 ? '' : line.slice(space).trim();
  const flags: Record<string, string> = {};
  for (;;) {
    const match = /^--([a-z-]+)=(\S+)\s*/.exec(rest);
    if (!match) break;
    flags[match[1]!] = match[2]!;
    rest = rest.slice(match[0].length);
  }
  return { keyword, flags, rest };
}

/** An exec-form (JSON array) argument list; a shell form is refused, since signals would go to `sh`. */
function execForm(rest: string, keyword: string): string[] {
  const parsed: unknown = JSON.parse(rest);
  if (!Array.isArray(parsed) || !parsed.every((part) => typeof part === 'string'))
    throw new Error(`${keyword} must be a JSON array of strings (exec form), got ${rest}`);
  return parsed;
}

/** The container settings of the last stage, as `docker run` would apply them. */
export function imageRuntime(stage: DockerStage): ImageRuntime {
  let entrypoint: string[] = [];
  let cmd: string[] = [];
  let user: string | null = null;
  let workdir: string | null = null;
  const env: Record<string, string> = {};
  const expose: number[] = [];
  const volumes: string[] = [];
  let healthcheck: ImageRuntime['healthcheck'] = null;
  for (const { keyword, flags, rest } of stage.instructions) {
    if (keyword === 'ENTRYPOINT') entrypoint = execForm(rest, keyword);
    else if (keyword === 'CMD') cmd = execForm(rest, keyword);
    else if (keyword === 'USER') user = rest;
    else if (keyword === 'WORKDIR') workdir = rest;
    else if (keyword === 'EXPOSE') expose.push(...rest.split(/\s+/).map((port) => Number(port.split('/')[0])));
    else if (keyword === 'VOLUME') volumes.push(...(rest.startsWith('[') ? execForm(rest, keyword) : rest.split(/\s+/)));
    else if (keyword === 'ENV')
      for (const match of rest.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)/g)) env[match[1]!] = match[2]!.replace(/^"|"$/g, '');
    else if (keyword === 'HEALTHCHECK') {
      const cmdAt = rest.indexOf('CMD ');
      healthcheck = { command: execForm(rest.slice(cmdAt + 4).trim(), 'HEALTHCHECK CMD'), flags };
    }
  }
  return { entrypoint, cmd, user, workdir, env, expose, volumes, healthcheck };
}

/** The Dockerfile's stages, read from deploy/docker/Dockerfile. */
export function readDockerfile(): DockerStage[] {
  return parseDockerfile(readFileSync(DOCKERFILE, 'utf8'));
}

/** One Kubernetes object of the manifests, with the file it came from. */
export interface ManifestObject {
  readonly file: string;
  readonly object: {
    readonly apiVersion: string;
    readonly kind: string;
    readonly metadata: { readonly name: string };
    readonly [field: string]: unknown;
  };
}

/** Every object of every `*.yaml` in `dir` (kustomization.yaml, which is not an object of the cluster, left out); a YAML error throws, naming the file. */
export function readManifests(dir = KUBERNETES_DIR): ManifestObject[] {
  const objects: ManifestObject[] = [];
  for (const file of readdirSync(dir)
    .filter((name) => name.endsWith('.yaml') && name !== 'kustomization.yaml')
    .sort()) {
    for (const document of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      if (document.errors.length > 0) throw new Error(`${file}: ${document.errors.map((error) => error.message).join('; ')}`);
      const object = document.toJS() as ManifestObject['object'] | null;
      if (object !== null) objects.push({ file, object });
    }
  }
  return objects;
}
