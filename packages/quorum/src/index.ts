export * from './quorum-tally.js';
export * from './fan-out.js';
export * from './version-generator.js';
export * from './quorum-manager.js';
