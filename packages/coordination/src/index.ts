export * from './config.js';
export * from './coordinator-service.js';
export * from './create-coordinator.js';
