/**
 * The coordinator's process entry: `node apps/coordinator/dist/main.js --join 127.0.0.1:7071 ...`.
 * Everything is wired in `coordinator.composition.ts`; this file only hands it the command line.
 */
import { coordinatorMain } from './run-coordinator.js';

await coordinatorMain(process.argv.slice(2), process.env);
