/**
 * The storage engines the memory benchmark measures, named as the storage node's `--engine`
 * setting names them (shared by bench.ts and engine-child.ts; engine-child.ts runs on import, so
 * bench.ts takes values from here and only types from there).
 */
export type EngineKind = 'map' | 'compact';

/** The class each engine kind stands for, for reports. */
export const ENGINE_CLASS: Readonly<Record<EngineKind, string>> = { map: 'InMemoryStorageEngine', compact: 'CompactStorageEngine' };
