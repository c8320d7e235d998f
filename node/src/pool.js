// A pool of connections to one conninfo, shaped like node-postgres's Pool: `query()` borrows a
// connection for one request; `connect()` hands one out until `release()`. A connection given
// back inside a transaction is rolled back first; one given back broken (or with an error) is
// ended instead of reused.
import { EventEmitter } from 'node:events';
import { connect } from './connection.js';
import { WasmpgError } from './errors.js';

export class Pool extends EventEmitter {
  /**
   * @param {string} conninfo
   * @param {{ max?: number, idleTimeoutMillis?: number } & Record<string, any>} [options]
   */
  constructor(conninfo, options = {}) {
    super();
    const { max = 10, idleTimeoutMillis = 10000, ...connectOptions } = options;
    if (!Number.isInteger(max) || max < 1) throw new WasmpgError('max must be a positive integer', { kind: 'config' });
    this.conninfo = conninfo;
    this.max = max;
    this.idleTimeoutMillis = idleTimeoutMillis;
    this.connectOptions = connectOptions;
    /** @type {Array<{ conn: any, timer: NodeJS.Timeout | null }>} */
    this._idle = [];
    /** @type {Array<{ resolve: (c: any) => void, reject: (e: unknown) => void }>} */
    this._waiting = [];
    this._count = 0;
    this._ended = false;
  }

  get totalCount() {
    return this._count;
  }
  get idleCount() {
    return this._idle.length;
  }
  get waitingCount() {
    return this._waiting.length;
  }

  /** A connection for the caller alone until it calls `release()`. */
  async connect() {
    if (this._ended) throw new WasmpgError('the pool was ended', { kind: 'closed' });
    let idle = this._idle.pop();
    // An idle connection whose server went away (restart, idle timeout, terminate) is dropped
    // here, not handed out to fail the caller's first query.
    while (idle && idle.conn.closed) {
      if (idle.timer) clearTimeout(idle.timer);
      this._count--;
      void idle.conn.end().catch(() => undefined);
      idle = this._idle.pop();
    }
    if (idle) {
      if (idle.timer) clearTimeout(idle.timer);
      idle.conn._reacquire();
      return idle.conn;
    }
    if (this._count < this.max) {
      this._count++;
      try {
        const conn = await connect(this.conninfo, this.connectOptions);
        let released = false;
        conn.release = (err) => {
          if (released) throw new WasmpgError('release() called twice', { kind: 'usage' });
          released = true;
          void this._giveBack(conn, err);
        };
        conn._reacquire = () => {
          released = false;
        };
        this.emit('connect', conn);
        return conn;
      } catch (e) {
        this._count--;
        this._wakeOne();
        throw e;
      }
    }
    return new Promise((resolve, reject) => this._waiting.push({ resolve, reject })).then((conn) => {
      /** @type {any} */ (conn)._reacquire?.();
      return conn;
    });
  }

  async _giveBack(conn, err) {
    let reusable = !err && !conn.closed && !this._ended;
    if (reusable && conn.transactionStatus !== 'idle') {
      try {
        await conn.query('ROLLBACK');
      } catch {
        reusable = false;
      }
    }
    if (!reusable) {
      this._count--;
      await conn.end().catch(() => undefined);
      this._wakeOne();
      return;
    }
    const waiter = this._waiting.shift();
    if (waiter) {
      waiter.resolve(conn);
      return;
    }
    const entry = { conn, timer: /** @type {NodeJS.Timeout | null} */ (null) };
    if (this.idleTimeoutMillis > 0) {
      entry.timer = setTimeout(() => {
        const i = this._idle.indexOf(entry);
        if (i >= 0) {
          this._idle.splice(i, 1);
          this._count--;
          void conn.end().catch(() => undefined);
        }
      }, this.idleTimeoutMillis);
      entry.timer.unref();
    }
    this._idle.push(entry);
  }

  _wakeOne() {
    const waiter = this._waiting.shift();
    if (waiter) this.connect().then(waiter.resolve, waiter.reject);
  }

  /** One request on a borrowed connection. */
  async query(text, values, options) {
    const conn = await this.connect();
    try {
      const r = await conn.query(text, values, options);
      conn.release();
      return r;
    } catch (e) {
      conn.release(conn.closed ? e : undefined);
      throw e;
    }
  }

  /** Ends every idle connection now and the others when they are released. */
  async end() {
    this._ended = true;
    for (const w of this._waiting.splice(0)) w.reject(new WasmpgError('the pool was ended', { kind: 'closed' }));
    const idle = this._idle.splice(0);
    this._count -= idle.length;
    await Promise.all(
      idle.map((e) => {
        if (e.timer) clearTimeout(e.timer);
        return e.conn.end().catch(() => undefined);
      }),
    );
  }
}
