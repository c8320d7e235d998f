// TLS against a real server of its own (`pgcluster start --tls`: ssl=on, a CA made for it, a
// certificate for `localhost` only, client certificates checked against the same CA, and the
// role cert_user allowed only with one: pg_hba `hostssl ... cert`, `hostnossl ... reject`):
// sslmode's verification levels, the causes of failures (kind `tls`), what the server saw
// (pg_stat_ssl, current_user), client certificates and keys under the file policy and libpq's
// permission rule, the defaults under ~/.postgresql, sslrootcert=system, channel binding,
// require_auth, and the TCP keepalives the guest asks the host to set.
//
// HOME is a fresh empty directory while this file runs, so the user's own ~/.postgresql and
// ~/.pgpass (read by default, as libpq does) cannot change what the tests see.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster } from './cluster.js';
import { assertCancelStopsASleep } from './checks.js';
import { connect, WasmpgError, DatabaseError } from '../src/index.js';
import { applyKeepalive } from '../src/channel.js';
import { readFile, fileRequest, systemRoots, tooOpen, secrecy } from '../src/session.js';
import { FilePolicy } from '../src/policy.js';

let pg;
let home;
const savedHome = process.env.HOME;
const savedCertFile = process.env.SSL_CERT_FILE;
before(() => {
  pg = startCluster(['--tls']);
  home = mkdtempSync(join(tmpdir(), 'wasmpg-node-home-'));
  process.env.HOME = home;
  delete process.env.SSL_CERT_FILE;
});
after(() => {
  pg?.stop();
  process.env.HOME = savedHome;
  if (savedCertFile === undefined) delete process.env.SSL_CERT_FILE;
  else process.env.SSL_CERT_FILE = savedCertFile;
  if (home) rmSync(home, { recursive: true, force: true });
});

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

test('a name not in the certificate fails naming both, with kind tls; verify-ca accepts it', async () => {
  await assert.rejects(connect(conninfo('127.0.0.1', `sslmode=verify-full sslrootcert=${pg.ca_file}`), { allowFiles: [pg.ca_file] }), (e) => {
    assert.ok(e instanceof WasmpgError, String(e));
    assert.equal(e.kind, 'tls', e.message);
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

// --- client certificates -------------------------------------------------------------------

/** verify-full to localhost as the certificate role, with the test CA. */
const certConninfo = (extra = '') =>
  `host=localhost port=${pg.port} user=${pg.cert_user} dbname=${pg.dbname} sslmode=verify-full sslrootcert=${pg.ca_file} ${extra}`;
const clientFiles = () => [pg.ca_file, pg.client_cert, pg.client_key, pg.client_key_encrypted];

async function whoAmI(c) {
  try {
    const r = await c.query('SELECT current_user AS u, ssl, client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    return r.rows[0];
  } finally {
    await c.end();
  }
}

test('a client certificate authenticates cert_user (pg_hba cert); without one the server refuses it', async () => {
  const c = await connect(certConninfo(`sslcert=${pg.client_cert} sslkey=${pg.client_key}`), { env: {}, allowFiles: clientFiles() });
  assert.deepEqual(await whoAmI(c), { u: 'cert_user', ssl: true, client_dn: '/CN=cert_user' });

  // TLS, but no certificate: the server's `cert` method refuses (28000).
  await assert.rejects(connect(certConninfo(), { env: {}, allowFiles: clientFiles() }), (e) => {
    assert.ok(e instanceof DatabaseError, String(e));
    assert.equal(e.code, '28000');
    assert.equal(e.kind, 'authentication');
    assert.match(e.message, /certificate/);
    return true;
  });
  // In clear, pg_hba's `hostnossl ... reject` line applies.
  await assert.rejects(connect(`host=127.0.0.1 port=${pg.port} user=${pg.cert_user} dbname=${pg.dbname} sslmode=disable`, { env: {} }), (e) => {
    assert.ok(e instanceof DatabaseError, String(e));
    assert.equal(e.code, '28000');
    assert.match(e.message, /no encryption/);
    return true;
  });
});

test('an encrypted key is decrypted with sslpassword; a wrong or missing password fails naming sslpassword', async () => {
  const files = { env: {}, allowFiles: clientFiles() };
  const enc = `sslcert=${pg.client_cert} sslkey=${pg.client_key_encrypted}`;
  const c = await connect(certConninfo(`${enc} sslpassword='${pg.client_key_password}'`), files);
  assert.equal((await whoAmI(c)).u, 'cert_user');
  for (const extra of ['sslpassword=wrong', '']) {
    await assert.rejects(connect(certConninfo(`${enc} ${extra}`), files), (e) => {
      assert.ok(e instanceof WasmpgError && !(e instanceof DatabaseError), String(e));
      assert.equal(e.kind, 'config');
      assert.match(e.message, /sslpassword/);
      assert.ok(e.message.includes(pg.client_key_encrypted), e.message);
      return true;
    });
  }
});

test('a key that group or others may read is refused (libpq rule); a key outside the file policy is denied', async () => {
  const open = join(home, 'open.key');
  copyFileSync(pg.client_key, open);
  chmodSync(open, 0o644);
  try {
    await assert.rejects(connect(certConninfo(`sslcert=${pg.client_cert} sslkey=${open}`), { env: {}, allowFiles: [...clientFiles(), open] }), (e) => {
      assert.ok(e instanceof WasmpgError, String(e));
      assert.equal(e.kind, 'config');
      assert.match(e.message, /group or world access/);
      assert.ok(e.message.includes(open), e.message);
      return true;
    });
  } finally {
    rmSync(open, { force: true });
  }
  // The certificate is granted, its key is not: nothing is read, and the key is required.
  await assert.rejects(connect(certConninfo(`sslcert=${pg.client_cert} sslkey=${pg.client_key}`), { env: {}, allowFiles: [pg.ca_file, pg.client_cert] }), (e) => {
    assert.ok(e instanceof WasmpgError, String(e));
    assert.equal(e.kind, 'policy-denied');
    assert.match(e.message, /private key file/);
    return true;
  });
});

test('the default files under ~/.postgresql: root.crt, postgresql.crt and postgresql.key, no grant needed', async () => {
  const dir = join(home, '.postgresql');
  mkdirSync(dir, { mode: 0o700 });
  try {
    copyFileSync(pg.ca_file, join(dir, 'root.crt'));
    copyFileSync(pg.client_cert, join(dir, 'postgresql.crt'));
    copyFileSync(pg.client_key, join(dir, 'postgresql.key'));
    chmodSync(join(dir, 'postgresql.key'), 0o600);
    // Neither file keywords nor allowFiles: the guest asks for the defaults (default_ssl_dir),
    // and the file policy allows ~/.postgresql/.
    const c = await connect(`host=localhost port=${pg.port} user=${pg.cert_user} dbname=${pg.dbname} sslmode=verify-full`, { env: {} });
    assert.deepEqual(await whoAmI(c), { u: 'cert_user', ssl: true, client_dn: '/CN=cert_user' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a ~/.postgresql/root.crt that did not sign the server: require verifies and fails (kind tls); prefer retries in clear', async () => {
  const dir = join(home, '.postgresql');
  mkdirSync(dir, { mode: 0o700 });
  try {
    // The client certificate is no CA: the server's certificate cannot chain to it.
    copyFileSync(pg.client_cert, join(dir, 'root.crt'));
    for (const mode of ['require', 'verify-ca']) {
      await assert.rejects(connect(conninfo('127.0.0.1', `sslmode=${mode}`), { env: {} }), (e) => {
        assert.ok(e instanceof WasmpgError, String(e));
        assert.equal(e.kind, 'tls', `${mode}: ${e.message}`);
        assert.match(e.message, /unknown issuer/);
        return true;
      });
    }
    const c = await connect(conninfo('127.0.0.1', 'sslmode=prefer'), { env: {} });
    try {
      assert.equal((await ssl(c)).ssl, false);
    } finally {
      await c.end();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// --- channel binding and require_auth ------------------------------------------------------

const tcp = (user, extra) => `host=127.0.0.1 port=${pg.port} user=${user} dbname=${pg.dbname} ${extra}`;

test('channel_binding=require: SCRAM over TLS binds; md5 cannot, and without TLS nothing can', async () => {
  const c = await connect(tcp('scram_user', 'password=scram_secret sslmode=require channel_binding=require'), { env: {} });
  try {
    const r = await c.query('SELECT current_user AS u, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    assert.deepEqual(r.rows[0], { u: 'scram_user', ssl: true });
  } finally {
    await c.end();
  }
  await assert.rejects(connect(tcp('md5_user', 'password=md5_secret sslmode=require channel_binding=require'), { env: {} }), (e) => {
    assert.ok(e instanceof WasmpgError, String(e));
    assert.equal(e.kind, 'authentication');
    assert.match(e.message, /channel binding/);
    return true;
  });
  await assert.rejects(connect(tcp('scram_user', 'password=scram_secret sslmode=disable channel_binding=require'), { env: {} }), (e) => {
    assert.ok(e instanceof WasmpgError, String(e));
    assert.equal(e.kind, 'authentication');
    assert.match(e.message, /SSL is not in use/);
    return true;
  });
});

test('require_auth: a method the server does not ask for fails the connection', async () => {
  await assert.rejects(connect(tcp('scram_user', 'password=scram_secret require_auth=md5'), { env: {} }), (e) => {
    assert.ok(e instanceof WasmpgError, String(e));
    assert.equal(e.kind, 'authentication');
    assert.match(e.message, /authentication method requirement "md5" failed/);
    return true;
  });
  // trust: the server completes authentication without asking for anything.
  await assert.rejects(connect(tcp('postgres', 'require_auth=scram-sha-256'), { env: {} }), (e) => {
    assert.ok(e instanceof WasmpgError, String(e));
    assert.equal(e.kind, 'authentication');
    assert.match(e.message, /server did not complete authentication/);
    return true;
  });
  const c = await connect(tcp('scram_user', 'password=scram_secret require_auth=scram-sha-256'), { env: {} });
  await c.end();
});

// --- sslrootcert=system --------------------------------------------------------------------

test("sslrootcert=system: the system's trust store does not know the test CA (kind tls, unknown issuer)", async () => {
  await assert.rejects(connect(conninfo('localhost', 'sslrootcert=system'), { env: {} }), (e) => {
    assert.ok(e instanceof WasmpgError, String(e));
    assert.equal(e.kind, 'tls');
    assert.match(e.message, /unknown issuer/);
    return true;
  });
});

test('sslrootcert=system: SSL_CERT_FILE names the trust store, which the file policy does not guard', async () => {
  process.env.SSL_CERT_FILE = pg.ca_file;
  try {
    // No allowFiles: the store is the process's choice, not the conninfo's.
    const c = await connect(conninfo('localhost', 'sslrootcert=system'), { env: {} });
    try {
      assert.equal((await ssl(c)).ssl, true);
    } finally {
      await c.end();
    }
  } finally {
    delete process.env.SSL_CERT_FILE;
  }
});

// --- the file answers (unit) ---------------------------------------------------------------

test('file answers: the bytes exactly (Y), else a status (y); the permission rule per purpose', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wasmpg-node-files-'));
  try {
    const file = join(dir, 'key.der');
    const der = Buffer.from([0x30, 0x82, 0x00, 0x1d, 0xff, 0x1d, 0x1e, 0xc3]); // not UTF-8, structuring bytes inside
    writeFileSync(file, der);
    chmodSync(file, 0o600);
    const policy = new FilePolicy([file]);
    const answer = readFile(policy, file, 'sslkey');
    assert.equal(answer.status, 'ok');
    assert.deepEqual([.../** @type {any} */ (answer).bytes], [...der]);
    assert.deepEqual([...fileRequest(answer)], [0x59, ...der]);

    // Owned by this user: a key or password file group or others may access is too open;
    // certificates and revocation lists are public.
    for (const [mode, purpose, status] of [
      [0o600, 'passfile', 'ok'],
      [0o640, 'sslkey', 'too-open'],
      [0o604, 'sslkey', 'too-open'],
      [0o640, 'passfile', 'too-open'],
      [0o644, 'sslcert', 'ok'],
      [0o644, 'sslrootcert', 'ok'],
      [0o644, 'sslcrl', 'ok'],
    ]) {
      chmodSync(file, mode);
      assert.equal(readFile(policy, file, /** @type {string} */ (purpose)).status, status, `${purpose} ${mode.toString(8)}`);
    }
    const refused = readFile(policy, file, 'sslkey');
    assert.equal(refused.status, 'too-open');
    assert.equal(Buffer.from(fileRequest(refused)).toString('utf8'), `y\x1dtoo-open\x1d${/** @type {any} */ (refused).reason}`);

    // Outside the policy: denied, before anything is opened; missing inside it: missing.
    assert.equal(readFile(new FilePolicy([]), file, 'sslcert').status, 'denied');
    const gone = join(dir, 'gone.crt');
    assert.equal(readFile(new FilePolicy([gone]), gone, 'sslcert').status, 'missing');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  // libpq's key rule by owner: this user (0600 at most), root (0640 at most), others unchecked.
  assert.equal(secrecy('sslkey'), 'key');
  assert.equal(secrecy('sslrootcert'), 'public');
  assert.equal(secrecy('passfile'), 'passfile');
  if (process.platform !== 'win32') {
    const me = process.geteuid?.() ?? 1000;
    const other = me === 4242 ? 4243 : 4242;
    assert.equal(tooOpen('key', { uid: other, mode: 0o100666 }), false);
    assert.equal(tooOpen('key', { uid: 0, mode: 0o100660 }), true);
    assert.equal(tooOpen('key', { uid: 0, mode: 0o100640 }), me === 0);
    assert.equal(tooOpen('key', { uid: me, mode: 0o100600 }), false);
    assert.equal(tooOpen('key', { uid: me, mode: 0o100640 }), true);
    assert.equal(tooOpen('passfile', { uid: other, mode: 0o100640 }), true);
    assert.equal(tooOpen('public', { uid: me, mode: 0o100666 }), false);
  }
});

test("file answers: sslrootcert=system is the system's trust store, outside the file policy", () => {
  const denyAll = new FilePolicy([]);
  // SSL_CERT_FILE is unset here: the platform's bundle, or Node's roots; the policy denies all.
  const a = readFile(denyAll, 'system', 'sslrootcert');
  assert.equal(a.status, 'ok');
  assert.match(/** @type {any} */ (a).bytes.toString('latin1'), /-----BEGIN CERTIFICATE-----/);
  const dir = mkdtempSync(join(tmpdir(), 'wasmpg-node-store-'));
  try {
    const store = join(dir, 'store.pem');
    writeFileSync(store, readFileSync(pg.ca_file));
    chmodSync(store, 0o644);
    // SSL_CERT_FILE first, whatever the policy says; a missing one is `missing`.
    const viaEnv = systemRoots({ SSL_CERT_FILE: store });
    assert.equal(viaEnv.status, 'ok');
    assert.deepEqual(/** @type {any} */ (viaEnv).bytes, readFileSync(pg.ca_file));
    assert.equal(systemRoots({ SSL_CERT_FILE: join(dir, 'none.pem') }).status, 'missing');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // Only for sslrootcert: a certificate named `system` is a relative path, denied.
  assert.equal(readFile(denyAll, 'system', 'sslcert').status, 'denied');
});

// --- keepalives ----------------------------------------------------------------------------

test('applyKeepalive sets what the o action asks (on/off and the idle time; Node cannot set the rest)', () => {
  const calls = [];
  const stub = { setKeepAlive: (...args) => calls.push(args) };
  const ka = (enabled, idleSecs, intervalSecs = null, count = null) => ({ enabled, idleSecs, intervalSecs, count });
  applyKeepalive(stub, null); // no field: the socket's default
  applyKeepalive(stub, ka(false, null));
  applyKeepalive(stub, ka(true, null));
  applyKeepalive(stub, ka(true, 5, 2, 3));
  applyKeepalive(stub, ka(true, 0xffffffff));
  assert.deepEqual(calls, [[false], [true, 0], [true, 5000], [true, 0x7fffffff * 1000]]);
});

/** Linux: the keepalive timer of the client socket on `localPort` (/proc/net/tcp's `tr` is 2
 * while it is armed, `tm->when` in clock ticks of 1/100 s): seconds to expiry, null when not
 * armed, undefined when the socket is not found. */
function keepaliveTimer(localPort) {
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 6 || parseInt(f[1].split(':').pop() ?? '', 16) !== localPort) continue;
      const [tr, when] = f[5].split(':');
      return tr === '02' ? parseInt(when, 16) / 100 : null;
    }
  }
  return undefined;
}

test('keepalives: keepalives=0 and keepalives_idle=5 connect, and the host sets them on the socket', async () => {
  const calls = [];
  const original = Socket.prototype.setKeepAlive;
  Socket.prototype.setKeepAlive = function (...args) {
    calls.push(args);
    return original.apply(this, args);
  };
  const linux = process.platform === 'linux';
  try {
    for (const [extra, want] of [
      ['', [true, 0]], // libpq's default: on, the system's idle time
      ['keepalives=0', [false]],
      ['keepalives_idle=5 keepalives_interval=2 keepalives_count=3', [true, 5000]],
    ]) {
      calls.length = 0;
      const c = await connect(conninfo('127.0.0.1', extra), { env: {} });
      try {
        const r = await c.query('SELECT 1 AS one, inet_client_port() AS port');
        assert.equal(r.rows[0].one, 1);
        assert.deepEqual(calls, [want], extra);
        if (linux) {
          const timer = keepaliveTimer(r.rows[0].port);
          if (timer === undefined) continue; // no /proc/net/tcp here
          if (want[0] === false) assert.equal(timer, null, `${extra}: no keepalive timer`);
          else assert.ok(timer !== null, `${extra}: a keepalive timer is armed`);
          if (want[1] === 5000) assert.ok(/** @type {number} */ (timer) <= 5, `${extra}: the timer fires within 5 s, not ${timer}`);
        }
      } finally {
        await c.end();
      }
    }
  } finally {
    Socket.prototype.setKeepAlive = original;
  }
});

test('a session over TLS cancels over TLS, and the session stays usable', async () => {
  const d = await connect(conninfo('localhost', `sslmode=verify-full sslrootcert=${pg.ca_file}`), { allowFiles: [pg.ca_file] });
  try {
    await assertCancelStopsASleep(d);
  } finally {
    await d.end();
  }
});
