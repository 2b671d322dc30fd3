/**
 * Room in a frame for a request's key and metadata beyond the value itself. A value of
 * `maxValueBytes` travels in one frame of at most `maxValueBytes + FRAME_OVERHEAD_BYTES`, so this
 * is what a node's body limit must exceed the coordinators' value limit by. The one home of this
 * constant: the wire stack, the node's configuration check and the internal routes read it.
 */
export const FRAME_OVERHEAD_BYTES = 64 * 1024;

/**
 * The binary protocol multiplexes many requests per connection, so a few connections per node
 * suffice: a data client over TCP opens at most this many, whatever `connectionsPerNode` says
 * (whose default, 16, is meant for HTTP's one request per connection).
 */
export const TCP_CONNECTIONS_PER_NODE_MAX = 4;

/**
 * The frames a control client (gossip, range sync, anti-entropy) must carry besides one value: a
 * membership document or a batch of streamed records, each at most a few MiB.
 */
export const CONTROL_FRAME_BYTES = 16 * 1024 * 1024;

/**
 * The bounds of a control client: one connection and 64 requests in flight per peer, so that
 * gossip and streaming never queue behind data requests (they have a client of their own) and
 * cannot flood a peer either.
 */
export const CONTROL_CLIENT_BOUNDS = { connectionsPerNode: 1, maxInFlightPerNode: 64 } as const;
