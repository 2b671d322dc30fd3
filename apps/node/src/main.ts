/**
 * The storage node's process entry: `node apps/node/dist/main.js --id n1 --port 7071 ...`.
 * Everything is wired in `node.composition.ts`; this file only hands it the command line.
 */
import { nodeMain } from './run-node.js';

await nodeMain(process.argv.slice(2), process.env);
