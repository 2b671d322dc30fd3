export * from './replication-manager.js';
export * from './range-sync-manager.js';
export * from './cluster-admin.js';
export * from './elastic-member.js';
export * from './anti-entropy-manager.js';
export * from './isolation-guard.js';
