// Values through the real server, both ways: parameters of every JavaScript type the package
// sends, results of every type family it converts, the type options, and a value the loader
// refuses (kind 'decode': the request fails, the connection goes on).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster } from './cluster.js';
import { connect, WasmpgError, types } from '../src/index.js';

let pg;
let c;
before(async () => {
  pg = startCluster();
  c = await connect(pg.conninfo);
  await c.query("SET TimeZone = 'Asia/Kolkata'");
});
after(async () => {
  await c?.end();
  pg?.stop();
});

const one = async (sql, values, options) => (await c.query(sql, values, options)).rows[0];

test('integers: int2/int4 numbers, int8 BigInt both ways', async () => {
  const r = await one('SELECT $1::int2 AS a, $2::int4 AS b, $3::int8 AS c, $4::int8 AS d', [-32768, 2147483647, -(2n ** 63n), 2 ** 40]);
  assert.deepEqual(r, { a: -32768, b: 2147483647, c: -(2n ** 63n), d: 2n ** 40n });
  assert.equal((await one('SELECT pg_typeof($1)::text AS t', [2 ** 40])).t, 'bigint');
  assert.equal((await one('SELECT pg_typeof($1)::text AS t', [7])).t, 'integer');
  assert.equal((await one('SELECT pg_typeof($1)::text AS t', [1.5])).t, 'double precision');
});

test('floats are exact both ways, including the specials', async () => {
  const xs = [0.1, -0, 1e300, 5e-324, Number.MAX_VALUE, NaN, Infinity, -Infinity];
  const r = await c.query('SELECT x FROM unnest($1::float8[]) WITH ORDINALITY AS u(x, i) ORDER BY i', [xs]);
  assert.deepEqual(
    r.rows.map((x) => x.x),
    xs,
  );
  assert.ok(Object.is((await one('SELECT $1::float8 AS z', [-0])).z, -0));
});

test('numeric stays an exact string', async () => {
  const big = '123456789012345678901234567890.000000000000000000001';
  assert.deepEqual(await one('SELECT $1::numeric AS n, $2::numeric AS m, 1e-30::numeric AS s', [big, 10n ** 30n]), {
    n: big,
    m: '1000000000000000000000000000000',
    s: '0.000000000000000000000000000001',
  });
});

test('text, bytea with every byte, uuid, bool', async () => {
  const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const r = await one('SELECT $1::text AS t, $2::bytea AS b, $3::uuid AS u, $4::bool AS f, length($2::bytea) AS n', [
    'żółw ☃',
    bytes,
    'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11',
    false,
  ]);
  assert.equal(r.t, 'żółw ☃');
  assert.ok(r.b instanceof Uint8Array);
  assert.deepEqual(Buffer.from(r.b), bytes);
  assert.equal(r.n, 256);
  assert.equal(r.u, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
  assert.equal(r.f, false);
});

test('timestamptz: a Date is an instant, whatever the session time zone', async () => {
  const d = new Date(Date.UTC(2024, 1, 29, 23, 59, 58, 123));
  const r = await one("SELECT $1::timestamptz AS t, $1::timestamptz AT TIME ZONE 'UTC' AS naive, '2024-02-29 23:59:58.123456+00'::timestamptz AS exact", [d]);
  assert.equal(r.t.getTime(), d.getTime());
  assert.equal(r.exact.getTime(), d.getTime()); // microseconds beyond the millisecond are cut
  const s = await one("SELECT '2024-02-29 23:59:58.123456+00'::timestamptz AS t, 'infinity'::timestamptz AS i, '0044-03-15 12:00:00+00 BC'::timestamptz AS bc", undefined, {});
  assert.equal(s.i, Infinity);
  assert.equal(s.bc.getUTCFullYear(), -43);
  const lossless = await connect(pg.conninfo, { types: { dates: 'string' } });
  try {
    await lossless.query("SET TimeZone = 'UTC'");
    assert.equal((await lossless.query("SELECT '2024-02-29 23:59:58.123456+00'::timestamptz AS t")).rows[0].t, '2024-02-29 23:59:58.123456+00:00');
  } finally {
    await lossless.end();
  }
});

test('json and jsonb: objects are sent as JSON, results parsed', async () => {
  const obj = { a: [1, 'x', null], b: { c: true } };
  await c.query('CREATE TEMP TABLE j (v jsonb)');
  await c.query('INSERT INTO j VALUES ($1)', [obj]);
  assert.deepEqual((await one('SELECT v FROM j')).v, obj);
  assert.equal((await one('SELECT count(*) AS n FROM j WHERE v @> $1', [{ b: { c: true } }])).n, 1n);
  assert.deepEqual((await one(`SELECT '{"k": [1.5, "\\u00e9"]}'::json AS v`)).v, { k: [1.5, 'é'] });
});

test('arrays: nested, with NULLs, of several element types', async () => {
  const r = await one('SELECT $1::int[] AS a, $2::text[] AS t, ARRAY[[1,2],[3,NULL]]::int8[] AS m, $3::int[] AS e', [
    [1, null, 3],
    ['a,b', '"q"', null, ''],
    [],
  ]);
  assert.deepEqual(r, { a: [1, null, 3], t: ['a,b', '"q"', null, ''], m: [[1n, 2n], [3n, null]], e: [] });
});

test('interval: months, days and microseconds kept apart', async () => {
  const r = await one("SELECT '1 year 2 mons 3 days 04:05:06.789'::interval AS i, $1::interval AS p", [new types.Interval(-1, 2, -3000000n)]);
  assert.ok(r.i instanceof types.Interval);
  assert.deepEqual([r.i.months, r.i.days, r.i.microseconds], [14, 3, 14706789000n]);
  assert.deepEqual([r.p.months, r.p.days, r.p.microseconds], [-1, 2, -3000000n]);
});

test('type options: int8 as string or number', async () => {
  const s = await connect(pg.conninfo, { types: { int8: 'string' } });
  const n = await connect(pg.conninfo, { types: { int8: 'number' } });
  try {
    assert.equal((await s.query('SELECT 9223372036854775807::int8 AS x')).rows[0].x, '9223372036854775807');
    assert.equal((await n.query('SELECT 42::int8 AS x')).rows[0].x, 42);
    await assert.rejects(n.query('SELECT 9223372036854775807::int8 AS x'), (e) => e instanceof WasmpgError && e.kind === 'decode');
    assert.equal((await n.query('SELECT 43::int8 AS x')).rows[0].x, 43);
  } finally {
    await s.end();
    await n.end();
  }
});

test('a value a Date cannot hold fails the request with kind decode; the connection goes on', async () => {
  await assert.rejects(c.query("SELECT g, '294276-01-01 00:00:00+00'::timestamptz AS far FROM generate_series(1, 3) g"), (e) => {
    assert.ok(e instanceof WasmpgError, String(e));
    assert.equal(e.kind, 'decode');
    assert.match(e.message, /dates: 'string'/);
    return true;
  });
  assert.equal((await one('SELECT 5 AS x')).x, 5);
});

test('a parameter the package cannot send is an encode error, before anything is sent', async () => {
  await assert.rejects(c.query('SELECT $1', [() => 1]), (e) => e instanceof WasmpgError && e.kind === 'encode');
  await assert.rejects(c.query('SELECT $1', [new Int32Array(2)]), (e) => e instanceof WasmpgError && e.kind === 'encode');
  assert.equal((await one('SELECT 6 AS x')).x, 6);
});
