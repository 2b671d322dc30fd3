// Loaded with NODE_OPTIONS="--import <this file>" by `benchmarks/http/bench.ts --profile` into
// every dkv process (`--cpu-prof` itself is not allowed in NODE_OPTIONS, and `dkv cluster up`
// starts its children with no flags of ours). It starts V8's sampling profiler through the
// inspector and writes the profile as DKV_CPU_PROFILE_DIR/CPU.<pid>.cpuprofile when the process
// exits, like --cpu-prof does. Plain JavaScript: the children run without tsx.
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.DKV_CPU_PROFILE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 1000 });
  session.post('Profiler.start');
  process.on('exit', () => {
    // The main-thread session answers synchronously, so this completes inside the exit handler.
    session.post('Profiler.stop', (error, result) => {
      if (!error && result) writeFileSync(join(dir, `CPU.${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
