// Queries: results in node-postgres's shape, parameters, several statements, errors with every
// server field, ordering of concurrent requests, queryMany, streams with backpressure, cancel,
// notices and notifications, the statement cache across DDL, end(). Against a real cluster.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster } from './cluster.js';
import { assertCancelStopsASleep } from './checks.js';
import { connect, WasmpgError, DatabaseError } from '../src/index.js';

let pg;
let c;
before(async () => {
  pg = startCluster();
  c = await connect(pg.conninfo);
});
after(async () => {
  await c?.end();
  pg?.stop();
});

test('a simple query: rows keyed by name, fields, rowCount, command', async () => {
  const r = await c.query("SELECT 42 AS n, 'x' AS s, NULL::int AS z");
  assert.deepEqual(r.rows, [{ n: 42, s: 'x', z: null }]);
  assert.equal(r.rowCount, 1);
  assert.equal(r.command, 'SELECT');
  assert.deepEqual(
    r.fields.map((f) => [f.name, f.dataTypeID]),
    [
      ['n', 23],
      ['s', 25],
      ['z', 23],
    ],
  );
});

test('bound parameters, one round trip', async () => {
  const r = await c.query('SELECT $1::int + 1 AS n, $2::text AS t, $3::int AS z', [41, 'héllo\u0000'.slice(0, 5), null]);
  assert.deepEqual(r.rows, [{ n: 42, t: 'héllo', z: null }]);
  const cfg = await c.query({ text: 'SELECT $1::text AS a, $2::text AS b', values: ['x', 'y'], rowMode: 'array' });
  assert.deepEqual(cfg.rows, [['x', 'y']]);
});

test('text with the structuring characters survives both ways', async () => {
  const s = 'a\x1bb\x1dc\x1ed\x1fe';
  const r = await c.query('SELECT $1::text AS s, $1::text || chr(27) AS t', [s]);
  assert.equal(r.rows[0].s, s);
  assert.equal(r.rows[0].t, s + '\x1b');
});

test('rowMode array and duplicate column names', async () => {
  const r = await c.query('SELECT 1 AS a, 2 AS a', undefined, { rowMode: 'array' });
  assert.deepEqual(r.rows, [[1, 2]]);
  const o = await c.query('SELECT 1 AS a, 2 AS a');
  assert.deepEqual(o.rows, [{ a: 2 }]);
});

test('several statements give an array of results', async () => {
  const r = await c.query('CREATE TEMP TABLE m (x int); INSERT INTO m VALUES (1), (2); SELECT x FROM m ORDER BY x');
  assert.ok(Array.isArray(r));
  assert.deepEqual(
    r.map((x) => [x.command, x.rowCount]),
    [
      ['CREATE', null],
      ['INSERT', 2],
      ['SELECT', 2],
    ],
  );
  assert.deepEqual(r[2].rows, [{ x: 1 }, { x: 2 }]);
});

test('a server error carries every field under node-postgres names', async () => {
  await c.query('CREATE TEMP TABLE u (id int CONSTRAINT u_pk PRIMARY KEY)');
  await c.query('INSERT INTO u VALUES (1)');
  await assert.rejects(c.query('INSERT INTO u VALUES ($1)', [1]), (e) => {
    assert.ok(e instanceof DatabaseError);
    assert.equal(e.kind, 'db');
    assert.equal(e.code, '23505');
    assert.equal(e.constraint, 'u_pk');
    assert.equal(e.table, 'u');
    assert.match(e.schema, /^pg_temp/);
    assert.match(e.detail, /Key \(id\)=\(1\) already exists/);
    assert.equal(e.severity, 'ERROR');
    assert.equal(e.routine, '_bt_check_unique');
    return true;
  });
  await assert.rejects(c.query('SELEC 1'), (e) => {
    assert.equal(e.code, '42601');
    assert.equal(e.position, '1');
    return true;
  });
  // The connection goes on.
  assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
});

test('transactions: status, rollback of a failed transaction', async () => {
  await c.query('BEGIN');
  assert.equal(c.transactionStatus, 'in-transaction');
  await assert.rejects(c.query('SELECT 1/0'), (e) => e.code === '22012');
  assert.equal(c.transactionStatus, 'failed');
  await assert.rejects(c.query('SELECT 1'), (e) => e.code === '25P02');
  await c.query('ROLLBACK');
  assert.equal(c.transactionStatus, 'idle');
});

test('concurrent requests on one connection run in order', async () => {
  const all = await Promise.all(Array.from({ length: 20 }, (_, i) => c.query('SELECT $1::int AS i', [i])));
  assert.deepEqual(
    all.map((r) => r.rows[0].i),
    Array.from({ length: 20 }, (_, i) => i),
  );
  // A failing request in the middle fails only itself.
  const mixed = await Promise.allSettled([c.query('SELECT 1 AS a'), c.query('SELECT nope'), c.query('SELECT 3 AS a')]);
  assert.deepEqual(
    mixed.map((m) => m.status),
    ['fulfilled', 'rejected', 'fulfilled'],
  );
});

test('queryMany: one statement, many parameter rows, one round trip', async () => {
  await c.query('CREATE TEMP TABLE many (i int8, t text)');
  const rows = Array.from({ length: 1000 }, (_, i) => [i, `t${i}`]);
  const r = await c.queryMany('INSERT INTO many VALUES ($1, $2)', rows);
  assert.equal(r.rowCount, 1000);
  const s = await c.query('SELECT count(*) AS n, sum(i) AS s FROM many');
  assert.deepEqual(s.rows[0], { n: 1000n, s: '499500' });
  const ret = await c.queryMany('INSERT INTO many VALUES ($1, $2) RETURNING t', [
    [1, 'a'],
    [2, 'b'],
  ]);
  assert.deepEqual(ret.rows, [{ t: 'a' }, { t: 'b' }]);
  // Integers widen across rows: 1 fits int4, 2^40 needs int8.
  const w = await c.queryMany('INSERT INTO many VALUES ($1, $2)', [
    [1, 'small'],
    [2 ** 40, 'big'],
  ]);
  assert.equal(w.rowCount, 2);
});

test('stream: 100,000 rows with backpressure; breaking out leaves the connection usable', async () => {
  let n = 0;
  let sum = 0;
  for await (const row of c.stream('SELECT g AS i FROM generate_series(1, 100000) g')) {
    n++;
    sum += row.i;
  }
  assert.equal(n, 100000);
  assert.equal(sum, 5000050000);
  let seen = 0;
  for await (const row of c.stream('SELECT g AS i FROM generate_series(1, $1::int) g', [1000000])) {
    seen = row.i;
    if (seen === 10) break;
  }
  assert.equal(seen, 10);
  assert.equal((await c.query('SELECT 7 AS x')).rows[0].x, 7);
});

test('stream: the socket is read only as fast as rows are consumed', async () => {
  // ~200 MB of rows; after the first row and a pause, the client must have read a small part.
  const d = await connect(pg.conninfo);
  try {
    const it = d.stream("SELECT g, repeat('x', 1000) AS pad FROM generate_series(1, 200000) g")[Symbol.asyncIterator]();
    const first = await it.next();
    assert.equal(first.value.g, 1);
    await new Promise((r) => setTimeout(r, 300));
    const read = d._session.io.socket.bytesRead;
    assert.ok(read < 16 << 20, `read ${read} bytes of ~200 MB while one row was consumed`);
    await it.return();
    assert.equal((await d.query('SELECT 2 AS two')).rows[0].two, 2);
  } finally {
    await d.end();
  }
});

test('stream errors are thrown by the iteration', async () => {
  await assert.rejects(
    (async () => {
      for await (const _ of c.stream('SELECT 1/(g - 5) FROM generate_series(1, 10) g')) {
        // consume
      }
    })(),
    (e) => e instanceof DatabaseError && e.code === '22012',
  );
  assert.equal((await c.query('SELECT 8 AS x')).rows[0].x, 8);
});

test('cancel() stops the running statement with 57014', async () => {
  const d = await connect(pg.conninfo);
  try {
    await assertCancelStopsASleep(d);
  } finally {
    await d.end();
  }
});

test('notices and notifications are events', async () => {
  const notices = [];
  const notes = [];
  c.on('notice', (n) => notices.push(n));
  c.on('notification', (n) => notes.push(n));
  await c.query("DO $$ BEGIN RAISE NOTICE 'hello %', 42; END $$");
  assert.equal(notices.length, 1);
  assert.equal(notices[0].message, 'hello 42');
  assert.equal(notices[0].severity, 'NOTICE');
  assert.equal(notices[0].code, '00000');
  await c.query('LISTEN chan');
  await c.query("NOTIFY chan, 'payload'");
  assert.deepEqual(notes, [{ processId: c.processID, channel: 'chan', payload: 'payload' }]);
});

test('notifications arrive while the connection is idle, without a query', async () => {
  const listener = await connect(pg.conninfo);
  try {
    await listener.query('LISTEN idle_chan');
    const got = new Promise((resolve) => listener.once('notification', resolve));
    await c.query("NOTIFY idle_chan, 'while idle'");
    const note = await Promise.race([got, new Promise((r) => setTimeout(() => r('timeout'), 5000))]);
    assert.deepEqual(note, { processId: c.processID, channel: 'idle_chan', payload: 'while idle' });
    assert.equal((await listener.query('SELECT 1 AS one')).rows[0].one, 1);
  } finally {
    await listener.end();
  }
});

test('a session the server ends while idle: an error event, closed, later requests fail', async () => {
  const d = await connect(pg.conninfo);
  const errors = [];
  d.on('error', (e) => errors.push(e));
  await c.query('SELECT pg_terminate_backend($1)', [d.processID]);
  for (let i = 0; i < 200 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, '57P01'); // admin_shutdown, the FATAL the server sent
  assert.equal(d.closed, true);
  await assert.rejects(d.query('SELECT 1'), (e) => e instanceof WasmpgError && e.kind === 'closed');
  await d.end();
});

test('the statement cache survives DDL that changes a result', async () => {
  await c.query('CREATE TABLE ddl (a int)');
  await c.query('INSERT INTO ddl VALUES (1)');
  const q = 'SELECT * FROM ddl WHERE a = $1';
  assert.deepEqual((await c.query(q, [1])).rows, [{ a: 1 }]);
  await c.query('ALTER TABLE ddl ADD COLUMN b text DEFAULT $$x$$');
  assert.deepEqual((await c.query(q, [1])).rows, [{ a: 1, b: 'x' }]);
  await c.query('DROP TABLE ddl');
});

test('wrong parameter use is a clear error, and nothing is sent', async () => {
  await assert.rejects(c.query('SELECT $1', /** @type {any} */ ('x')), (e) => e instanceof WasmpgError && e.kind === 'usage');
  await assert.rejects(c.query('SELECT $1::text', [Symbol('s')]), (e) => e instanceof WasmpgError && e.kind === 'encode');
  await assert.rejects(c.query('SELECT $1::int + $2::int', [1]), (e) => e instanceof DatabaseError && e.code === '08P01');
  assert.equal((await c.query('SELECT 9 AS x')).rows[0].x, 9);
});

test('end() closes; later requests fail with kind closed', async () => {
  const d = await connect(pg.conninfo);
  const pid = d.processID;
  await d.end();
  await assert.rejects(d.query('SELECT 1'), (e) => e instanceof WasmpgError && e.kind === 'closed');
  // The server saw the session end.
  for (let i = 0; i < 50; i++) {
    const r = await c.query('SELECT count(*) AS n FROM pg_stat_activity WHERE pid = $1', [pid]);
    if (r.rows[0].n === 0n) return;
    await new Promise((res) => setTimeout(res, 50));
  }
  assert.fail('the backend is still there after end()');
});
