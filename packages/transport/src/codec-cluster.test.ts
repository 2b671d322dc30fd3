// Goal: the elastic cluster's internode messages (GOSSIP, SCAN, DIGEST) survive the wire format exactly
// and malformed ones are refused with a FrameError naming the field. Method: round trips of
// hand-made messages, and table cases of bad frames.
import type { GossipState, StorageRequest, StorageResponse } from '@dkv/core';
import { describe, expect, it } from 'vitest';
import { decodeRequest, decodeResponse, encodeRequest, encodeResponse, FrameError } from './codec.js';

const state: GossipState = {
  entries: [
    {
      id: 'n1',
      address: '127.0.0.1:7071',
      role: 'storage',
      vnodes: 1024,
      readVnodes: 1024,
      status: 'up',
      version: 3,
      syncedRing: '3-00ff00ff00ff00ff',
      forced: false,
      rejoining: false,
      metadata: { zone: 'a' },
    },
    {
      id: 'n2',
      address: '127.0.0.1:7072',
      role: 'storage',
      vnodes: 1024,
      readVnodes: 0,
      status: 'joining',
      version: 1,
      syncedRing: null,
      forced: false,
      rejoining: false,
      metadata: {},
    },
  ],
  heartbeats: [
    {
      id: 'n1',
      generation: 1_700_000_000_000,
      counter: 42,
      progress: { targetRing: 'r', rangesPlanned: 4, rangesDone: 1, keys: 10, bytes: 100 },
      routes: null,
    },
  ],
};

describe('GOSSIP, SCAN and DIGEST frames', () => {
  it.each<[string, StorageRequest]>([
    ['gossip', { type: 'GOSSIP', state }],
    [
      'scan from the start',
      {
        type: 'SCAN',
        ranges: [
          [0, 10],
          [4_000_000_000, 4_294_967_295],
        ],
        cursor: null,
        limit: 256,
        maxBytes: 1 << 20,
      },
    ],
    [
      'scan from a cursor',
      { type: 'SCAN', ranges: [[0, 4_294_967_295]], cursor: { bucket: 17, afterKey: 'session:9' }, limit: 1, maxBytes: 1 },
    ],
    [
      'digest',
      {
        type: 'DIGEST',
        ranges: [
          [0, 10],
          [11, 4_294_967_295],
        ],
        segments: 64,
      },
    ],
    [
      'hint',
      {
        type: 'HINT',
        key: 'session:1',
        record: { value: new Uint8Array([7]), version: 9, writerId: 'c1', createdAt: 1, updatedAt: 2, expiresAt: 5, tombstone: false },
        target: 'n3',
      },
    ],
  ])('round-trips a %s request', (_name, request) => {
    expect(decodeRequest(encodeRequest(request))).toEqual(request);
  });

  it('round-trips the answers', () => {
    const record = {
      value: new Uint8Array([1, 2, 3]),
      version: 5,
      writerId: 'c1',
      createdAt: 1,
      updatedAt: 2,
      expiresAt: null,
      tombstone: false,
    };
    const scan: StorageResponse = { type: 'SCAN', records: [{ key: 'k', record }], cursor: { bucket: 1, afterKey: 'k' } };
    expect(decodeResponse(encodeResponse(scan))).toEqual(scan);
    const gossip: StorageResponse = { type: 'GOSSIP', state };
    expect(decodeResponse(encodeResponse(gossip))).toEqual(gossip);
    const digest: StorageResponse = {
      type: 'DIGEST',
      digests: [
        { hash: Number.MAX_SAFE_INTEGER, count: 3 },
        { hash: 0, count: 0 },
      ],
    };
    expect(decodeResponse(encodeResponse(digest))).toEqual(digest);
    const hint: StorageResponse = { type: 'HINT', accepted: true };
    expect(decodeResponse(encodeResponse(hint))).toEqual(hint);
  });

  it.each([
    ['a range that ends before it starts', { type: 'SCAN', ranges: [[10, 5]], cursor: null, limit: 1, maxBytes: 1 }, /ranges/],
    ['a hash beyond 32 bits', { type: 'SCAN', ranges: [[0, 2 ** 32]], cursor: null, limit: 1, maxBytes: 1 }, /ranges/],
    ['a limit of 0', { type: 'SCAN', ranges: [], cursor: null, limit: 0, maxBytes: 1 }, /limit/],
    [
      'digest ranges out of order',
      {
        type: 'DIGEST',
        ranges: [
          [20, 30],
          [0, 10],
        ],
        segments: 1,
      },
      /sorted and disjoint/,
    ],
    [
      'overlapping digest ranges',
      {
        type: 'DIGEST',
        ranges: [
          [0, 10],
          [10, 30],
        ],
        segments: 1,
      },
      /sorted and disjoint/,
    ],
    [
      'a hint for a target that is not a node id',
      {
        type: 'HINT',
        key: 'k',
        record: { value: new Uint8Array(0), version: 1, writerId: 'c', createdAt: 1, updatedAt: 1, expiresAt: null, tombstone: true },
        target: '',
      },
      /target/,
    ],
    ['0 digest segments', { type: 'DIGEST', ranges: [[0, 10]], segments: 0 }, /segments/],
    ['too many digest segments', { type: 'DIGEST', ranges: [[0, 10]], segments: 4097 }, /segments/],
    [
      'an entry with a bad status',
      { type: 'GOSSIP', state: { entries: [{ ...state.entries[0], status: 'gone' }], heartbeats: [] } },
      /status/,
    ],
  ])('refuses %s', (_name, bad, message) => {
    expect(() => decodeRequest(encodeRequest(bad as unknown as StorageRequest))).toThrow(FrameError);
    expect(() => decodeRequest(encodeRequest(bad as unknown as StorageRequest))).toThrow(message);
  });
});
