// Goal: the Kubernetes manifests in deploy/kubernetes are valid Kubernetes objects and agree with
// what the dkv processes actually serve (issue #14's proof): the probes' paths and ports, the
// container ports, the volume's mount path, the pre-stop hook's timing against the grace period,
// the image's user and the flags the start script gives `dkv node`.
// Method: (1) every object is validated offline against the Kubernetes JSON schemas of the
// `kubernetes-models` package. (2) Cross-checks between the objects (selectors, Service ports,
// the headless Service's name in the pod's DNS names, the PodDisruptionBudget, anti-affinity)
// and against the Dockerfile. (3) start-node.sh, the container's arguments, is run with the
// container's environment and a stand-in `node` on PATH that prints its argv: the flags must
// parse as `dkv node` settings (parseFlags + parseNodeConfig), for pod 0's first start, pod 0's
// restart with data, and a later pod; bad inputs must stop it with exit 2 and a message. (4) The
// same script starts a real node (the built CLI) with the container's environment, where only
// the host (127.0.0.1), the ports (free ones) and the data directory (temporary) are changed for
// a shared machine and N=W=R=1 lets one node serve: each probe's path answers 200 on the port the
// probe names, the Redis port answers PING, and SIGTERM stops it with exit 0 within the grace
// period left after the pre-stop hook.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StatefulSet } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Service } from 'kubernetes-models/v1';
import type { IContainer, IEnvVar, IProbe } from 'kubernetes-models/v1';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './e2e-support.js';
import { KUBERNETES_DIR, REPO_ROOT, imageRuntime, readDockerfile, readManifests, type ManifestObject } from './deploy-support.js';

// Dynamic, as the CLI loads them (a static import of a lazy-loaded library is a lint error).
const { ConfigError, parseFlags } = await import('@dkv/app-config');
const { NODE_SETTINGS, parseNodeConfig } = await import('@dkv/node');

const DEADLINE_MS = 60_000;
/** dkv's own graceful close bound (packages/app-config foreground.ts): the process exits by then. */
const CLOSE_DEADLINE_S = 10;
const manifests = readManifests();
const VALIDATORS: Record<string, (object: ManifestObject['object']) => void> = {
  'v1/Service': (object) => new Service(object as never).validate(),
  'apps/v1/StatefulSet': (object) => new StatefulSet(object as never).validate(),
  'policy/v1/PodDisruptionBudget': (object) => new PodDisruptionBudget(object as never).validate(),
};

function only<T>(kind: string, name?: string): T {
  const found = manifests.filter((m) => m.object.kind === kind && (name === undefined || m.object.metadata.name === name));
  expect(found, `exactly one ${kind}${name ? ` ${name}` : ''}`).toHaveLength(1);
  return found[0]!.object as T;
}

const statefulSet = only<StatefulSet>('StatefulSet');
const podSpec = statefulSet.spec!.template.spec!;
const container: IContainer = podSpec.containers[0]!;
const podLabels = statefulSet.spec!.template.metadata!.labels!;
const headless = only<Service>('Service', statefulSet.spec!.serviceName);
const client = only<Service>('Service', 'dkv-client');
const runtime = imageRuntime(readDockerfile().at(-1)!);

/** The container's plain `value` variables; fieldRefs resolved as Kubernetes would for pod `pod` in namespace `test` with no zone label. */
function containerEnv(pod: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const variable of container.env ?? ([] as IEnvVar[])) {
    const path = variable.valueFrom?.fieldRef?.fieldPath;
    if (variable.value !== undefined) env[variable.name] = variable.value;
    else if (path === 'metadata.name') env[variable.name] = pod;
    else if (path === 'metadata.namespace') env[variable.name] = 'test';
    else if (path?.startsWith('metadata.labels[')) env[variable.name] = '';
    else throw new Error(`variable ${variable.name}: no stand-in for ${JSON.stringify(variable.valueFrom)}`);
  }
  return env;
}

function portNumber(port: string | number | undefined): number {
  if (typeof port === 'number') return port;
  const named = container.ports?.find((p) => p.name === port);
  expect(named, `container port named ${String(port)}`).toBeDefined();
  return named!.containerPort;
}

const probe = (which: 'readinessProbe' | 'livenessProbe' | 'startupProbe'): IProbe => container[which]!;

let scratch = '';
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'dkv-k8s-'));
});
let running: ChildProcess | null = null;
afterAll(() => {
  if (running?.pid !== undefined && running.exitCode === null && running.signalCode === null) running.kill('SIGKILL');
  if (scratch !== '') rmSync(scratch, { recursive: true, force: true });
});

describe('the Kubernetes manifests', () => {
  it('are valid objects of the Kubernetes API (offline, against its JSON schemas)', () => {
    expect(manifests.map((m) => `${m.object.kind}/${m.object.metadata.name}`).sort()).toEqual([
      'PodDisruptionBudget/dkv',
      'Service/dkv',
      'Service/dkv-client',
      'StatefulSet/dkv',
    ]);
    for (const { file, object } of manifests) {
      const validate = VALIDATORS[`${object.apiVersion}/${object.kind}`];
      expect(validate, `${file}: a validator for ${object.apiVersion} ${object.kind}`).toBeDefined();
      expect(() => validate!(object), file).not.toThrow();
    }
    // The validator catches a wrong type: a port written as text.
    const broken = structuredClone(statefulSet) as unknown as {
      spec: { template: { spec: { containers: Array<{ ports: Array<{ containerPort: unknown }> }> } } };
    };
    broken.spec.template.spec.containers[0]!.ports[0]!.containerPort = 'seven thousand';
    expect(() => VALIDATORS['apps/v1/StatefulSet']!(broken as never)).toThrow(/containerPort must be integer/);
  });

  it('lists every manifest in kustomization.yaml', () => {
    const kustomization = readFileSync(join(KUBERNETES_DIR, 'kustomization.yaml'), 'utf8');
    for (const file of new Set(manifests.map((m) => m.file))) expect(kustomization).toContain(`- ${file}`);
  });

  it('wire the Services, the budget and the placement to the pods', () => {
    for (const service of [headless, client]) expect(service.spec!.selector).toEqual(podLabels);
    expect(headless.spec!.clusterIP).toBe('None');
    expect(headless.spec!.publishNotReadyAddresses).toBe(true);
    expect(containerEnv('dkv-0').DKV_SERVICE).toBe(headless.metadata!.name);
    for (const port of client.spec!.ports!) portNumber(port.targetPort);
    expect(client.spec!.ports!.map((p) => portNumber(p.targetPort)).sort()).toEqual(
      [Number(containerEnv('dkv-0').DKV_PORT), Number(containerEnv('dkv-0').DKV_RESP_PORT)].sort(),
    );
    const budget = only<PodDisruptionBudget>('PodDisruptionBudget');
    expect(budget.spec!.maxUnavailable).toBe(1);
    expect(budget.spec!.selector!.matchLabels).toEqual(podLabels);
    const antiAffinity = podSpec.affinity!.podAntiAffinity!.requiredDuringSchedulingIgnoredDuringExecution!;
    expect(antiAffinity.map((term) => [term.topologyKey, term.labelSelector!.matchLabels])).toEqual([
      ['kubernetes.io/hostname', podLabels],
    ]);
    expect(podSpec.topologySpreadConstraints!.map((c) => c.topologyKey)).toEqual(['topology.kubernetes.io/zone']);
    expect(statefulSet.spec!.replicas).toBe(5);
    expect(statefulSet.spec!.podManagementPolicy).toBe('Parallel');
  });

  it('agree with the image: its user, its ports, its volume, and a script the image contains', () => {
    const [uid, gid] = runtime.user!.split(':').map(Number);
    expect([podSpec.securityContext!.runAsUser, podSpec.securityContext!.runAsGroup]).toEqual([uid, gid]);
    expect(podSpec.securityContext!.runAsNonRoot).toBe(true);
    expect(container.command, 'the image entry point (tini) must stay').toBeUndefined();
    expect(container.ports!.map((p) => p.containerPort).sort()).toEqual([...runtime.expose].sort());
    const mount = container.volumeMounts!.find((m) => m.mountPath === containerEnv('dkv-0').DKV_DATA_DIR);
    expect(mount, 'a volume mounted at DKV_DATA_DIR').toBeDefined();
    expect(runtime.volumes).toContain(mount!.mountPath);
    expect(statefulSet.spec!.volumeClaimTemplates!.map((t) => t.metadata!.name)).toContain(mount!.name);
    const [shell, script] = container.args!;
    expect(shell).toBe('/bin/sh');
    // The build stage copies the script to the same place under the image's WORKDIR.
    expect(readFileSync(join(REPO_ROOT, 'deploy/docker/Dockerfile'), 'utf8')).toContain(`cp ${script} /out/deploy/kubernetes/`);
    expect(readFileSync(join(REPO_ROOT, script!), 'utf8')).toContain('exec node');
  });

  it('probe /readyz for readiness and /livez for liveness and start-up, on the node port, and drain within the grace period', () => {
    expect(probe('readinessProbe').httpGet!.path).toBe('/readyz');
    expect(probe('livenessProbe').httpGet!.path).toBe('/livez');
    expect(probe('startupProbe').httpGet!.path).toBe('/livez');
    for (const which of ['readinessProbe', 'livenessProbe', 'startupProbe'] as const)
      expect(portNumber(probe(which).httpGet!.port)).toBe(Number(containerEnv('dkv-0').DKV_PORT));
    const preStop = container.lifecycle!.preStop!.exec!.command!;
    const seconds = Number(/^sleep (\d+)$/.exec(preStop[2] ?? '')?.[1]);
    expect(preStop.slice(0, 2)).toEqual(['/bin/sh', '-c']);
    expect(seconds).toBeGreaterThan(0);
    // Kubernetes counts the pre-stop hook inside the grace period; dkv's close must fit after it.
    expect(seconds + CLOSE_DEADLINE_S).toBeLessThan(podSpec.terminationGracePeriodSeconds!);
  });
});

describe('start-node.sh, the container arguments', () => {
  /** Runs the script with a stand-in `node` that prints its arguments; answers its exit status, stderr, and the argv given to `dkv`. */
  function dryRun(pod: string, over: Record<string, string> = {}): { status: number | null; stderr: string; argv: string[] } {
    const bin = join(scratch, 'bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'node'), '#!/bin/sh\nprintf "%s\\n" "$@"\n');
    chmodSync(join(bin, 'node'), 0o755);
    const env = {
      ...containerEnv(pod),
      DKV_DATA_DIR: join(scratch, 'data'),
      ...over,
      PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    };
    const result = spawnSync(container.args![0]!, container.args!.slice(1), { cwd: REPO_ROOT, env, encoding: 'utf8', timeout: 10_000 });
    const lines = result.stdout.split('\n').filter((line) => line !== '');
    return { status: result.status, stderr: result.stderr, argv: lines.slice(2) };
  }

  function nodeConfig(pod: string, argv: string[]) {
    const { flags } = parseFlags(NODE_SETTINGS, argv);
    return parseNodeConfig(flags, { ...containerEnv(pod), DKV_DATA_DIR: join(scratch, 'data') });
  }

  const seedsOf = (...ordinals: number[]) => ordinals.map((i) => `dkv-${i}.dkv.test.svc.cluster.local:7000`);

  it('starts a new cluster on pod 0 without data, and joins through the first pods by name otherwise', () => {
    const first = dryRun('dkv-0');
    expect(first.status).toBe(0);
    const firstConfig = nodeConfig('dkv-0', first.argv);
    expect(firstConfig).toMatchObject({
      id: 'dkv-0',
      host: '0.0.0.0',
      port: 7000,
      advertiseAddress: 'dkv-0.dkv.test.svc.cluster.local:7000',
      join: null,
      members: null,
      zone: 'default',
    });
    expect(firstConfig.coordinator).not.toBeNull();
    // The key bound fits the container: 2,285 bytes a 2 KB session (docs/capacity.md) and 256 MiB
    // for the process, within the memory limit.
    const limit = container.resources!.limits!['memory'] as string;
    expect(limit).toMatch(/^\d+Gi$/);
    expect(firstConfig.maxKeys * 2285 + 256 * 2 ** 20).toBeLessThanOrEqual(Number.parseInt(limit, 10) * 2 ** 30);
    expect(firstConfig.resp).toMatchObject({ port: 6379 });

    expect(nodeConfig('dkv-0', dryRun('dkv-0', { DKV_BOOTSTRAP: 'never' }).argv).join).toEqual(seedsOf(1, 2));
    const later = dryRun('dkv-7');
    expect(nodeConfig('dkv-7', later.argv)).toMatchObject({
      id: 'dkv-7',
      advertiseAddress: 'dkv-7.dkv.test.svc.cluster.local:7000',
      join: seedsOf(0, 1, 2),
    });
    expect(later.stderr).toContain('dkv-7 joins through');

    // Pod 0 restarted: its data directory exists, so it rejoins through the other seeds.
    mkdirSync(join(scratch, 'data', 'dkv-0'), { recursive: true });
    expect(nodeConfig('dkv-0', dryRun('dkv-0').argv).join).toEqual(seedsOf(1, 2));
    expect(nodeConfig('dkv-1', dryRun('dkv-1').argv).join).toEqual(seedsOf(0, 2));
    expect(nodeConfig('dkv-3', dryRun('dkv-3', { DKV_ZONE: 'eu-west-1b' }).argv).zone).toBe('eu-west-1b');
  });

  it('stops with exit 2 and a message on inputs it cannot use', () => {
    expect(dryRun('dkv', { POD_NAME: 'dkv' })).toMatchObject({
      status: 2,
      stderr: expect.stringContaining('POD_NAME "dkv" must end in -<ordinal>'),
    });
    expect(dryRun('dkv-1', { DKV_SEEDS: '1' })).toMatchObject({
      status: 2,
      stderr: expect.stringContaining('DKV_SEEDS "1" must be a whole number of at least 2'),
    });
    expect(dryRun('dkv-0', { DKV_BOOTSTRAP: 'always' })).toMatchObject({
      status: 2,
      stderr: expect.stringContaining('DKV_BOOTSTRAP "always" must be auto or never'),
    });
    expect(dryRun('dkv-1', { POD_NAMESPACE: '' })).toMatchObject({
      status: 2,
      stderr: expect.stringContaining('POD_NAMESPACE must be set'),
    });
    expect(() => nodeConfig('dkv-1', ['--no-such-flag'])).toThrow(ConfigError);
  });

  it('runs a node that serves every probe path on its port and the Redis door, and stops on SIGTERM with exit 0 in time', async () => {
    const [httpPort, respPort] = [await freePort(), await freePort()];
    const dataDir = join(scratch, 'real-data');
    const env = {
      ...process.env,
      ...containerEnv('dkv-0'),
      DKV_HOST: '127.0.0.1',
      DKV_PORT: String(httpPort),
      DKV_RESP_PORT: String(respPort),
      DKV_DATA_DIR: dataDir,
      DKV_N: '1',
      DKV_W: '1',
      DKV_R: '1',
      DKV_LOG_LEVEL: 'warn',
    };
    running = spawn(container.args![0]!, container.args!.slice(1), { cwd: REPO_ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    running.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => running!.once('exit', (code) => resolve(code)));
    const status = async (path: string) => {
      const res = await fetch(`http://127.0.0.1:${httpPort}${path}`, { signal: AbortSignal.timeout(1000) });
      await res.body?.cancel();
      return res.status;
    };
    const giveUpAt = Date.now() + DEADLINE_MS;
    while ((await status(probe('readinessProbe').httpGet!.path!).catch(() => 0)) !== 200) {
      if (Date.now() > giveUpAt || running.exitCode !== null) throw new Error(`the node never became ready; stderr:\n${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(stderr).toContain('dkv-0 starts a new cluster');
    for (const which of ['livenessProbe', 'startupProbe', 'readinessProbe'] as const)
      expect(await status(probe(which).httpGet!.path!)).toBe(200);
    const pong = await new Promise<string>((resolve, reject) => {
      const socket = connect(respPort, '127.0.0.1', () => socket.write('PING\r\n'));
      socket.once('data', (chunk) => {
        socket.destroy();
        resolve(chunk.toString());
      });
      socket.once('error', reject);
    });
    expect(pong).toBe('+PONG\r\n');
    const stoppedBy =
      Date.now() +
      (podSpec.terminationGracePeriodSeconds! - Number(/\d+/.exec(container.lifecycle!.preStop!.exec!.command![2]!)![0])) * 1000;
    running.kill('SIGTERM');
    expect(await exited, stderr).toBe(0);
    expect(Date.now()).toBeLessThan(stoppedBy);
  });
});
