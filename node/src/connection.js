// A connection: node-postgres-shaped results over one session (src/session.js). Requests on one
// connection run one at a time, in the order they were made (a promise queue, as node-postgres
// queues queries); a stream holds the connection until it is consumed or closed.
import { EventEmitter } from 'node:events';
import { Session, Sink } from './session.js';
import * as A from './abi.js';
import { converterFor, adaptRows } from './rows.js';
import { WasmpgError } from './errors.js';
import { CopyFromStream, CopyToStream } from './copy.js';

/**
 * @typedef {{ command: string | null, rowCount: number | bigint | null, rows: any[],
 *   fields: import('./abi.js').Column[] }} Result
 */

/** Collects the results of one request. */
class Collector extends Sink {
  constructor(types, rowMode) {
    super();
    this.types = types;
    this.rowMode = rowMode;
    /** @type {Result[]} */
    this.results = [];
    this.current = null;
    this.convert = null;
  }
  _open() {
    if (this.current === null) {
      this.current = { command: null, rowCount: null, rows: [], fields: [] };
      this.results.push(this.current);
    }
    return this.current;
  }
  columns(cols) {
    const r = this._open();
    r.fields = cols;
    this.convert = converterFor(cols, this.types, this.rowMode);
  }
  rows(ev) {
    const r = this._open();
    this._convert(ev, r.rows);
  }
  /** Converts a batch; a value the type's loader refuses fails the request (kind 'decode') and
   * the rest of the result is read and dropped, so the connection stays usable. */
  _convert(ev, out) {
    if (this.convert === null) {
      if (this.error === null) this.fail(new WasmpgError('rows without their columns', { kind: 'protocol' }));
      return;
    }
    try {
      this.convert(ev.batch, ev.escaped, out);
    } catch (e) {
      this.fail(e instanceof WasmpgError ? e : new WasmpgError(`cannot convert a value of the result: ${e?.message ?? e}`, { kind: 'decode', cause: e }));
      this.convert = () => {};
    }
  }
  complete(command, rowCount) {
    const r = this._open();
    r.command = command.split(' ')[0];
    r.rowCount = rowCount;
    this.current = null;
    this.convert = null;
  }
  empty() {
    this._open();
    this.current = null;
  }
}

/** A streamed result: rows are handed out as they arrive; the socket is read only when the
 * consumer asks for more. */
class StreamSink extends Collector {
  constructor(types, rowMode) {
    super(types, rowMode);
    this.buffer = [];
    this.fields = null;
  }
  columns(cols) {
    this.fields = cols;
    this.convert = converterFor(cols, this.types, this.rowMode);
  }
  rows(ev) {
    this._convert(ev, this.buffer);
  }
  complete(command, rowCount) {
    this.command = command;
    this.rowCount = rowCount;
  }
  hasRows() {
    return this.buffer.length > 0;
  }
}

function normalize(textOrConfig, values, options) {
  if (typeof textOrConfig === 'object' && textOrConfig !== null) {
    return { text: textOrConfig.text, values: textOrConfig.values ?? values, rowMode: textOrConfig.rowMode ?? options?.rowMode };
  }
  return { text: textOrConfig, values, rowMode: options?.rowMode };
}

export class Connection extends EventEmitter {
  /** @param {Session} session @param {any} options */
  constructor(session, options) {
    super();
    this._session = session;
    this._types = options.types;
    this._rowMode = options.rowMode ?? 'object';
    /** @type {Promise<unknown>} */
    this._queue = Promise.resolve();
    /** Requests queued or running. */
    this._depth = 0;
    this._settle = () => {
      this._depth--;
    };
    this._ended = false;
    session.onNotice = (fields) => this.emit('notice', Object.assign(new Error(fields.message ?? ''), fields));
    session.onNotification = (n) => this.emit('notification', n);
    // The session ended while idle (the server shut down, terminated it, or closed the socket):
    // an 'error' event where someone listens (as node-postgres), never an unhandled one.
    session.onIdleError = (e) => {
      if (this.listenerCount('error') > 0) this.emit('error', e);
    };
  }

  /** The backend's process id. */
  get processID() {
    return this._session.processID;
  }
  /** Run-time parameters the server reported (server_version, TimeZone, ...). */
  get parameters() {
    return { ...this._session.parameters };
  }
  /** 'idle', 'in-transaction' or 'failed'. */
  get transactionStatus() {
    return this._session.txStatus;
  }
  /** True once the session ended, or the server closed the socket (noticed without a request). */
  get closed() {
    return this._session.closed || this._session.io.eof;
  }

  _enqueue(fn) {
    // With nothing queued the request starts at once (no promise hop); otherwise after the
    // last queued one settles, whatever its outcome.
    const run = this._depth === 0 ? fn() : this._queue.then(fn, fn);
    this._depth++;
    const settled = run.then(this._settle, this._settle);
    this._queue = settled;
    return run;
  }

  _check() {
    if (this._ended) throw new WasmpgError('the connection was ended', { kind: 'closed' });
  }

  /**
   * Runs SQL. Without parameters it uses the simple protocol (several statements allowed: then
   * the result is an array of results, as node-postgres does); with parameters, the extended
   * protocol in one round trip (prepared and cached by the guest).
   * @returns {Promise<Result | Result[]>}
   */
  query(textOrConfig, values, options) {
    const q = normalize(textOrConfig, values, options);
    return this._enqueue(async () => {
      this._check();
      if (typeof q.text !== 'string') throw new WasmpgError('the query text must be a string', { kind: 'usage' });
      const sink = new Collector(this._types, q.rowMode ?? this._rowMode);
      let req;
      if (q.values === undefined) {
        req = A.reqSimpleQuery(q.text);
      } else {
        if (!Array.isArray(q.values)) throw new WasmpgError('query values must be an array', { kind: 'usage' });
        const [oids, params] = adaptRows([q.values]);
        req = A.reqQuery(oids, params, q.text);
      }
      await this._session.request(req, sink);
      if (sink.error) throw sink.error;
      const results = sink.results;
      if (results.length === 0) return { command: null, rowCount: null, rows: [], fields: [] };
      return results.length === 1 ? results[0] : results;
    });
  }

  /**
   * One statement executed once per parameter row, in one round trip (all executions pipelined
   * before one Sync): one result whose rowCount is the sum and whose rows are every row returned.
   * @param {string} text @param {unknown[][]} rows
   */
  queryMany(text, rows, options) {
    return this._enqueue(async () => {
      this._check();
      if (!Array.isArray(rows)) throw new WasmpgError('queryMany takes an array of parameter arrays', { kind: 'usage' });
      if (rows.length === 0) return { command: null, rowCount: 0, rows: [], fields: [] };
      const [oids, params] = adaptRows(rows);
      const sink = new Collector(this._types, options?.rowMode ?? this._rowMode);
      await this._session.request(A.reqQuery(oids, params, text), sink);
      if (sink.error) throw sink.error;
      const out = { command: null, rowCount: 0, rows: [], fields: [] };
      for (const r of sink.results) {
        out.command = r.command;
        out.fields = r.fields;
        if (r.rowCount !== null) out.rowCount = typeof r.rowCount === 'bigint' || typeof out.rowCount === 'bigint' ? BigInt(out.rowCount) + BigInt(r.rowCount) : out.rowCount + r.rowCount;
        for (const row of r.rows) out.rows.push(row);
      }
      return out;
    });
  }

  /**
   * Rows as an async iterator, read from the socket only as fast as they are consumed. The
   * connection runs nothing else until the iteration ends; breaking out of it reads and
   * discards the rest of the result.
   */
  stream(textOrConfig, values, options) {
    const q = normalize(textOrConfig, values, options);
    const conn = this;
    let release;
    const held = new Promise((r) => (release = r));
    /** @type {Promise<StreamSink>} */
    let started;
    const start = () => {
      started ??= new Promise((resolveStart, rejectStart) => {
        conn._enqueue(async () => {
          try {
            conn._check();
            const sink = new StreamSink(conn._types, q.rowMode ?? conn._rowMode);
            const req = q.values === undefined ? A.reqSimpleQuery(q.text) : A.reqQuery(...adaptRows([q.values]), q.text);
            await conn._session.request(req, sink, true);
            resolveStart(sink);
          } catch (e) {
            rejectStart(e);
            release();
          }
          await held;
        });
      });
      return started;
    };
    const finish = async () => {
      try {
        await conn._session.drain();
      } finally {
        release();
      }
    };
    return {
      [Symbol.asyncIterator]() {
        let done = false;
        return {
          async next() {
            if (done) return { done: true, value: undefined };
            const sink = await start();
            for (;;) {
              if (sink.buffer.length) return { done: false, value: sink.buffer.shift() };
              if (sink.error) {
                done = true;
                await finish();
                throw sink.error;
              }
              if (!conn._session.busy()) {
                done = true;
                release();
                return { done: true, value: undefined };
              }
              try {
                await conn._session.resume(sink);
              } catch (e) {
                done = true;
                release();
                throw e;
              }
            }
          },
          async return() {
            if (!done) {
              done = true;
              if (started) {
                await started.catch(() => undefined);
                await finish();
              }
            }
            return { done: true, value: undefined };
          },
        };
      },
    };
  }

  /**
   * COPY ... FROM STDIN as a Writable (pg-copy-streams' `from`): Buffers or strings written
   * to it are the COPY's data; 'finish' comes once the server completed it, and then
   * `stream.rowCount` is its row count. A server error destroys the stream with it;
   * `destroy(err)` aborts the COPY (CopyFail). Queued behind the connection's other requests.
   * @param {string} sql
   */
  copyFrom(sql) {
    return new CopyFromStream(this, sql);
  }

  /**
   * COPY ... TO STDOUT as a Readable of Buffers (pg-copy-streams' `to`), read from the socket
   * only as fast as it is consumed; `stream.rowCount` is set when it ends.
   * @param {string} sql
   */
  copyTo(sql) {
    return new CopyToStream(this, sql);
  }

  /** Cancels the statement running now (a CancelRequest from a fresh guest instance); the
   * statement then fails with SQLSTATE 57014. Not queued: it is meant to run meanwhile. */
  cancel() {
    return this._session.cancel();
  }

  /** Ends the session (Terminate) once the queued requests are done. */
  end() {
    if (this._ended) return this._queue.then(() => undefined);
    return this._enqueue(async () => {
      this._ended = true;
      await this._session.terminate();
      this.emit('end');
    });
  }
}

/**
 * Opens a connection.
 * @param {string} conninfo libpq keyword/value or URI
 * @param {any} [options]
 */
export async function connect(conninfo, options = {}) {
  if (typeof conninfo !== 'string') throw new WasmpgError('conninfo must be a string', { kind: 'usage' });
  const session = new Session(conninfo, options);
  await session.start();
  return new Connection(session, options);
}
