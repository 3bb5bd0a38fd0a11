export * from './actions/index.js';
export * from './envelope.js';
export * from './signing.js';
export * from './isolation.js';
export * from './streams.js';
export * from './content.js';
export * from './frames.js';
export * from './package-file.js';
