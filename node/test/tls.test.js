// TLS against a real server of its own (`pgcluster start --tls`: ssl=on, a CA made for it, a
// certificate for `localhost` only): sslmode's verification levels, the causes of failures, and
// what the server saw (pg_stat_ssl).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster } from './cluster.js';
import { connect, WasmpgError } from '../src/index.js';

let pg;
before(() => {
  pg = startCluster(['--tls']);
});
after(() => pg?.stop());

const conninfo = (host, extra) => `host=${host} port=${pg.port} user=postgres dbname=${pg.dbname} ${extra}`;

async function ssl(c) {
  const r = await c.query('SELECT ssl, version, cipher FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
  return r.rows[0];
}

test('verify-full succeeds, over ChaCha20-Poly1305', async () => {
  const c = await connect(conninfo('localhost', `sslmode=verify-full sslrootcert=${pg.ca_file}`), { allowFiles: [pg.ca_file] });
  try {
    assert.deepEqual(await ssl(c), { ssl: true, version: 'TLSv1.3', cipher: 'TLS_CHACHA20_POLY1305_SHA256' });
    let n = 0;
    for await (const row of c.stream("SELECT repeat('z', 1000) AS z FROM generate_series(1, 20000)")) n += row.z.length;
    assert.equal(n, 20000 * 1000);
  } finally {
    await c.end();
  }
});

test('a name not in the certificate fails naming both; verify-ca accepts it', async () => {
  await assert.rejects(connect(conninfo('127.0.0.1', `sslmode=verify-full sslrootcert=${pg.ca_file}`), { allowFiles: [pg.ca_file] }), (e) => {
    assert.ok(e instanceof WasmpgError, String(e));
    assert.match(e.message, /"127\.0\.0\.1"/);
    assert.match(e.message, /localhost/);
    return true;
  });
  const c = await connect(conninfo('127.0.0.1', `sslmode=verify-ca sslrootcert=${pg.ca_file}`), { allowFiles: [pg.ca_file] });
  await c.end();
});

test('require and prefer encrypt; disable does not', async () => {
  for (const [mode, encrypted] of [
    ['require', true],
    ['prefer', true],
    ['disable', false],
  ]) {
    const c = await connect(conninfo('127.0.0.1', `sslmode=${mode}`));
    try {
      assert.equal((await ssl(c)).ssl, encrypted, mode);
    } finally {
      await c.end();
    }
  }
});

test('a root file outside the file policy is denied', async () => {
  await assert.rejects(
    connect(conninfo('localhost', `sslmode=verify-full sslrootcert=${pg.ca_file}`)),
    (e) => e instanceof WasmpgError && e.kind === 'policy-denied',
  );
});
