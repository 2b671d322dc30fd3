export * from './settings.js';
export * from './foreground.js';
