// COPY as Node streams, in pg-copy-streams' shape: `copyFrom(sql)` is a Writable whose data goes
// to the guest as `D` requests (COPY FROM STDIN), `copyTo(sql)` a Readable of the `D` events'
// bytes (COPY TO STDOUT). Each holds its connection's queue from its start until it ended (or
// was destroyed and the connection brought back to ReadyForQuery).
//
// copyFrom: small writes are coalesced (up to 64 KiB) before they go to the guest; a write waits
// while the socket's write buffer is full. Server bytes that arrive meanwhile are fed to the
// guest as they come (Session.copyInData): an error ends the copy early and destroys the stream
// with it. end() sends CopyDone and 'finish' follows CommandComplete and ReadyForQuery (then
// `rowCount` is set); destroy(err) before that sends CopyFail with err's message: the server
// aborts the COPY (nothing is inserted) and the connection stays usable.
//
// copyTo: the socket is read only when the consumer asks for more (_read), as Connection.stream
// reads rows, so a paused consumer keeps memory bounded (TCP backpressure). Destroying it early
// reads and discards the rest of the output.
import { Readable, Writable } from 'node:stream';
import { Sink } from './session.js';
import * as A from './abi.js';
import { WasmpgError } from './errors.js';

/** Writes are coalesced until this many bytes wait. */
const COALESCE_BYTES = 64 << 10;
/** The most data one `D` request carries. */
const MAX_REQUEST_BYTES = 256 << 10;

class CopyInSink extends Sink {
  constructor() {
    super();
    this.started = false;
    /** @type {number | bigint | null} */
    this.rowCount = null;
  }
  copyIn(ev) {
    if (ev !== null) this.started = true;
  }
  copyOut(_ev) {
    this.fail(new WasmpgError('copyFrom() takes a COPY ... FROM STDIN statement; COPY ... TO STDOUT goes through copyTo()', { kind: 'usage' }));
  }
  complete(command, rowCount) {
    if (command.startsWith('COPY')) this.rowCount = rowCount;
  }
  acceptsCopyIn() {
    return true;
  }
}

class CopyOutSink extends Sink {
  constructor() {
    super();
    this.started = false;
    /** @type {Buffer[]} */
    this.chunks = [];
    /** @type {number | bigint | null} */
    this.rowCount = null;
  }
  copyIn(_ev) {
    this.fail(new WasmpgError('copyTo() takes a COPY ... TO STDOUT statement; COPY ... FROM STDIN goes through copyFrom()', { kind: 'usage' }));
  }
  copyOut(_ev) {
    this.started = true;
  }
  copyData(ev) {
    const data = ev.escaped ? A.unescape(ev.data) : ev.data;
    this.chunks.push(Buffer.from(data, ev.encoding === 'l' ? 'latin1' : 'utf8'));
  }
  complete(command, rowCount) {
    if (command.startsWith('COPY')) this.rowCount = rowCount;
  }
  hasRows() {
    return this.chunks.length > 0;
  }
}

function checkSql(sql, what) {
  if (typeof sql !== 'string') throw new WasmpgError(`${what} takes the COPY statement as a string`, { kind: 'usage' });
}

/** Queues a copy stream's request in the connection's queue at once (at the stream's creation,
 * so requests made after it run after it) and holds the queue until `release` is called.
 * `begin` runs when the request's turn comes; `started` settles with its outcome (the stream's
 * _construct waits for it). */
function hold(conn, begin) {
  /** @type {() => void} */
  let release = () => {};
  const held = new Promise((r) => (release = () => r(undefined)));
  /** @type {(e?: unknown) => void} */
  let settle = () => {};
  /** @type {Promise<unknown>} */
  const started = new Promise((r) => (settle = r));
  conn._enqueue(async () => {
    try {
      conn._check();
      await begin();
    } catch (e) {
      release();
      settle(e);
      return;
    }
    settle(undefined);
    await held;
  });
  return { release: () => release(), started };
}

export class CopyFromStream extends Writable {
  /** @param {any} conn the Connection @param {string} sql */
  constructor(conn, sql) {
    super({ highWaterMark: COALESCE_BYTES });
    /** The COPY's row count, once the stream finished. @type {number | bigint | null} */
    this.rowCount = null;
    this._conn = conn;
    this._session = conn._session;
    this._sql = sql;
    this._sink = new CopyInSink();
    /** @type {Buffer[]} */
    this._pending = [];
    this._pendingBytes = 0;
    /** @type {(() => void) | null} */
    this._release = null;
    /** @type {Promise<void> | null} */
    this._ending = null;
    const s = this._session;
    const { release, started } = hold(conn, async () => {
      checkSql(sql, 'copyFrom()');
      await s.request(A.reqSimpleQuery(sql), this._sink);
      if (s.action !== 'i') {
        // Not a COPY FROM STDIN (or it failed at once): the request already ran to its end.
        throw this._sink.error ?? new WasmpgError('copyFrom() takes a COPY ... FROM STDIN statement', { kind: 'usage' });
      }
      s.onCopyEnded = () => this._serverEnded();
    });
    this._release = release;
    this._started = started;
  }

  _construct(cb) {
    void this._started.then(cb);
  }

  /** Ours while the session runs this stream's request. */
  _mine() {
    return this._session.sink === this._sink;
  }

  /** The server ended the COPY (an error) while the stream waited for data. */
  _serverEnded() {
    this._session.onCopyEnded = () => {};
    void this._finish().then(() => {
      if (!this.destroyed && !this._finalizing) this.destroy(this._sink.error ?? new WasmpgError('the server ended the COPY early', { kind: 'protocol' }));
    });
  }

  /** Runs the request to its end (ReadyForQuery, or the session's end); once. */
  _finish() {
    this._ending ??= (async () => {
      const s = this._session;
      s.onCopyEnded = () => {};
      try {
        for (;;) {
          if (!this._mine()) return;
          await s.run(this._sink, false);
          if (s.action !== 'i') return;
          // A second COPY FROM STDIN in the same statement string.
          this._sink.fail(new WasmpgError('copyFrom() runs one COPY ... FROM STDIN statement', { kind: 'usage' }));
          s.copySend(A.reqCopyFail('copyFrom() runs one COPY FROM STDIN statement'));
        }
      } catch (e) {
        this._sink.fail(/** @type {Error} */ (e));
      }
    })();
    return this._ending;
  }

  _ended(cb) {
    void this._finish().then(() => cb(this._sink.error ?? new WasmpgError('the server ended the COPY early', { kind: 'protocol' })));
  }

  /** Sends the coalesced data; false when the server ended the COPY (nothing more is sent). */
  _flush() {
    const total = this._pendingBytes;
    const parts = this._pending;
    this._pending = [];
    this._pendingBytes = 0;
    const s = this._session;
    if (!this._mine()) return false;
    if (total === 0) {
      try {
        s.pumpCopyIn();
      } catch (e) {
        this._sink.fail(/** @type {Error} */ (e));
      }
      return s.action === 'i';
    }
    const buf = parts.length === 1 ? parts[0] : Buffer.concat(parts, total);
    for (let at = 0; at < total; at += MAX_REQUEST_BYTES) {
      if (!s.copySend(A.reqCopyData(buf.subarray(at, Math.min(total, at + MAX_REQUEST_BYTES))))) return false;
    }
    return true;
  }

  _send(cb) {
    if (this._pendingBytes < COALESCE_BYTES) {
      cb();
      return;
    }
    if (!this._flush()) {
      this._ended(cb);
      return;
    }
    // The next write waits for the socket to take more, and in any case for one turn of the
    // event loop: a writer that never yields (a synchronous source) would otherwise keep the
    // server's bytes (an error) from being read until it is done.
    const after = () => {
      if (this._session.action === 'i') cb();
      else this._ended(cb);
    };
    const w = this._session.io.whenDrained();
    if (w === null) setImmediate(after);
    else void w.then(after);
  }

  _write(chunk, _encoding, cb) {
    this._pending.push(chunk);
    this._pendingBytes += chunk.length;
    this._send(cb);
  }

  _writev(chunks, cb) {
    for (const { chunk } of chunks) {
      this._pending.push(chunk);
      this._pendingBytes += chunk.length;
    }
    this._send(cb);
  }

  _final(cb) {
    this._finalizing = true;
    if (this._flush()) this._session.copySend(A.REQ_COPY_DONE);
    void this._finish().then(() => {
      const err = this._sink.error;
      if (err) {
        cb(err);
        return;
      }
      this.rowCount = this._sink.rowCount;
      this._release?.();
      cb();
    });
  }

  _destroy(err, cb) {
    const s = this._session;
    const done = () => {
      this._release?.();
      cb(err);
    };
    if (this._release === null || !this._mine()) {
      done();
      return;
    }
    this._pending = [];
    this._pendingBytes = 0;
    if (s.action === 'i') {
      const reason = (err && typeof err.message === 'string' && err.message) || 'the COPY was aborted by the client';
      s.copySend(A.reqCopyFail(reason));
    }
    if (s.busy()) void this._finish().then(done);
    else done();
  }
}

export class CopyToStream extends Readable {
  /** @param {any} conn the Connection @param {string} sql */
  constructor(conn, sql) {
    super();
    /** The COPY's row count, once the stream ended. @type {number | bigint | null} */
    this.rowCount = null;
    this._conn = conn;
    this._session = conn._session;
    this._sql = sql;
    this._sink = new CopyOutSink();
    /** @type {(() => void) | null} */
    this._release = null;
    /** @type {Promise<void> | null} */
    this._pumping = null;
    this._active = false;
    this._wanted = false;
    this._done = false;
    const s = this._session;
    const { release, started } = hold(conn, async () => {
      checkSql(sql, 'copyTo()');
      await s.request(A.reqSimpleQuery(sql), this._sink, true);
    });
    this._release = release;
    this._started = started;
  }

  _construct(cb) {
    void this._started.then(cb);
  }

  _mine() {
    return this._session.sink === this._sink;
  }

  _read() {
    // Asked again while the pump runs (a push that made the consumer read synchronously): the
    // pump goes on instead of stopping at a full buffer, since Node waits for a push now.
    if (this._active) {
      this._wanted = true;
      return;
    }
    this._pumping = this._pump();
  }

  /** Hands out the data read so far; reads more (one socket chunk at a time) only while the
   * consumer wants it. */
  async _pump() {
    const s = this._session;
    const sink = this._sink;
    this._active = true;
    try {
      for (;;) {
        this._wanted = false;
        let more = true;
        while (more && sink.chunks.length) {
          if (this.destroyed) return;
          more = this.push(sink.chunks.shift());
        }
        if (this.destroyed) return;
        if (!more && !this._wanted) return;
        if (sink.chunks.length) continue;
        if (sink.error || !this._mine() || !s.busy()) break;
        await s.resume(sink);
      }
    } catch (e) {
      sink.fail(/** @type {Error} */ (e));
    } finally {
      if (!this._done) this._active = false;
    }
    // The end: _read does nothing any more.
    this._done = true;
    this._active = true;
    if (sink.error) {
      if (this._mine() && s.busy()) await s.drain().catch(() => undefined);
      this._release?.();
      this.destroy(sink.error);
      return;
    }
    if (!sink.started) {
      this._release?.();
      this.destroy(new WasmpgError('copyTo() takes a COPY ... TO STDOUT statement', { kind: 'usage' }));
      return;
    }
    this.rowCount = sink.rowCount;
    this._release?.();
    this.push(null);
  }

  _destroy(err, cb) {
    const done = () => {
      this._release?.();
      cb(err);
    };
    void Promise.resolve(this._pumping)
      .then(async () => {
        // Destroyed before the end: the rest of the output is read and dropped, so the
        // connection stays usable.
        if (this._release !== null && this._mine() && this._session.busy()) await this._session.drain();
      })
      .catch(() => undefined)
      .then(done);
  }
}
