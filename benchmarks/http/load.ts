/**
 * The load generators of the HTTP benchmark, all aimed at the public API (`/v1/kv/*`):
 *
 * - {@link closedLoop}: autocannon with `connections` connections, pipelining 1, each sending its
 *   next request as soon as the previous answer arrives. Its throughput is the peak.
 * - {@link autocannonAtRate}: the same with autocannon's `overallRate`. Autocannon enforces a rate
 *   as a per-connection budget refilled once a second: a connection sends back to back until its
 *   budget for the second is spent, then waits for the next second. So the load comes in bursts at
 *   near-closed-loop speed, and the latency it reports is that of the bursts, measured from when a
 *   request was actually sent (coordinated omission: requests a stalled server kept from being sent
 *   are never counted). Kept because the issue asks for it; read it as such.
 * - {@link openLoop}: a true open loop at a fixed rate: request i is due at start + i/rate whatever
 *   happened before, and its latency runs from that due time to its answer, so time spent waiting
 *   behind a slow answer (in the server, or for a free connection) counts. That is the latency a
 *   user at that arrival rate sees, free of coordinated omission; the p99 target is judged on it.
 *
 * Every request of every generator lands in an HDR histogram in microseconds.
 *
 * A target may have several URLs (a cluster whose every node serves the public API): the
 * generators then spread their connections and requests evenly over them, round-robin.
 */
import autocannon from 'autocannon';
import { Pool } from 'undici';
import { latencyHistogram, summarize, type LatencySummary } from '../lib/measure.js';
import { sessionKey, XorShift32 } from '@dkv/testkit';

/** The three workloads: reads of preloaded sessions, writes, and a user's request (read + rewrite of one session). */
export type Scenario = 'get' | 'put' | 'mix';

/** The TTL every session write carries, in seconds (30 minutes, a typical session lifetime). */
export const SESSION_TTL_SECONDS = 1800;

/** What a generator needs to build requests. */
export interface Workload {
  /** Keys `session:0 .. session:<keys-1>` exist (preloaded); requests draw uniformly among them. */
  readonly keys: number;
  /** Request bodies for writes, drawn at random. */
  readonly values: readonly Buffer[];
  readonly seed: number;
}

/** The outcome of one run of a generator. */
export interface LoadResult {
  readonly kind: 'closed' | 'autocannon-rate' | 'open';
  /** The offered rate (HTTP requests/s) for the rate-limited kinds, null for the closed loop. */
  readonly targetRate: number | null;
  readonly durationSeconds: number;
  /** HTTP requests answered (any status) per second. */
  readonly requestsPerSecond: number;
  readonly requests: number;
  readonly non2xx: number;
  /** Connection errors and timeouts (no answer at all). */
  readonly errors: number;
  /** Our histogram of every answer. For `open`, measured from each request's due time. */
  readonly latency: LatencySummary;
  /** What autocannon itself reported (ms), for the autocannon kinds. */
  readonly autocannonLatency: { p50Ms: number; p99Ms: number; p999Ms: number } | null;
  /** For `mix` under `open`: a user's GET + PUT, from the GET's due time to the PUT's answer. */
  readonly sessionLatency: LatencySummary | null;
  /**
   * For `open`: how late the generator itself handed each request to its HTTP client (timer lag,
   * its own GC pauses). Latency percentiles near these are the generator's, not the server's.
   */
  readonly scheduleLag: LatencySummary | null;
  /** Status codes other than 2xx and how often they came. */
  readonly statusCodes: Readonly<Record<string, number>>;
}

const CONTENT_TYPE = { 'content-type': 'application/json' };

function putPath(key: string): string {
  return `/v1/kv/${encodeURIComponent(key)}?ttl=${SESSION_TTL_SECONDS}`;
}

function getPath(key: string): string {
  return `/v1/kv/${encodeURIComponent(key)}`;
}

/** Autocannon request sequences for a scenario; `mix` is a GET then a PUT of the same key on one connection. */
/**
 * How a client reaches a target run with authentication or TLS (the benchmark's `--security`): an
 * `authorization` header on every request (HTTP Basic), and the CA an `https://` URL's
 * certificate must chain to. Empty: plain http, no credentials.
 */
export interface TargetAccess {
  readonly authorization?: string;
  readonly ca?: Buffer;
}

function autocannonRequests(scenario: Scenario, workload: Workload, access: TargetAccess = {}): autocannon.Request[] {
  const auth: Record<string, string> = access.authorization === undefined ? {} : { authorization: access.authorization };
  const rng = new XorShift32(workload.seed);
  const pickKey = (): string => sessionKey(rng.below(workload.keys));
  const pickValue = (): Buffer => workload.values[rng.below(workload.values.length)] ?? Buffer.alloc(0);
  const get: autocannon.Request = {
    method: 'GET',
    headers: auth,
    setupRequest: (req, context: Record<string, unknown>) => {
      const key = pickKey();
      context['key'] = key;
      return { ...req, path: getPath(key) };
    },
  };
  const put = (sameKey: boolean): autocannon.Request => ({
    method: 'PUT',
    headers: { ...CONTENT_TYPE, ...auth },
    setupRequest: (req, context: Record<string, unknown>) => {
      const key = sameKey && typeof context['key'] === 'string' ? context['key'] : pickKey();
      return { ...req, path: putPath(key), body: pickValue() };
    },
  });
  if (scenario === 'get') return [get];
  if (scenario === 'put') return [put(false)];
  return [get, put(true)];
}

/** One URL, or several that serve the same API (the load is spread over them). */
export type TargetUrls = string | readonly string[];

function urlList(url: TargetUrls): readonly string[] {
  return typeof url === 'string' ? [url] : url;
}

/** One undici pool per URL, with `connections` shared out among them (at least one each). */
function pools(url: TargetUrls, connections: number, options: Omit<Pool.Options, 'connections'> = {}): Pool[] {
  const urls = urlList(url);
  if (urls.length === 0) throw new Error('a target needs at least one URL');
  return urls.map((u) => new Pool(u, { ...options, connections: Math.max(1, Math.ceil(connections / urls.length)) }));
}

/** Options shared by the autocannon runs. */
export interface AutocannonOptions {
  /** Autocannon spreads its connections over several URLs round-robin. */
  readonly url: TargetUrls;
  readonly scenario: Scenario;
  readonly workload: Workload;
  readonly connections: number;
  readonly durationSeconds: number;
  /** Called about once a second with requests answered so far. */
  readonly onTick?: (answered: number, elapsedSeconds: number) => void;
  /** Credentials and CA of a target run with `--security`; absent: plain http. */
  readonly access?: TargetAccess;
}

/** Closed loop: peak throughput at `connections` outstanding requests. */
export function closedLoop(options: AutocannonOptions): Promise<LoadResult> {
  return runAutocannon(options, null);
}

/** Autocannon's `overallRate` at `rate` HTTP requests/s (bursty, see the module comment). */
export function autocannonAtRate(options: AutocannonOptions, rate: number): Promise<LoadResult> {
  return runAutocannon(options, Math.max(1, Math.round(rate)));
}

async function runAutocannon(options: AutocannonOptions, rate: number | null): Promise<LoadResult> {
  const histogram = latencyHistogram();
  const statusCodes: Record<string, number> = {};
  let answered = 0;
  const startedMs = performance.now();
  const instance = autocannon({
    url: typeof options.url === 'string' ? options.url : [...options.url],
    connections: options.connections,
    pipelining: 1,
    duration: options.durationSeconds,
    timeout: 10,
    requests: autocannonRequests(options.scenario, options.workload, options.access),
    ...(options.access?.ca === undefined ? {} : { tlsOptions: { ca: options.access.ca } }),
    ...(rate === null ? {} : { overallRate: rate }),
  });
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTimeMs: number) => {
    answered += 1;
    histogram.recordValue(Math.max(1, Math.round(responseTimeMs * 1000)));
    if (statusCode < 200 || statusCode > 299) statusCodes[statusCode] = (statusCodes[statusCode] ?? 0) + 1;
  });
  const ticker = setInterval(() => options.onTick?.(answered, (performance.now() - startedMs) / 1000), 1000);
  try {
    const result = await instance;
    const durationSeconds = result.duration > 0 ? result.duration : options.durationSeconds;
    const latency = result.latency as unknown as Record<string, number>;
    return {
      kind: rate === null ? 'closed' : 'autocannon-rate',
      targetRate: rate,
      durationSeconds,
      requests: answered,
      requestsPerSecond: answered / durationSeconds,
      non2xx: result.non2xx,
      errors: result.errors + result.timeouts,
      latency: summarize(histogram),
      autocannonLatency: { p50Ms: latency['p50'] ?? 0, p99Ms: latency['p99'] ?? 0, p999Ms: latency['p99_9'] ?? 0 },
      sessionLatency: null,
      scheduleLag: null,
      statusCodes,
    };
  } finally {
    clearInterval(ticker);
  }
}

/** Options of {@link openLoop}. */
export interface OpenLoopOptions extends AutocannonOptions {
  /** HTTP requests per second to offer (for `mix`, each user makes two). */
  readonly rate: number;
  /** Requests in flight beyond which new ones are counted as errors instead of sent: the generator's own bound. */
  readonly maxInFlight?: number;
}

/** How long the open loop waits for stragglers after its last request was due. */
const OPEN_LOOP_DRAIN_MS = 5000;
/** How often the open-loop scheduler wakes up to send what has come due. */
const OPEN_LOOP_TICK_MS = 1;

/**
 * An open loop at `rate` HTTP requests/s over up to `connections` keep-alive connections (undici
 * pool, pipelining 1). Latency runs from each request's due time, not from when it could be sent.
 */
export async function openLoop(options: OpenLoopOptions): Promise<LoadResult> {
  const { scenario, workload } = options;
  const targets = pools(options.url, options.connections, { pipelining: 1, keepAliveTimeout: 60_000 });
  const histogram = latencyHistogram();
  const sessionHistogram = latencyHistogram();
  const lagHistogram = latencyHistogram();
  const statusCodes: Record<string, number> = {};
  const rng = new XorShift32(workload.seed ^ 0x5bd1e995);
  const maxInFlight = options.maxInFlight ?? 20 * options.connections + 1000;
  // A `mix` user sends two requests, so users arrive at half the HTTP rate.
  const arrivalsPerSecond = scenario === 'mix' ? options.rate / 2 : options.rate;
  const intervalMs = 1000 / arrivalsPerSecond;
  const totalArrivals = Math.max(1, Math.floor(arrivalsPerSecond * options.durationSeconds));
  let answered = 0;
  let non2xx = 0;
  let errors = 0;
  let inFlight = 0;

  const send = async (pool: Pool, method: 'GET' | 'PUT', key: string, dueMs: number): Promise<void> => {
    try {
      const response = await pool.request(
        method === 'GET'
          ? { method, path: getPath(key) }
          : {
              method,
              path: putPath(key),
              headers: CONTENT_TYPE,
              body: workload.values[rng.below(workload.values.length)] ?? Buffer.alloc(0),
            },
      );
      await response.body.dump();
      answered += 1;
      histogram.recordValue(Math.max(1, Math.round((performance.now() - dueMs) * 1000)));
      if (response.statusCode < 200 || response.statusCode > 299) {
        non2xx += 1;
        statusCodes[response.statusCode] = (statusCodes[response.statusCode] ?? 0) + 1;
      }
    } catch {
      errors += 1;
    }
  };

  // Users arrive at the target's URLs in turn; a `mix` user's GET and PUT go to the same one.
  const arrive = async (index: number, dueMs: number): Promise<void> => {
    inFlight += 1;
    lagHistogram.recordValue(Math.max(1, Math.round((performance.now() - dueMs) * 1000)));
    const key = sessionKey(rng.below(workload.keys));
    const pool = targets[index % targets.length] as Pool;
    try {
      if (scenario === 'get') await send(pool, 'GET', key, dueMs);
      else if (scenario === 'put') await send(pool, 'PUT', key, dueMs);
      else {
        await send(pool, 'GET', key, dueMs);
        // The PUT is sent when the GET is answered, as the application would; its own latency
        // runs from then, the user's from the GET's due time.
        await send(pool, 'PUT', key, performance.now());
        sessionHistogram.recordValue(Math.max(1, Math.round((performance.now() - dueMs) * 1000)));
      }
    } finally {
      inFlight -= 1;
    }
  };

  // Open every connection before the clock starts: otherwise the first requests wait for TCP
  // handshakes, and in a short run that start-up backlog alone makes the p99.
  await Promise.all(
    Array.from({ length: options.connections }, async (_, i) => {
      const response = await (targets[i % targets.length] as Pool).request({ method: 'GET', path: getPath(sessionKey(i % workload.keys)) });
      await response.body.dump();
    }),
  );
  const startMs = performance.now();
  let arrived = 0;
  const ticker = setInterval(() => options.onTick?.(answered, (performance.now() - startMs) / 1000), 1000);
  try {
    await new Promise<void>((resolve) => {
      const tick = (): void => {
        const nowMs = performance.now();
        const due = Math.min(totalArrivals, Math.floor((nowMs - startMs) / intervalMs) + 1);
        while (arrived < due) {
          const dueMs = startMs + arrived * intervalMs;
          const index = arrived;
          arrived += 1;
          if (inFlight >= maxInFlight) {
            errors += scenario === 'mix' ? 2 : 1;
            continue;
          }
          void arrive(index, dueMs);
        }
        if (arrived < totalArrivals) setTimeout(tick, OPEN_LOOP_TICK_MS);
        else resolve();
      };
      tick();
    });
    const drainUntil = performance.now() + OPEN_LOOP_DRAIN_MS;
    while (inFlight > 0 && performance.now() < drainUntil) await new Promise((r) => setTimeout(r, 5));
    errors += scenario === 'mix' ? inFlight * 2 : inFlight;
  } finally {
    clearInterval(ticker);
    await Promise.all(targets.map((pool) => pool.destroy()));
  }
  const durationSeconds = (performance.now() - startMs) / 1000;
  return {
    kind: 'open',
    targetRate: options.rate,
    durationSeconds,
    requests: answered,
    requestsPerSecond: answered / durationSeconds,
    non2xx,
    errors,
    latency: summarize(histogram),
    autocannonLatency: null,
    sessionLatency: scenario === 'mix' ? summarize(sessionHistogram) : null,
    scheduleLag: summarize(lagHistogram),
    statusCodes,
  };
}

/**
 * Writes `session:0 .. session:<keys-1>` with TTL `ttlSeconds` through `concurrency` parallel
 * requests (undici pools, one per URL, in turn), so GETs find them. Fails if any write does not
 * answer 2xx: a benchmark that reads missing keys measures 404s, not reads.
 */
export async function preload(
  url: TargetUrls,
  workload: Workload,
  concurrency: number,
  ttlSeconds: number,
  onProgress: (done: number) => void,
  access: TargetAccess = {},
): Promise<number> {
  const targets = pools(url, concurrency, { pipelining: 1, ...(access.ca === undefined ? {} : { connect: { ca: access.ca } }) });
  const startMs = performance.now();
  let next = 0;
  let failed = 0;
  let firstFailure = '';
  let lastReportMs = startMs;
  const worker = async (): Promise<void> => {
    while (next < workload.keys && failed === 0) {
      const index = next;
      next += 1;
      const value = workload.values[index % workload.values.length] ?? Buffer.alloc(0);
      const response = await (targets[index % targets.length] as Pool).request({
        method: 'PUT',
        path: `/v1/kv/${encodeURIComponent(sessionKey(index))}?ttl=${ttlSeconds}`,
        headers: access.authorization === undefined ? CONTENT_TYPE : { ...CONTENT_TYPE, authorization: access.authorization },
        body: value,
      });
      const text = await response.body.text();
      if (response.statusCode !== 200) {
        failed += 1;
        firstFailure ||= `PUT ${sessionKey(index)} answered ${response.statusCode}: ${text.slice(0, 200)}`;
      }
      if (performance.now() - lastReportMs >= 2000) {
        lastReportMs = performance.now();
        onProgress(next);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    await Promise.all(targets.map((pool) => pool.destroy()));
  }
  if (failed > 0) throw new Error(`preload failed: ${firstFailure}`);
  return (performance.now() - startMs) / 1000;
}
