// Connecting: authentication methods, the password callback, PG* variables, the password file
// under the file policy, the allow-list (checked before any socket exists), connection failures
// with their kinds, and the guest memory bound. Against a real cluster this file starts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { mkdtempSync, writeFileSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster } from './cluster.js';
import { connect, WasmpgError, DatabaseError, GuestTrap } from '../src/index.js';

let pg;
let dir;
before(() => {
  pg = startCluster();
  dir = mkdtempSync(join(tmpdir(), 'wasmpg-node-'));
});
after(() => {
  pg?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const tcp = (user, extra = '') => `host=127.0.0.1 port=${pg.port} user=${user} dbname=${pg.dbname} ${extra}`;
const role = (name) => pg.roles.find((r) => r.name === name);

/** A TCP server that counts connections and never answers. */
async function silentServer() {
  let connections = 0;
  const sockets = [];
  const server = createServer((s) => {
    connections++;
    sockets.push(s);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: /** @type {any} */ (server.address()).port,
    count: () => connections,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(r));
    },
  };
}

const isKind = (kind) => (e) => {
  assert.ok(e instanceof WasmpgError, `not a WasmpgError: ${e}`);
  assert.equal(e.kind, kind, `kind ${e.kind}: ${e.message}`);
  return true;
};

test('connects over TCP and reports the session', async () => {
  const c = await connect(tcp('postgres'));
  try {
    assert.ok(Number.isInteger(c.processID) && c.processID > 0);
    assert.match(c.parameters.server_version, /^\d+/);
    assert.equal(c.transactionStatus, 'idle');
    const r = await c.query('SELECT pg_backend_pid() AS pid, current_user AS u');
    assert.equal(r.rows[0].pid, c.processID);
    assert.equal(r.rows[0].u, 'postgres');
  } finally {
    await c.end();
  }
});

test('connects over the Unix socket', async () => {
  const c = await connect(pg.unix_conninfo);
  try {
    const r = await c.query("SELECT coalesce(inet_client_addr()::text, 'unix') AS a");
    assert.equal(r.rows[0].a, 'unix');
  } finally {
    await c.end();
  }
});

for (const name of ['scram_user', 'md5_user', 'pw_user']) {
  test(`password authentication: ${name}`, async () => {
    const r = role(name);
    const c = await connect(tcp(name, `password=${r.password}`));
    try {
      assert.equal((await c.query('SELECT current_user AS u')).rows[0].u, name);
    } finally {
      await c.end();
    }
  });

  test(`wrong password: ${name} fails with 28P01`, async () => {
    await assert.rejects(connect(tcp(name, 'password=wrong')), (e) => {
      assert.ok(e instanceof DatabaseError, String(e));
      assert.equal(e.code, '28P01');
      assert.match(e.message, /password authentication failed/);
      return true;
    });
  });
}

test('the password callback answers a need-password step (short-lived tokens)', async () => {
  const seen = [];
  const c = await connect(tcp('scram_user'), {
    env: {},
    password: async (info) => {
      seen.push(info);
      return role('scram_user').password;
    },
  });
  await c.end();
  assert.deepEqual(seen, [{ host: '127.0.0.1', port: pg.port, dbname: pg.dbname, user: 'scram_user' }]);
});

test('without a password source, a password-protected role fails', async () => {
  await assert.rejects(connect(tcp('scram_user'), { env: {}, password: () => null }), (e) => e instanceof WasmpgError && /password/i.test(e.message));
});

test('PG* variables come from options.env (or process.env)', async () => {
  const c = await connect('', { env: { PGHOST: '127.0.0.1', PGPORT: String(pg.port), PGUSER: 'trust_user', PGDATABASE: pg.dbname } });
  try {
    const r = await c.query('SELECT current_user AS u, current_database() AS d');
    assert.deepEqual(r.rows[0], { u: 'trust_user', d: pg.dbname });
  } finally {
    await c.end();
  }
});

test('the password file is read only when the file policy allows it', async () => {
  const file = join(dir, 'pgpass');
  writeFileSync(file, `127.0.0.1:${pg.port}:${pg.dbname}:scram_user:${role('scram_user').password}\n`);
  chmodSync(file, 0o600);
  const c = await connect(tcp('scram_user', `passfile=${file}`), { env: {}, allowFiles: [file] });
  await c.end();
  await assert.rejects(connect(tcp('scram_user', `passfile=${file}`), { env: {} }), (e) => e instanceof WasmpgError && e.kind !== 'trap');
  chmodSync(file, 0o644);
  await assert.rejects(connect(tcp('scram_user', `passfile=${file}`), { env: {}, allowFiles: [file] }), (e) => e instanceof WasmpgError);
});

test('a target outside the allow-list is refused before any socket exists', async () => {
  const srv = await silentServer();
  try {
    await assert.rejects(connect(`host=127.0.0.1 port=${srv.port} user=u dbname=d`, { allow: [`127.0.0.1:${pg.port}`] }), (e) => {
      isKind('policy-denied')(e);
      assert.match(e.message, new RegExp(`127\\.0\\.0\\.1:${srv.port} denied by policy`));
      return true;
    });
    assert.equal(srv.count(), 0);
  } finally {
    await srv.close();
  }
});

test('the default allow-list is exactly the conninfo targets; a denied first host is skipped', async () => {
  const c = await connect(`host=10.255.255.1,127.0.0.1 port=5,${pg.port} user=postgres dbname=${pg.dbname}`, { allow: [`127.0.0.1:${pg.port}`] });
  try {
    assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
  } finally {
    await c.end();
  }
});

test('an invalid allow-list entry is a config error', async () => {
  await assert.rejects(connect(tcp('postgres'), { allow: ['no-port'] }), isKind('config'));
});

test('connection refused and unknown host have their kinds', async () => {
  const srv = await silentServer();
  const port = srv.port;
  await srv.close();
  await assert.rejects(connect(`host=127.0.0.1 port=${port} user=u dbname=d`), isKind('connection-refused'));
  await assert.rejects(connect('host=no-such-host.invalid port=5432 user=u dbname=d'), isKind('host-not-found'));
});

test('connect_timeout bounds a server that never answers', async () => {
  const srv = await silentServer();
  try {
    const t0 = Date.now();
    await assert.rejects(connect(`host=127.0.0.1 port=${srv.port} user=u dbname=d connect_timeout=1`), isKind('timeout'));
    const ms = Date.now() - t0;
    assert.ok(ms >= 900 && ms < 5000, `took ${ms} ms`);
    assert.equal(srv.count(), 1);
  } finally {
    await srv.close();
  }
});

test('a malformed conninfo is a config error', async () => {
  await assert.rejects(connect("host='unterminated"), isKind('config'));
  await assert.rejects(connect('postgresql://[::1/x'), isKind('config'));
});

test('the memory bound traps only the instance that exceeds it', async () => {
  const c = await connect(tcp('postgres'), { memoryLimit: 16 << 20 });
  await assert.rejects(c.query("SELECT repeat('x', 40000000) AS big"), (e) => {
    assert.ok(e instanceof GuestTrap, String(e));
    assert.equal(e.kind, 'trap');
    return true;
  });
  assert.equal(c.closed, true);
  await assert.rejects(c.query('SELECT 1'), isKind('closed'));
  const d = await connect(tcp('postgres'));
  try {
    assert.equal((await d.query("SELECT length(repeat('x', 40000000)) AS n")).rows[0].n, 40000000);
  } finally {
    await d.end();
  }
});
