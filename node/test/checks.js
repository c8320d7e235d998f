// Assertions that several test files make about a connection, written once.
import assert from 'node:assert/strict';
import { DatabaseError } from '../src/index.js';

/** `cancel()` stops a running pg_sleep with 57014 within 5 s, and the session stays usable. */
export async function assertCancelStopsASleep(d) {
  const running = d.query('SELECT pg_sleep(30)');
  await new Promise((r) => setTimeout(r, 300));
  const t0 = Date.now();
  await d.cancel();
  await assert.rejects(running, (e) => e instanceof DatabaseError && e.code === '57014');
  assert.ok(Date.now() - t0 < 5000);
  assert.equal((await d.query('SELECT 1 AS one')).rows[0].one, 1);
}
