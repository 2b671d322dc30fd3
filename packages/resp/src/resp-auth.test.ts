// Goal: with authentication on, the Redis door answers as Redis with ACL users does: -NOAUTH
// before AUTH (but for AUTH, HELLO, QUIT and RESET), AUTH [user] pass and HELLO n AUTH u p,
// -WRONGPASS for a bad pair, -NOPERM for a write by a read user, RESET signs out, a reload of
// the users applies to open connections; and an unauthenticated connection is held to Redis's
// pre-auth limits (more than 10 arguments or a bulk over 16 KiB closes it with Redis's text),
// which an AUTH lifts from the next command of the same pipeline. Method: a real server on a
// free 127.0.0.1 port over the in-memory backend, driven by a raw client sending exact bytes.
import { UserTable, type Authenticator, type AuthFile } from '@dkv/auth';
import { afterEach, describe, expect, it } from 'vitest';
import { respServerLimits } from './defaults.js';
import { InMemoryRespBackend } from './in-memory-resp-backend.js';
import { startRespServer, type RunningRespServer } from './resp-server.js';
import { encodeCommand, RawRespClient } from './test-support.js';

const FILE: Pick<AuthFile, 'users'> = {
  users: [
    { name: 'reader', password: 'read-pw', role: 'read' },
    { name: 'writer', password: 'write-pw', role: 'readwrite' },
    { name: 'default', password: 'default-pw', role: 'admin' },
  ],
};
const NOAUTH = { err: 'NOAUTH Authentication required.' };
const WRONGPASS = { err: 'WRONGPASS invalid username-password pair or user is disabled.' };

/** An authenticator whose table a test can swap, as a SIGHUP reload does. */
class Swappable implements Authenticator {
  constructor(public table: UserTable) {}
  authenticate(name: string, password: string | Uint8Array) {
    return this.table.authenticate(name, password);
  }
  roleOf(name: string) {
    return this.table.roleOf(name);
  }
}

const running: RunningRespServer[] = [];
const clients: RawRespClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.all(running.splice(0).map((server) => server.close()));
});

/** A server over the in-memory backend; `auth` null: authentication off. */
async function setup(auth: Authenticator | null = new UserTable(FILE)) {
  const memory = new InMemoryRespBackend({ now: () => Date.now(), maxValueBytes: 100_000 });
  const server = await startRespServer({
    host: '127.0.0.1',
    port: 0,
    backend: memory,
    maxConnections: 100,
    idleTimeoutMs: 0,
    maxPipelined: 1000,
    maxQueuedReplyBytes: 1024 * 1024,
    maxReplyBufferBytes: 8 * 1024 * 1024,
    limits: respServerLimits(100_000),
    maxKeysReply: 50,
    ...(auth === null ? {} : { auth }),
  });
  running.push(server);
  const connect = async (): Promise<RawRespClient> => {
    const client = await RawRespClient.connect(server.port);
    clients.push(client);
    return client;
  };
  return { server, memory, connect };
}

describe('the Redis door with authentication on', () => {
  it('refuses commands before AUTH, but AUTH, HELLO, QUIT and RESET; unknown commands stay unknown', async () => {
    const { connect, memory } = await setup();
    const client = await connect();
    expect(await client.call('PING')).toEqual(NOAUTH);
    expect(await client.call('SET', 'k', 'v')).toEqual(NOAUTH);
    expect(await client.call('GET', 'k')).toEqual(NOAUTH);
    expect(await client.call('CLIENT', 'SETNAME', 'x')).toEqual(NOAUTH);
    expect(await client.call('NOSUCH')).toEqual({ err: "ERR unknown command 'NOSUCH', with args beginning with: " });
    expect(await client.call('RESET')).toBe('RESET');
    expect(await client.call('HELLO', '3')).toEqual({
      err: expect.stringMatching(/^NOAUTH HELLO must be called with the client already authenticated/),
    });
    expect(await memory.get('k')).toBeNull();
    expect(await client.call('QUIT')).toBe('OK');
    await client.closedByServer();
  });

  it("answers -WRONGPASS to a bad pair, an unknown user and a password alone that is not default's", async () => {
    const { connect } = await setup();
    const client = await connect();
    expect(await client.call('AUTH', 'reader', 'write-pw')).toEqual(WRONGPASS);
    expect(await client.call('AUTH', 'nobody', 'read-pw')).toEqual(WRONGPASS);
    expect(await client.call('AUTH', 'read-pw')).toEqual(WRONGPASS);
    expect(await client.call('HELLO', '3', 'AUTH', 'writer', 'nope')).toEqual(WRONGPASS);
    expect(await client.call('AUTH', 'a', 'b', 'c')).toEqual({ err: 'ERR syntax error' });
    expect(await client.call('GET', 'k')).toEqual(NOAUTH);
  });

  it('lets a read user read and answers -NOPERM to its writes', async () => {
    const { connect, memory } = await setup();
    await memory.put('k', Buffer.from('v'), null);
    const client = await connect();
    expect(await client.call('AUTH', 'reader', 'read-pw')).toBe('OK');
    expect(await client.call('GET', 'k')).toBe('v');
    expect(await client.call('EXISTS', 'k')).toBe(1);
    expect(await client.call('TTL', 'k')).toBe(-1);
    expect(await client.call('SCAN', '0')).toEqual(['0', ['k']]);
    expect(await client.call('DBSIZE')).toBe(1);
    expect(await client.call('CLIENT', 'SETNAME', 'r')).toBe('OK');
    for (const write of [
      ['SET', 'k', 'w'],
      ['DEL', 'k'],
      ['EXPIRE', 'k', '10'],
      ['GETDEL', 'k'],
      ['MSET', 'k', 'w'],
      ['UNLINK', 'k'],
      ['PERSIST', 'k'],
    ]) {
      expect(await client.call(...write)).toEqual({
        err: `NOPERM User reader has no permissions to run the '${(write[0] as string).toLowerCase()}' command`,
      });
    }
    expect(Buffer.from((await memory.get('k'))!.value).toString()).toBe('v');
    expect(await client.call('CLIENT', 'LIST')).toMatch(/ user=reader /);
  });

  it('lets a readwrite user write, through AUTH u p, HELLO 3 AUTH u p, or AUTH pass as default', async () => {
    const { connect, memory } = await setup();
    const a = await connect();
    expect(await a.call('AUTH', 'writer', 'write-pw')).toBe('OK');
    expect(await a.call('SET', 'a', '1')).toBe('OK');
    const b = await connect();
    const hello = await b.call('HELLO', '3', 'AUTH', 'writer', 'write-pw', 'SETNAME', 'b');
    expect(hello).toHaveProperty('map');
    expect(await b.call('SET', 'b', '2')).toBe('OK');
    const c = await connect();
    expect(await c.call('AUTH', 'default-pw')).toBe('OK');
    expect(await c.call('DEL', 'a')).toBe(1);
    expect(await memory.get('a')).toBeNull();
    expect(await memory.get('b')).not.toBeNull();
  });

  it('signs a connection out on RESET', async () => {
    const { connect } = await setup();
    const client = await connect();
    expect(await client.call('AUTH', 'writer', 'write-pw')).toBe('OK');
    expect(await client.call('RESET')).toBe('RESET');
    expect(await client.call('GET', 'k')).toEqual(NOAUTH);
  });

  it('applies a reload to open connections: a demoted user loses writes, a removed one is signed out', async () => {
    const auth = new Swappable(new UserTable(FILE));
    const { connect } = await setup(auth);
    const writer = await connect();
    const reader = await connect();
    expect(await writer.call('AUTH', 'writer', 'write-pw')).toBe('OK');
    expect(await reader.call('AUTH', 'reader', 'read-pw')).toBe('OK');
    auth.table = new UserTable({ users: [{ name: 'writer', password: 'write-pw', role: 'read' }] });
    expect(await writer.call('SET', 'k', 'v')).toEqual({ err: "NOPERM User writer has no permissions to run the 'set' command" });
    expect(await reader.call('GET', 'k')).toEqual(NOAUTH);
  });

  it('pipelines: commands before AUTH are refused, those after it run', async () => {
    const { connect } = await setup();
    const client = await connect();
    client.send(['SET', 'k', 'v'], ['AUTH', 'writer', 'write-pw'], ['SET', 'k', 'v'], ['GET', 'k']);
    expect(await client.read(4)).toEqual([NOAUTH, 'OK', 'OK', 'v']);
  });

  it.each([
    ['more than 10 arguments', '*11\r\n', 'ERR Protocol error: unauthenticated multibulk length'],
    ['a bulk over 16 KiB', '*2\r\n$3\r\nGET\r\n$16385\r\n', 'ERR Protocol error: unauthenticated bulk length'],
  ])('closes an unauthenticated connection that announces %s', async (_what, bytes, error) => {
    const { connect } = await setup();
    const client = await connect();
    client.sendRaw(bytes);
    expect(await client.read(1)).toEqual([{ err: error }]);
    await client.closedByServer();
  });

  it('lifts the pre-auth limits from the command after AUTH in the same pipeline, and only with authentication on', async () => {
    const big = 'x'.repeat(20_000);
    const { connect } = await setup();
    const client = await connect();
    client.sendRaw(
      Buffer.concat([
        encodeCommand(['AUTH', 'writer', 'write-pw']),
        encodeCommand(['SET', 'k', big]),
        encodeCommand(['MSET', 'a', '1', 'b', '2', 'c', '3', 'd', '4', 'e', '5', 'f', '6']),
      ]),
    );
    expect(await client.read(3)).toEqual(['OK', 'OK', 'OK']);
    const open = await setup(null);
    const anyone = await open.connect();
    expect(await anyone.call('SET', 'k', big)).toBe('OK');
  });

  it('takes a 10-argument command of 16 KiB bulks before AUTH (answered NOAUTH, the connection stays)', async () => {
    const { connect } = await setup();
    const client = await connect();
    const bulk = 'y'.repeat(16 * 1024);
    expect(await client.call('MSET', 'a', bulk, 'b', bulk, 'c', bulk, 'd', bulk, 'e')).toEqual(NOAUTH);
    expect(await client.call('AUTH', 'reader', 'read-pw')).toBe('OK');
  });
});
