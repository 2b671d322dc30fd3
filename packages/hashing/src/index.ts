/**
 * `@dkv/hashing`: the ring. {@link ConsistentHash} places each node's virtual nodes on the 32-bit
 * xxHash space and answers, for any key, the preference list of distinct nodes that hold it.
 * It is a pure value computed from membership, so every process routes every key the same way.
 */
export {
  ConsistentHash,
  type ConsistentHashOptions,
  DEFAULT_MAX_VNODES_PER_NODE,
  DEFAULT_VNODES,
  hashKey,
  MAX_RING_NODES,
  MAX_TABLED_REPLICAS,
  preferenceList,
  vnodeToken,
} from './consistent-hash.js';
export { compareRings, MAX_SAMPLE_KEYS, type RingChange, type RingComparisonOptions } from './ring-change.js';
export {
  FULL_RANGE,
  gainedRanges,
  groupRangesByOwners,
  intersectRanges,
  MAX_HASH,
  normalizeRanges,
  ownedRanges,
  type RangeOwners,
  rangesContain,
  rangesSize,
  ringId,
  subtractRanges,
} from './hash-ranges.js';
export { isOnFutureRing, isReadable, planWrite, readWeightOf, readZoneOf, RingViews, type WritePlan } from './ring-views.js';
export { preferOtherZones, replicaShares, zoneLossReport, type ZoneLossReport, zoneReplicaShares } from './zones.js';
