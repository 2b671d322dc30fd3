export * from './node-client.contract.js';
