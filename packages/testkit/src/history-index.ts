/**
 * The history toolkit in one entry: record what clients saw ({@link HistoryRecorder},
 * {@link recordingStore}), judge it ({@link checkHistory}, {@link checkConvergence}), or hand it
 * to Knossos, Elle or Porcupine ({@link toElleEdn}, {@link toPorcupineJson}).
 */
export * from './history-recorder.js';
export * from './history-checker.js';
export * from './history-convergence.js';
export * from './history-export.js';
