// The Pool against a real cluster: at most `max` server sessions, waiters served in turn, a
// connection given back inside a transaction is rolled back, one given back broken or with an
// error is replaced, and end().
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster } from './cluster.js';
import { Pool, connect, WasmpgError } from '../src/index.js';

let pg;
let admin;
before(async () => {
  pg = startCluster();
  admin = await connect(pg.conninfo);
});
after(async () => {
  await admin?.end();
  pg?.stop();
});

const backends = async (app) =>
  Number((await admin.query('SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1', [app])).rows[0].n);

test('at most max sessions; 20 concurrent queries all answered', async () => {
  const pool = new Pool(`${pg.conninfo} application_name=pool_max`, { max: 3 });
  try {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => pool.query('SELECT $1::int AS i, pg_sleep(0.01)', [i])));
    assert.deepEqual(
      results.map((r) => r.rows[0].i),
      Array.from({ length: 20 }, (_, i) => i),
    );
    assert.ok(pool.totalCount <= 3, `totalCount ${pool.totalCount}`);
    assert.ok((await backends('pool_max')) <= 3);
    assert.equal(pool.waitingCount, 0);
  } finally {
    await pool.end();
  }
  for (let i = 0; i < 50 && (await backends('pool_max')) > 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(await backends('pool_max'), 0);
});

test('a connection released inside a transaction is rolled back before reuse', async () => {
  const pool = new Pool(pg.conninfo, { max: 1 });
  try {
    await pool.query('CREATE TABLE IF NOT EXISTS pooled (x int)');
    const c1 = await pool.connect();
    await c1.query('BEGIN');
    await c1.query('INSERT INTO pooled VALUES (1)');
    c1.release();
    const c2 = await pool.connect();
    assert.equal(c2.transactionStatus, 'idle');
    assert.equal((await c2.query('SELECT count(*) AS n FROM pooled')).rows[0].n, 0n);
    c2.release();
    assert.throws(() => c2.release(), (e) => e instanceof WasmpgError && e.kind === 'usage');
  } finally {
    await pool.end();
  }
});

test('a connection released with an error is ended and replaced', async () => {
  const pool = new Pool(pg.conninfo, { max: 1 });
  try {
    const c1 = await pool.connect();
    const pid1 = c1.processID;
    c1.release(new Error('broken'));
    const c2 = await pool.connect();
    assert.notEqual(c2.processID, pid1);
    c2.release();
    // A connection whose server session died is replaced too.
    const c3 = await pool.connect();
    await admin.query('SELECT pg_terminate_backend($1)', [c3.processID]);
    await assert.rejects(c3.query('SELECT 1'), (e) => e instanceof WasmpgError);
    c3.release();
    assert.equal((await pool.query('SELECT 1 AS one')).rows[0].one, 1);
  } finally {
    await pool.end();
  }
});

test('an idle connection whose server session ended is not handed out', async () => {
  const pool = new Pool(pg.conninfo, { max: 2 });
  try {
    const c = await pool.connect();
    const pid = c.processID;
    c.release();
    await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    for (let i = 0; i < 100 && !c.closed; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(c.closed, true);
    const r = await pool.query('SELECT pg_backend_pid() AS pid');
    assert.notEqual(r.rows[0].pid, pid);
    assert.equal(pool.totalCount, 1);
  } finally {
    await pool.end();
  }
});

test('end() rejects waiters and later connects', async () => {
  const pool = new Pool(pg.conninfo, { max: 1 });
  const c = await pool.connect();
  const waiting = pool.connect();
  assert.equal(pool.waitingCount, 1);
  await pool.end();
  await assert.rejects(waiting, (e) => e instanceof WasmpgError && e.kind === 'closed');
  await assert.rejects(pool.connect(), (e) => e instanceof WasmpgError && e.kind === 'closed');
  c.release();
});

test('the pool forwards connect options (allow-list)', async () => {
  const pool = new Pool(pg.conninfo, { max: 1, allow: ['127.0.0.1:1'] });
  try {
    await assert.rejects(pool.query('SELECT 1'), (e) => e instanceof WasmpgError && e.kind === 'policy-denied');
    assert.equal(pool.totalCount, 0);
  } finally {
    await pool.end();
  }
});
