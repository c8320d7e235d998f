// The Worker mode (the cpuLimit option): WorkerGuest answers as Guest does, large requests and
// results go through the shared buffer in chunks, a call past the CPU limit terminates the
// worker without blocking the event loop for long, a trap in the worker comes back as GuestTrap,
// close() ends the worker. No cluster needed: a tiny fake server makes the guest compute.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Guest, GuestTrap } from '../src/guest.js';
import { WorkerGuest } from '../src/worker.js';
import * as A from '../src/abi.js';
import { connect, WasmpgError, DatabaseError } from '../src/index.js';

const both = (request, ...guests) => guests.map((g) => g.call(request));

test('a WorkerGuest gives the same steps as a Guest', () => {
  const g = new Guest();
  const w = new WorkerGuest({ cpuLimit: 5000 });
  try {
    for (const req of [A.reqInit([]), A.reqParseConninfo([], 'host=h port=1 user=u dbname=d'), A.reqParseConninfo([], 'port=x')]) {
      const [a, b] = both(req, g, w);
      assert.deepEqual(A.decodeStep(b), A.decodeStep(a));
      assert.equal(b, a);
    }
    const parsed = A.decodeStep(w.call(A.reqParseConninfo([], 'host=h port=1 user=u dbname=d')));
    assert.deepEqual(parsed.events.find((e) => e.tag === 'I').targets[0], { kind: 'tcp', host: 'h', port: 1 });
  } finally {
    g.close();
    w.close();
  }
});

test('requests and results larger than the shared buffer go in chunks, characters intact', () => {
  const g = new Guest();
  const w = new WorkerGuest({ cpuLimit: 10000 });
  // A small buffer: many chunks each way, chunk boundaries inside multi-byte characters.
  const s = new WorkerGuest({ cpuLimit: 10000, bufferBytes: 4099 });
  try {
    // 3 MiB (and more) of request; the guest echoes the bad port number in its config error, so
    // the result is as large, with 2-, 3- and 4-byte UTF-8 sequences.
    const big = A.reqParseConninfo([], 'host=h port=x' + 'é€😀'.repeat(400_000));
    assert.ok(big.length > 3 << 20);
    const [a, b] = both(big, g, w);
    assert.ok(Buffer.byteLength(a) > 3 << 20, `result of ${Buffer.byteLength(a)} bytes`);
    assert.equal(b, a);
    const err = A.decodeStep(b).events.find((e) => e.tag === 'E');
    assert.equal(err.kind, 'config');
    assert.ok(err.message.endsWith('é€😀"'), err.message.slice(-20));

    for (const n of [1, 1000, 1365, 1366, 1367, 4099, 20_000]) {
      const req = A.reqParseConninfo([], 'port=y' + '😀é'.repeat(n));
      assert.equal(s.call(req), g.call(req), `n=${n}`);
    }
    // A large request with a small answer, and the instance still works afterwards.
    const longName = A.reqParseConninfo([], `host=h port=1 user=u dbname=d application_name=${'a'.repeat(5 << 20)}`);
    assert.equal(w.call(longName), g.call(longName));
    assert.equal(w.call(A.reqInit([])), g.call(A.reqInit([])));
  } finally {
    g.close();
    w.close();
    s.close();
  }
});

/** A fake PostgreSQL server that asks for SCRAM-SHA-256 with `iterations()` iterations, then
 * answers the client's proof with an authentication failure. */
async function scramServer(iterations) {
  const seen = { startups: 0, finals: [] };
  const sockets = new Set();
  const msg = (type, body) => {
    const head = Buffer.alloc(5);
    head.write(type, 0, 'latin1');
    head.writeInt32BE(body.length + 4, 1);
    return Buffer.concat([head, body]);
  };
  const int32 = (n) => {
    const b = Buffer.alloc(4);
    b.writeInt32BE(n);
    return b;
  };
  const server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    let buf = Buffer.alloc(0);
    let started = false;
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        if (!started) {
          if (buf.length < 4 || buf.length < buf.readInt32BE(0)) return;
          const len = buf.readInt32BE(0);
          const code = buf.readInt32BE(4);
          buf = buf.subarray(len);
          if (code === 80877103 || code === 80877104) {
            sock.write('N'); // no SSL, no GSS encryption
            continue;
          }
          assert.equal(code, 196608);
          started = true;
          seen.startups++;
          sock.write(msg('R', Buffer.concat([int32(10), Buffer.from('SCRAM-SHA-256\0\0')])));
          continue;
        }
        if (buf.length < 5 || buf.length < 1 + buf.readInt32BE(1)) return;
        const type = String.fromCharCode(buf[0]);
        const body = buf.subarray(5, 1 + buf.readInt32BE(1));
        buf = buf.subarray(1 + buf.readInt32BE(1));
        if (type !== 'p') continue;
        const text = body.toString('latin1');
        if (text.startsWith('SCRAM-SHA-256\0')) {
          const n = body.readInt32BE(14);
          const first = body.subarray(18, 18 + n).toString();
          const nonce = /(?:^|,)r=([^,]*)/.exec(first)[1];
          const salt = Buffer.from('0123456789abcdef').toString('base64');
          const serverFirst = `r=${nonce}SERVERNONCE,s=${salt},i=${iterations()}`;
          sock.write(msg('R', Buffer.concat([int32(11), Buffer.from(serverFirst)])));
        } else {
          seen.finals.push(text);
          sock.end(msg('E', Buffer.from('SFATAL\0C28P01\0Mpassword authentication failed for user "u"\0\0')));
        }
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: /** @type {any} */ (server.address()).port,
    seen,
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

test('a guest past its CPU limit is terminated; the event loop stays responsive', async () => {
  let iterations = 10_000_000;
  const srv = await scramServer(() => iterations);
  const conninfo = `host=127.0.0.1 port=${srv.port} user=u dbname=d password=p`;
  let ticks = 0;
  let last = performance.now();
  let maxGap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
    ticks++;
  }, 5);
  try {
    // Let the interval settle, then try.
    await new Promise((r) => setTimeout(r, 50));
    ticks = 0;
    maxGap = 0;
    last = performance.now();
    const t0 = performance.now();
    await assert.rejects(connect(conninfo, { cpuLimit: 200 }), (e) => {
      assert.ok(e instanceof GuestTrap, String(e));
      assert.equal(e.kind, 'trap');
      assert.match(e.message, /CPU limit of 200 ms per call/);
      return true;
    });
    const elapsed = performance.now() - t0;
    const ticksDuring = ticks;
    await new Promise((r) => setTimeout(r, 50));
    if (process.env.WORKER_TEST_VERBOSE) console.log({ elapsed, ticksDuring, ticks, maxGap });
    assert.ok(elapsed < 5000, `took ${elapsed} ms`);
    assert.ok(elapsed >= 200, `took ${elapsed} ms, less than the limit`);
    assert.equal(srv.seen.startups, 1);
    assert.equal(srv.seen.finals.length, 0, 'the guest cannot have finished 10M iterations');
    // Each call blocks the loop (it is synchronous), but at most for its limit: the loop ran
    // between the steps and right after, and no stall came near the PBKDF2 time (seconds).
    assert.ok(ticksDuring >= 1, `the interval ticked ${ticksDuring} times during the attempt`);
    assert.ok(ticks >= ticksDuring + 3, `the interval ticked ${ticks - ticksDuring} times after it`);
    assert.ok(maxGap < 1500, `the event loop was blocked for ${maxGap} ms at once`);

    // A new worker-backed session works after the other worker was terminated: it computes the
    // proof for a small iteration count and reaches the server's authentication verdict.
    iterations = 4096;
    await assert.rejects(connect(conninfo, { cpuLimit: 2000 }), (e) => {
      assert.ok(e instanceof DatabaseError, String(e));
      assert.equal(e.code, '28P01');
      return true;
    });
    assert.equal(srv.seen.finals.length, 1);
    assert.match(srv.seen.finals[0], /^c=biws,r=[^,]+SERVERNONCE,p=[A-Za-z0-9+/]+=*$/);

    const fresh = new WorkerGuest({ cpuLimit: 1000 });
    assert.equal(fresh.call(A.reqInit([])), new Guest().call(A.reqInit([])));
    fresh.close();
  } finally {
    clearInterval(timer);
    srv.close();
  }
});

test('a CPU-limited call traps once and the instance stays dead', () => {
  const w = new WorkerGuest({ cpuLimit: 1 });
  // 64 MiB of request over 1 MiB chunks cannot arrive within 1 ms.
  const req = A.reqParseConninfo([], `application_name=${'a'.repeat(64 << 20)}`);
  assert.throws(() => w.call(req), (e) => e instanceof GuestTrap && e.kind === 'trap' && /CPU limit of 1 ms/.test(e.message));
  assert.equal(w.dead, true);
  assert.throws(() => w.call(A.reqInit([])), (e) => e instanceof GuestTrap && e.kind === 'trap');
});

test("a trap in the worker comes back as GuestTrap with the guest's message", () => {
  const mem = 4 << 20;
  const req = A.reqParseConninfo([], `application_name=${'a'.repeat(8 << 20)}`);
  const g = new Guest({ memoryLimit: mem });
  let plain;
  assert.throws(() => g.call(req), (e) => {
    plain = e.message;
    return e instanceof GuestTrap;
  });
  const w = new WorkerGuest({ memoryLimit: mem, cpuLimit: 10000 });
  assert.throws(() => w.call(req), (e) => {
    assert.ok(e instanceof GuestTrap, String(e));
    assert.equal(e.kind, 'trap');
    assert.match(e.message, /^the guest trapped: /);
    assert.equal(e.message, plain);
    return true;
  });
  assert.equal(w.dead, true);
  assert.throws(() => w.call(A.reqInit([])), (e) => e instanceof GuestTrap && e.kind === 'trap');
});

test('close() terminates the worker; call() after it throws GuestTrap', async () => {
  const w = new WorkerGuest({ cpuLimit: 1000 });
  assert.equal(w.dead, false);
  w.call(A.reqInit([]));
  const worker = w._worker;
  const exited = once(worker, 'exit');
  w.close();
  assert.equal(w.dead, true);
  await exited;
  assert.throws(() => w.call(A.reqInit([])), (e) => e instanceof GuestTrap && e.kind === 'trap');
  w.close(); // idempotent
});

test('an open WorkerGuest does not keep the process alive', () => {
  const url = new URL('../src/worker.js', import.meta.url).href;
  const code = `import(${JSON.stringify(url)}).then((m) => { globalThis.g = new m.WorkerGuest({ cpuLimit: 100 }); console.log(g.dead); });`;
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 10000 });
  assert.equal(r.signal, null, 'the child had to be killed');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'false');
});

test('cpuLimit must be a positive finite number', async () => {
  for (const bad of [0, -1, NaN, Infinity, '100', true]) {
    assert.throws(() => new WorkerGuest({ cpuLimit: /** @type {any} */ (bad) }), (e) => e instanceof WasmpgError && e.kind === 'config', String(bad));
    await assert.rejects(connect('host=127.0.0.1 port=1 user=u dbname=d', { cpuLimit: bad }), (e) => e instanceof WasmpgError && e.kind === 'config');
  }
  assert.throws(() => new WorkerGuest({ cpuLimit: 100, memoryLimit: 1000 }), RangeError);
});

test('a call that is slow without computing is not terminated where CPU time can be read', (t) => {
  let linux = true;
  try {
    readFileSync('/proc/thread-self/stat');
  } catch {
    linux = false;
  }
  // A worker that sleeps 300 ms before each call, under a 30 ms limit: on Linux the call is
  // waited for (its thread used no CPU time); elsewhere the wall-clock deadline decides.
  const w = new WorkerGuest({ cpuLimit: 30, stallMs: 300 });
  try {
    const t0 = performance.now();
    if (!linux) {
      assert.throws(() => w.call(A.reqInit([])), (e) => e instanceof GuestTrap);
      t.skip('no /proc/thread-self: the limit is wall-clock time');
      return;
    }
    assert.equal(w.call(A.reqInit([])), new Guest().call(A.reqInit([])));
    const elapsed = performance.now() - t0;
    assert.ok(elapsed >= 290, `answered after ${elapsed} ms, before the stall ended`);
    assert.equal(w.dead, false);
  } finally {
    w.close();
  }
});
