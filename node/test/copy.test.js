// COPY through copyFrom (a Writable) and copyTo (a Readable), against a real cluster: a million
// rows each way with checksums the server computes too, text / CSV with HEADER / binary round
// trips, a bad row midway (the error early, the connection usable), destroy(err) aborting the
// COPY, a backend terminated during a COPY, query() refusing COPY, copyTo's backpressure keeping
// memory bounded, queueing behind other requests, and the same in Worker mode (cpuLimit).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { startCluster } from './cluster.js';
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

/** Row i of the million-row table: an id and text with a non-ASCII character and a byte the
 * packed layout must escape (U+001D), none of which COPY's text format escapes. */
const rowText = (i) => `${i}\tr${i}é\x1d${'x'.repeat(i % 17)}\n`;

/** The rows [from, to) as strings of about 64 KiB, or as many small writes (`small`). */
function* rows(from, to, small = false) {
  let s = '';
  for (let i = from; i < to; i++) {
    if (small) {
      yield rowText(i);
      continue;
    }
    s += rowText(i);
    if (s.length >= 65536) {
      yield s;
      s = '';
    }
  }
  if (s) yield s;
}

/** A Writable that hashes what it gets and counts it. */
function hashing() {
  const h = createHash('md5');
  let bytes = 0;
  let chunks = 0;
  const w = new Writable({
    write(chunk, _enc, cb) {
      assert.ok(Buffer.isBuffer(chunk));
      h.update(chunk);
      bytes += chunk.length;
      chunks++;
      cb();
    },
  });
  return { w, digest: () => h.digest('hex'), bytes: () => bytes, chunks: () => chunks };
}

const one = async (conn, sql) => (await conn.query(sql)).rows[0];

test('a million rows in and out, checksums equal to the server aggregate', async () => {
  await c.query('CREATE TABLE big (id int PRIMARY KEY, t text NOT NULL)');
  const N = 1_000_000;
  const input = createHash('md5');
  for (const s of rows(0, N)) input.update(s, 'utf8');
  const expected = input.digest('hex');

  const into = c.copyFrom('COPY big (id, t) FROM STDIN');
  await pipeline(Readable.from(rows(0, N)), into);
  assert.equal(into.rowCount, N);
  const agg = await one(
    c,
    "SELECT count(*)::int AS n, sum(id)::text AS s, md5(string_agg(id || E'\\t' || t || E'\\n', '' ORDER BY id)) AS h FROM big",
  );
  assert.deepEqual(agg, { n: N, s: String((N * (N - 1)) / 2), h: expected });

  const out = c.copyTo('COPY (SELECT id, t FROM big ORDER BY id) TO STDOUT');
  const sink = hashing();
  await pipeline(out, sink.w);
  assert.equal(out.rowCount, N);
  assert.equal(sink.digest(), expected);
  assert.ok(sink.chunks() > 10, 'the output came in many chunks');
  assert.equal((await one(c, 'SELECT 1 AS x')).x, 1);
});

test('many small writes are coalesced and all arrive', async () => {
  await c.query('CREATE TABLE small (id int PRIMARY KEY, t text NOT NULL)');
  const into = c.copyFrom('COPY small FROM STDIN');
  await pipeline(Readable.from(rows(0, 50_000, true)), into);
  assert.equal(into.rowCount, 50_000);
  assert.deepEqual(await one(c, 'SELECT count(*)::int AS n, sum(id)::int AS s FROM small'), { n: 50_000, s: (50_000 * 49_999) / 2 });
});

test('text, CSV with HEADER and binary round trips', async () => {
  await c.query(`CREATE TABLE kinds (id int PRIMARY KEY, t text, n numeric, b bytea, ts timestamptz, j jsonb, a int[]);
    CREATE TABLE kinds2 (LIKE kinds)`);
  // text: strings and Buffers mixed, a row split across writes, escapes and NULL
  const w = c.copyFrom('COPY kinds FROM STDIN');
  w.write('1\ttab\\there\t1.5\t\\\\x00ff\t2024-01-02 03:04:05+00\t{"k": "v"}\t{1,2}\n2\t\\N\t');
  w.write(Buffer.from('-0.25\t\\N\t\\N\t[]\t{}\n3\tünï\x1bcode\t0\t\\\\x\tinfinity\tnull\t{NULL}\n', 'utf8'));
  w.end();
  await once(w, 'finish');
  assert.equal(w.rowCount, 3);
  const text = c.copyTo('COPY kinds TO STDOUT');
  const got = [];
  for await (const chunk of text) got.push(chunk);
  assert.equal(
    Buffer.concat(got).toString('utf8'),
    '1\ttab\\there\t1.5\t\\\\x00ff\t2024-01-02 03:04:05+00\t{"k": "v"}\t{1,2}\n' +
      '2\t\\N\t-0.25\t\\N\t\\N\t[]\t{}\n' +
      '3\tünï\x1bcode\t0\t\\\\x\tinfinity\tnull\t{NULL}\n',
  );
  assert.equal(text.rowCount, 3);

  // CSV with a header, quotes, a comma and a newline inside a field
  const csvIn = 'id,t,n\n10,"a, ""quoted""\nline",7\n11,,8\n';
  const wc = c.copyFrom('COPY kinds (id, t, n) FROM STDIN (FORMAT csv, HEADER true)');
  await pipeline(Readable.from([csvIn]), wc);
  assert.equal(wc.rowCount, 2);
  assert.equal((await one(c, 'SELECT t FROM kinds WHERE id = 10')).t, 'a, "quoted"\nline');
  const csvOut = [];
  const rc = c.copyTo('COPY (SELECT id, t, n FROM kinds WHERE id >= 10 ORDER BY id) TO STDOUT (FORMAT csv, HEADER true)');
  await pipeline(rc, new Writable({ write: (chunk, _e, cb) => (csvOut.push(chunk), cb()) }));
  assert.equal(Buffer.concat(csvOut).toString('utf8'), csvIn);
  assert.equal(rc.rowCount, 2);

  // binary: out of one table, into another, byte for byte (every byte value occurs)
  await c.query("INSERT INTO kinds (id, b) SELECT 100 + g, decode(lpad(to_hex(g), 2, '0'), 'hex') FROM generate_series(0, 255) g");
  const bin = [];
  const ro = c.copyTo('COPY kinds TO STDOUT (FORMAT binary)');
  await pipeline(ro, new Writable({ write: (chunk, _e, cb) => (bin.push(chunk), cb()) }));
  const bytes = Buffer.concat(bin);
  assert.equal(bytes.subarray(0, 11).toString('latin1'), 'PGCOPY\n\xff\r\n\x00');
  assert.equal(ro.rowCount, 261);
  const wi = c.copyFrom('COPY kinds2 FROM STDIN (FORMAT binary)');
  // odd splits: binary data is not rows
  const parts = [];
  for (let at = 0; at < bytes.length; at += 7777) parts.push(bytes.subarray(at, at + 7777));
  await pipeline(Readable.from(parts), wi);
  assert.equal(wi.rowCount, 261);
  const same = await one(
    c,
    `SELECT (SELECT md5(string_agg(k::text, '|' ORDER BY id)) FROM kinds k) AS a,
            (SELECT md5(string_agg(k::text, '|' ORDER BY id)) FROM kinds2 k) AS b`,
  );
  assert.equal(same.a, same.b);
});

test('a bad row midway: the DatabaseError early, nothing inserted, the connection usable', async () => {
  await c.query('CREATE TABLE strict_t (id int PRIMARY KEY, t text)');
  const total = 2_000_000;
  let produced = 0;
  function* gen() {
    for (const s of rows(0, total)) {
      produced += s.length;
      yield s.replace(/^5000\t/m, 'oops\t');
    }
  }
  const totalBytes = [...rows(0, total)].reduce((n, s) => n + s.length, 0);
  const w = c.copyFrom('COPY strict_t FROM STDIN');
  await assert.rejects(pipeline(Readable.from(gen()), w), (e) => {
    assert.ok(e instanceof DatabaseError, String(e));
    assert.equal(e.code, '22P02');
    assert.match(e.message, /oops/);
    assert.match(e.where ?? '', /COPY strict_t/);
    return true;
  });
  assert.ok(produced < totalBytes / 2, `the error came early: ${produced} of ${totalBytes} bytes produced`);
  assert.equal(w.rowCount, null);
  assert.equal(c.transactionStatus, 'idle');
  assert.equal((await one(c, 'SELECT count(*)::int AS n FROM strict_t')).n, 0);
  // the same connection copies again
  const again = c.copyFrom('COPY strict_t FROM STDIN');
  await pipeline(Readable.from(['1\ta\n']), again);
  assert.equal(again.rowCount, 1);
  await c.query('TRUNCATE strict_t');
});

test('destroy(err) aborts the COPY with CopyFail: nothing inserted, the connection usable', async () => {
  await c.query('CREATE TABLE aborted (id int, t text)');
  const w = c.copyFrom('COPY aborted FROM STDIN');
  for (const s of rows(0, 20_000)) w.write(s);
  await new Promise((r) => setTimeout(r, 50));
  const reason = new Error('the source file ended early');
  const errored = once(w, 'error');
  const closed = new Promise((r) => w.on('close', r));
  w.destroy(reason);
  const [err] = await errored;
  assert.equal(err, reason);
  await closed;
  assert.equal((await one(c, 'SELECT count(*)::int AS n FROM aborted')).n, 0);
  assert.equal(c.transactionStatus, 'idle');
  // inside a transaction the abort fails it with the server's 57014 and the reason
  await c.query('BEGIN');
  const w2 = c.copyFrom('COPY aborted FROM STDIN');
  w2.write('1\tx\n');
  const closed2 = new Promise((r) => w2.on('close', r));
  w2.on('error', () => {});
  w2.destroy(new Error('changed my mind'));
  await closed2;
  assert.equal(c.transactionStatus, 'failed');
  await c.query('ROLLBACK');
  // a pipeline whose source fails destroys the copy the same way
  const failing = Readable.from(
    (function* () {
      yield '1\ta\n';
      throw new Error('source broke');
    })(),
  );
  await assert.rejects(pipeline(failing, c.copyFrom('COPY aborted FROM STDIN')), /source broke/);
  assert.equal((await one(c, 'SELECT count(*)::int AS n FROM aborted')).n, 0);
});

test('query() of a COPY rejects with kind usage; the connection stays usable', async () => {
  await c.query('CREATE TABLE via_query (id int)');
  await c.query('INSERT INTO via_query SELECT generate_series(1, 100000)');
  await assert.rejects(c.query('COPY via_query FROM STDIN'), (e) => {
    assert.ok(e instanceof WasmpgError);
    assert.equal(e.kind, 'usage');
    assert.match(e.message, /copyFrom/);
    return true;
  });
  assert.equal(c.transactionStatus, 'idle');
  await assert.rejects(c.query('COPY via_query TO STDOUT'), (e) => e instanceof WasmpgError && e.kind === 'usage' && /copyTo/.test(e.message));
  assert.equal((await one(c, 'SELECT count(*)::int AS n FROM via_query')).n, 100000);
  // with parameters (extended protocol) too, and through stream()
  await assert.rejects(c.query('COPY via_query TO STDOUT', []), (e) => e.kind === 'usage');
  await assert.rejects(c.query('COPY via_query FROM STDIN', []), (e) => e.kind === 'usage');
  await assert.rejects(
    (async () => {
      for await (const _row of c.stream('COPY via_query FROM STDIN')) {
        // nothing
      }
    })(),
    (e) => e.kind === 'usage',
  );
  assert.equal((await one(c, 'SELECT 2 AS x')).x, 2);
  // the wrong direction for the stream
  await assert.rejects(pipeline(c.copyTo('COPY via_query FROM STDIN'), new Writable({ write: (_c, _e, cb) => cb() })), (e) => e.kind === 'usage');
  await assert.rejects(pipeline(Readable.from(['1\n']), c.copyFrom('COPY via_query TO STDOUT')), (e) => e.kind === 'usage');
  await assert.rejects(pipeline(Readable.from(['1\n']), c.copyFrom('SELECT 1')), (e) => e.kind === 'usage');
  // a server error at the start
  await assert.rejects(pipeline(Readable.from(['1\n']), c.copyFrom('COPY nowhere FROM STDIN')), (e) => e.code === '42P01');
  await assert.rejects(pipeline(c.copyTo('COPY nowhere TO STDOUT'), new Writable({ write: (_c, _e, cb) => cb() })), (e) => e.code === '42P01');
  assert.equal((await one(c, 'SELECT count(*)::int AS n FROM via_query')).n, 100000);
});

test('copy streams queue behind other requests, and requests behind them', async () => {
  await c.query('CREATE TABLE queued (id int)');
  const order = [];
  const q1 = c.query('SELECT pg_sleep(0.2)').then(() => order.push('sleep'));
  const w = c.copyFrom('COPY queued FROM STDIN');
  const done = pipeline(Readable.from(['1\n2\n3\n']), w).then(() => order.push('copy'));
  const q2 = c.query('SELECT count(*)::int AS n FROM queued').then((r) => order.push(`count ${r.rows[0].n}`));
  const out = c.copyTo('COPY queued TO STDOUT');
  const q3 = c.query('INSERT INTO queued VALUES (4)').then(() => order.push('insert'));
  const text = [];
  for await (const chunk of out) text.push(chunk);
  await Promise.all([q1, done, q2, q3]);
  assert.deepEqual(order, ['sleep', 'copy', 'count 3', 'insert']);
  assert.equal(Buffer.concat(text).toString(), '1\n2\n3\n');
});

test('copyTo backpressure: a paused consumer keeps memory bounded', async () => {
  await c.query("CREATE TABLE wide AS SELECT g AS id, repeat('y', 500) AS t FROM generate_series(1, 300000) g");
  const expectedBytes = Number((await one(c, "SELECT sum(length(id::text || E'\\t' || t || E'\\n'))::bigint AS n FROM wide")).n);
  assert.ok(expectedBytes > 150e6);
  global.gc?.();
  const before = process.memoryUsage();
  const out = c.copyTo('COPY wide TO STDOUT');
  const first = await new Promise((resolveP, rejectP) => {
    out.once('data', resolveP);
    out.once('error', rejectP);
  });
  out.pause();
  assert.ok(first.length > 0);
  await new Promise((r) => setTimeout(r, 1500));
  const paused = process.memoryUsage();
  const grown = paused.arrayBuffers + paused.external - (before.arrayBuffers + before.external);
  const rss = paused.rss - before.rss;
  assert.ok(grown < 32 << 20, `array buffers grew by ${grown} bytes while paused (output ${expectedBytes})`);
  assert.ok(rss < 96 << 20, `rss grew by ${rss} bytes while paused (output ${expectedBytes})`);
  assert.ok(out.readableLength < 4 << 20, `the stream buffered ${out.readableLength} bytes`);
  // everything still arrives once the consumer reads again
  let bytes = first.length;
  for await (const chunk of out) bytes += chunk.length;
  assert.equal(bytes, expectedBytes);
  assert.equal(out.rowCount, 300000);
});

test('copyTo destroyed early: the rest is dropped, the connection usable', async () => {
  const out = c.copyTo('COPY wide TO STDOUT');
  for await (const chunk of out) {
    assert.ok(chunk.length > 0);
    break;
  }
  assert.ok(out.destroyed);
  assert.equal((await one(c, 'SELECT count(*)::int AS n FROM wide')).n, 300000);
});

test('pg_terminate_backend during a COPY: an error and a closed client', async () => {
  const admin = await connect(pg.conninfo);
  try {
    // COPY FROM STDIN: the writer keeps writing until the termination reaches it
    const victim = await connect(pg.conninfo);
    await victim.query('CREATE TABLE term_t (id int, t text)');
    const w = victim.copyFrom('COPY term_t FROM STDIN');
    let stop = false;
    const src = Readable.from(
      (async function* () {
        for (let i = 0; !stop; i++) {
          yield* rows(i * 1000, (i + 1) * 1000);
          await new Promise((r) => setImmediate(r));
        }
      })(),
    );
    const piped = pipeline(src, w);
    await new Promise((r) => setTimeout(r, 300));
    await admin.query('SELECT pg_terminate_backend($1)', [victim.processID]);
    await assert.rejects(piped, (e) => {
      assert.ok(e instanceof WasmpgError, String(e));
      assert.ok(e.code === '57P01' || e.kind === 'closed' || e.kind === 'io', `${e.kind} ${e.code} ${e.message}`);
      return true;
    });
    stop = true;
    assert.equal(victim.closed, true);
    await assert.rejects(victim.query('SELECT 1'), (e) => e.kind === 'closed');
    await victim.end();

    // COPY TO STDOUT, paused by its consumer
    const victim2 = await connect(pg.conninfo);
    const out = victim2.copyTo('COPY wide TO STDOUT');
    // the error may come while nobody reads: a listener from the start
    const failed = new Promise((resolveP) => out.on('error', resolveP));
    await new Promise((r) => out.once('readable', r));
    await admin.query('SELECT pg_terminate_backend($1)', [victim2.processID]);
    out.resume();
    const e2 = await failed;
    assert.ok(e2 instanceof WasmpgError && (e2.code === '57P01' || e2.kind === 'closed'), String(e2));
    assert.equal(victim2.closed, true);
    await victim2.end();
  } finally {
    await admin.end();
  }
});

test('Worker mode (cpuLimit): the same COPY in and out', async () => {
  const w = await connect(pg.conninfo, { cpuLimit: 5000 });
  try {
    await w.query('CREATE TABLE worker_t (id int PRIMARY KEY, t text NOT NULL)');
    const N = 100_000;
    const h = createHash('md5');
    for (const s of rows(0, N)) h.update(s, 'utf8');
    const into = w.copyFrom('COPY worker_t FROM STDIN');
    await pipeline(Readable.from(rows(0, N)), into);
    assert.equal(into.rowCount, N);
    const out = w.copyTo('COPY (SELECT * FROM worker_t ORDER BY id) TO STDOUT');
    const sink = hashing();
    await pipeline(out, sink.w);
    assert.equal(out.rowCount, N);
    assert.equal(sink.digest(), h.digest('hex'));
    const bad = w.copyFrom('COPY worker_t FROM STDIN');
    await assert.rejects(pipeline(Readable.from(['x\ty\n']), bad), (e) => e.code === '22P02');
    await assert.rejects(w.query('COPY worker_t TO STDOUT'), (e) => e.kind === 'usage');
    assert.equal((await one(w, 'SELECT count(*)::int AS n FROM worker_t')).n, N);
  } finally {
    await w.end();
  }
});
