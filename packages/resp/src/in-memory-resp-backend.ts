import { DkvError, globMatch } from '@dkv/core';
import type { RespBackend, RespScanPage, RespStoredValue } from './resp-backend.js';

/** What {@link InMemoryRespBackend} is built with. */
export interface InMemoryRespBackendOptions {
  /** Epoch milliseconds now; expiry is judged by it. */
  readonly now: () => number;
  /** Largest value stored; larger ones are refused with VALUE_TOO_LARGE as the coordinator refuses them. */
  readonly maxValueBytes?: number;
}

/**
 * The in-memory adapter of {@link RespBackend}: a Map with versions and expiry, so the door's
 * commands can be tested without a cluster. Every operation can be made to fail
 * ({@link failNext}) or to wait ({@link hold}) to test error replies and reply ordering.
 */
export class InMemoryRespBackend implements RespBackend {
  private readonly entries = new Map<string, RespStoredValue>();
  private version = 0;
  private failure: DkvError | null = null;
  private gate: Promise<void> | null = null;
  /** Every call, in the order it reached the backend: `get k`, `put k`, `delete k`, `scan`, `count`. */
  readonly calls: string[] = [];

  constructor(private readonly options: InMemoryRespBackendOptions) {}

  /** The next operation throws `error` (once). */
  failNext(error: DkvError): void {
    this.failure = error;
  }

  /** Operations from now on wait until `until` resolves (a test holds replies back to reorder completions). */
  hold(until: Promise<void>): void {
    this.gate = until;
  }

  async get(key: string): Promise<RespStoredValue | null> {
    await this.enter(`get ${key}`);
    const entry = this.entries.get(key);
    if (entry === undefined) return null;
    if (entry.expiresAt !== null && entry.expiresAt <= this.options.now()) {
      this.entries.delete(key);
      return null;
    }
    return entry;
  }

  async put(key: string, value: Uint8Array, expiresAt: number | null): Promise<void> {
    await this.enter(`put ${key}`);
    if (this.options.maxValueBytes !== undefined && value.byteLength > this.options.maxValueBytes) {
      throw new DkvError('VALUE_TOO_LARGE', `value is ${value.byteLength} bytes; the limit is ${this.options.maxValueBytes} bytes`);
    }
    this.version += 1;
    this.entries.set(key, { value: Uint8Array.from(value), version: this.version, expiresAt });
  }

  async delete(key: string): Promise<void> {
    await this.enter(`delete ${key}`);
    this.entries.delete(key);
  }

  async scanKeys(cursor: string | null, options: { readonly match?: string; readonly count: number }): Promise<RespScanPage> {
    await this.enter('scan');
    const keys = [...this.entries.keys()].sort();
    const start = cursor === null ? 0 : Number(cursor);
    const page = keys.slice(start, start + options.count);
    const next = start + options.count;
    const now = this.options.now();
    const live = page.filter((key) => {
      const entry = this.entries.get(key);
      return (
        entry !== undefined &&
        (entry.expiresAt === null || entry.expiresAt > now) &&
        (options.match === undefined || globMatch(options.match, key))
      );
    });
    return { keys: live, cursor: next >= keys.length ? null : String(next) };
  }

  async liveKeyCount(): Promise<number> {
    await this.enter('count');
    const now = this.options.now();
    return [...this.entries.values()].filter((entry) => entry.expiresAt === null || entry.expiresAt > now).length;
  }

  /** What is stored under `key` now, expired or not (tests look without going through a command). */
  peek(key: string): RespStoredValue | undefined {
    return this.entries.get(key);
  }

  /** Stored keys, expired ones included, sorted. */
  keys(): string[] {
    return [...this.entries.keys()].sort();
  }

  private async enter(call: string): Promise<void> {
    this.calls.push(call);
    if (this.gate !== null) await this.gate;
    const failure = this.failure;
    if (failure !== null) {
      this.failure = null;
      throw failure;
    }
  }
}
