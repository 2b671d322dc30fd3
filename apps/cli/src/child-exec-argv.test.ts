import { describe, expect, it } from 'vitest';
import { childExecArgv } from './cluster-up.js';

describe('childExecArgv', () => {
  it("passes the launcher's Node.js and V8 flags on, in order", () => {
    expect(childExecArgv(['--max-semi-space-size=32', '--enable-source-maps', '--cpu-prof'])).toEqual([
      '--max-semi-space-size=32',
      '--enable-source-maps',
      '--cpu-prof',
    ]);
  });

  it('leaves out inspector flags, which every child would try to bind on the same port', () => {
    expect(
      childExecArgv([
        '--inspect',
        '--inspect=9229',
        '--inspect-brk=0.0.0.0:9230',
        '--inspect-port=9231',
        '--inspect-wait',
        '--max-old-space-size=512',
      ]),
    ).toEqual(['--max-old-space-size=512']);
  });
});
