/**
 * dkv's capacity model, regenerated from measured results:
 *
 *   npx tsx tools/capacity.ts benchmarks/results/http-latest.json benchmarks/results/memory-latest.json > docs/capacity.md
 *
 * From the HTTP benchmark it takes the CPU that each GET and each PUT cost the coordinator and the
 * storage nodes (server CPU seconds per request, measured from /proc during the closed-loop runs)
 * and the bytes each moved (loopback bytes per request, client and internode), and from the
 * memory benchmark the resident bytes per stored session. It scales them to the target load
 * (default 1M reads/s + 200k writes/s of 2 KB sessions at N=3) and prints Markdown: cores,
 * processes, machines, memory and network, with every assumption and the headroom stated. When the
 * HTTP result also measured coordinating nodes (`--topology both`, target "dkv-nodes"), it plans
 * that topology under the same load and sets it beside the coordinator topology.
 *
 * Flags (after the two files): --reads n --writes n --sessions n --utilisation u
 * --machine-cores c --machine-memory-gib g --memory-fill f.
 *
 * This file is only the process around capacity/cli.ts (arguments, files, streams, exit code);
 * the model is capacity/model.ts and the document capacity/render.ts.
 */
import { readFileSync } from 'node:fs';
import { runCapacity } from './capacity/cli.js';

process.exitCode = runCapacity(process.argv.slice(2), {
  readFile: (path) => readFileSync(path, 'utf8'),
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
});
