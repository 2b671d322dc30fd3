export * from './static-membership-view.js';
export * from './node-manager.js';
export * from './cluster-document.js';
export * from './failure-detector.js';
export * from './gossiper.js';
