export * from './replication-manager.js';
