/**
 * dkv's Redis door over a Map, without the coordinator, as the door's drivers run it
 * (layer-server.ts `door`, door-path.ts): the bounds apps/node gives it, a backend that answers
 * at once.
 */
import { respServerLimits, startRespServer, type RespBackend, type RespStoredValue, type RunningRespServer } from '@dkv/resp';

/** A Map with the backend's shape, answering with settled promises: no versions kept, expiry stored but not judged. */
export class MapBackend implements RespBackend {
  readonly map = new Map<string, RespStoredValue>();
  get(key: string): Promise<RespStoredValue | null> {
    return Promise.resolve(this.map.get(key) ?? null);
  }
  put(key: string, value: Uint8Array, expiresAt: number | null): Promise<void> {
    this.map.set(key, { value, version: 1, expiresAt });
    return Promise.resolve();
  }
  delete(key: string): Promise<void> {
    this.map.delete(key);
    return Promise.resolve();
  }
  scanKeys(): Promise<{ keys: string[]; cursor: null }> {
    return Promise.resolve({ keys: [...this.map.keys()], cursor: null });
  }
  liveKeyCount(): Promise<number> {
    return Promise.resolve(this.map.size);
  }
}

/** The door over `backend` on a free port of 127.0.0.1. */
export function startMapDoor(backend: MapBackend): Promise<RunningRespServer> {
  return startRespServer({
    host: '127.0.0.1',
    port: 0,
    backend,
    maxConnections: 10_000,
    idleTimeoutMs: 0,
    maxPipelined: 1024,
    maxInFlight: 4096,
    maxQueuedReplyBytes: 4 * 1024 * 1024,
    maxReplyBufferBytes: 64 * 1024 * 1024,
    limits: respServerLimits(1024 * 1024),
    maxKeysReply: 10_000,
    readTimeoutMs: 30_000,
  });
}
