export * from './static-membership-view.js';
export * from './node-manager.js';
