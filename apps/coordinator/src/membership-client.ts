import { NODE_ID_PATTERN, type Membership, type Scheduler, type Timer } from '@dkv/core';
import { INTERNODE_AUTH_HEADER, internodeConnectOptions, signInternalRequest, type InternodeTls } from '@dkv/transport';
import { Agent, fetch as undiciFetch } from 'undici';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';

/** Where a storage node serves its membership document (see `@dkv/node`). */
export const MEMBERSHIP_PATH = '/internal/v1/membership';

/** The membership document as it crosses the wire: checked here, at the edge, and trusted inside. */
const membershipSchema = z.object({
  epoch: z.number().int().min(0),
  nodes: z
    .array(
      z.object({
        id: z.string().regex(NODE_ID_PATTERN),
        address: z.string().min(3).max(300),
        role: z.enum(['storage', 'coordinator']),
        status: z.enum(['joining', 'up', 'suspect', 'down', 'leaving']),
        vnodes: z.number().int().min(1).max(65_536),
        metadata: z.record(z.string(), z.string()).default({}),
      }),
    )
    .min(1)
    .max(10_000),
});

/** Largest membership document read: a few hundred bytes per node. */
const MAX_DOCUMENT_BYTES = 4 * 1024 * 1024;

/**
 * Fetches and checks the membership document of the node at `address` (`host:port`); with a
 * cluster secret, the request carries its signed header (the node's internal routes require it);
 * with mutual TLS (`tls`), it goes over https showing this process's certificate and accepts only
 * a node whose certificate chains to the cluster's CA.
 */
export async function fetchMembership(
  address: string,
  timeoutMs: number,
  clusterSecret: string | null = null,
  tls: InternodeTls | null = null,
): Promise<Membership> {
  const headers: Record<string, string> =
    clusterSecret === null ? {} : { [INTERNODE_AUTH_HEADER]: signInternalRequest(clusterSecret, 'GET', MEMBERSHIP_PATH, Date.now()) };
  const response =
    tls === null
      ? await fetch(`http://${address}${MEMBERSHIP_PATH}`, { signal: AbortSignal.timeout(timeoutMs), headers })
      : await fetchOverTls(address, timeoutMs, headers, tls);
  if (response.status !== 200) throw new Error(`GET ${MEMBERSHIP_PATH} on ${address} answered ${response.status}`);
  const text = await response.text();
  if (text.length > MAX_DOCUMENT_BYTES) throw new Error(`membership document from ${address} is over ${MAX_DOCUMENT_BYTES} bytes`);
  const parsed = membershipSchema.safeParse(JSON.parse(text));
  if (!parsed.success)
    throw new Error(
      `membership document from ${address} is malformed: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  return parsed.data;
}

/** One GET of the membership document over mutual TLS, on a connection of its own (a join asks a few times, at start). */
async function fetchOverTls(
  address: string,
  timeoutMs: number,
  headers: Record<string, string>,
  tls: InternodeTls,
): Promise<{ status: number; text(): Promise<string> }> {
  const url = new URL(`https://${address}${MEMBERSHIP_PATH}`);
  const agent = new Agent({ connect: internodeConnectOptions(tls, url.hostname.replace(/^\[|\]$/g, '')) });
  try {
    const response = await undiciFetch(url, { signal: AbortSignal.timeout(timeoutMs), headers, dispatcher: agent });
    const text = await response.text();
    return { status: response.status, text: async () => text };
  } finally {
    void agent.close();
  }
}

/** Bounds of {@link joinCluster}'s retries. */
export interface JoinOptions {
  /** Give up after this long. */
  readonly deadlineMs: number;
  /** Deadline of one fetch. */
  readonly attemptTimeoutMs: number;
  /** Backoff before the first retry; it doubles up to `maxDelayMs`. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** The cluster secret the membership request proves; null or absent: none. */
  readonly clusterSecret?: string | null;
  /** Mutual TLS to the node (`--tls-ca`); null or absent: plain http. */
  readonly tls?: InternodeTls | null;
}

/** Defaults of {@link JoinOptions} apart from the deadline, which is configured. */
export const DEFAULT_JOIN_BACKOFF = { attemptTimeoutMs: 2000, baseDelayMs: 50, maxDelayMs: 1000 } as const;

/**
 * Learns the membership from the node at `address`, retrying with exponential backoff while it
 * is not up yet (nodes and coordinators may start in any order), until `deadlineMs` has passed.
 * The error then names the address and the last failure.
 */
export async function joinCluster(address: string, options: JoinOptions): Promise<Membership> {
  const giveUpAt = Date.now() + options.deadlineMs;
  let delayMs = options.baseDelayMs;
  // The reason of the last attempt that had its full time: one cut short by the deadline only
  // says "timeout", which would hide why the node kept failing.
  let lastFullReason: string | null = null;
  for (let attempt = 1; ; attempt += 1) {
    const budgetMs = Math.max(1, Math.min(options.attemptTimeoutMs, giveUpAt - Date.now()));
    try {
      return await fetchMembership(address, budgetMs, options.clusterSecret ?? null, options.tls ?? null);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      if (budgetMs === options.attemptTimeoutMs || lastFullReason === null) lastFullReason = reason;
      if (Date.now() + delayMs >= giveUpAt) {
        throw new Error(
          `cannot learn the membership from ${address} within ${options.deadlineMs} ms (${attempt} attempts): ${lastFullReason}`,
        );
      }
    }
    await sleep(delayMs);
    delayMs = Math.min(options.maxDelayMs, delayMs * 2);
  }
}

/**
 * Keeps a membership view fresh: every `intervalMs` it fetches the document from the join address,
 * or from the known storage nodes in turn when that one does not answer, and offers it to
 * `update` (which adopts only a higher epoch). Rounds never overlap; a failed round is just skipped.
 */
export class MembershipRefresher {
  private timer: Timer | null = null;
  private running = false;

  constructor(
    private readonly joinAddress: string,
    private readonly current: () => Membership,
    private readonly update: (membership: Membership) => void,
    private readonly scheduler: Scheduler,
    private readonly intervalMs: number,
    private readonly attemptTimeoutMs: number,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = this.scheduler.every(this.intervalMs, () => void this.refresh());
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = null;
  }

  /** One round: the first source that answers wins. Returns whether any did. */
  async refresh(): Promise<boolean> {
    if (this.running) return false;
    this.running = true;
    try {
      const sources = [
        this.joinAddress,
        ...this.current()
          .nodes.filter((n) => n.role === 'storage')
          .map((n) => n.address),
      ];
      for (const address of new Set(sources)) {
        try {
          this.update(await fetchMembership(address, this.attemptTimeoutMs));
          return true;
        } catch {
          // This source is down or slow: try the next one.
        }
      }
      return false;
    } finally {
      this.running = false;
    }
  }
}
