// The socket of a session: connecting (TCP or Unix) with the errors the contract names, reading
// with TCP backpressure (the socket is paused while read chunks wait unconsumed), a deadline
// for the connection attempt, an optional read timeout, and the TCP keepalives the guest asks
// for.
import { connect as netConnect } from 'node:net';
import { lookup } from 'node:dns/promises';
import { describe } from './policy.js';
import { WasmpgError } from './errors.js';

function splitAddr(addr) {
  const colon = addr.lastIndexOf(':');
  let host = addr.slice(0, colon);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return [host, Number(addr.slice(colon + 1))];
}

/** Connects one socket; resolves with it or rejects with the socket's error / 'timeout'. */
function connectSocket(options, timeoutMs) {
  return new Promise((resolveP, rejectP) => {
    const s = netConnect(options);
    let timer = null;
    const done = (err) => {
      if (timer) clearTimeout(timer);
      s.removeListener('error', onError);
      s.removeListener('connect', onConnect);
      if (err) {
        s.destroy();
        rejectP(err);
      } else {
        resolveP(s);
      }
    };
    const onError = (e) => done(e);
    const onConnect = () => done(null);
    s.once('error', onError);
    s.once('connect', onConnect);
    if (timeoutMs != null) {
      timer = setTimeout(() => done(Object.assign(new Error('timeout'), { code: 'WASMPG_TIMEOUT' })), Math.max(0, timeoutMs));
    }
  });
}

/**
 * Sets TCP keepalives on a connected socket as an `o` action asked (libpq's `keepalives*`; the
 * guest sends them for TCP targets only): off, or on with the idle time before the first probe
 * (`keepalives_idle`; 0 to Node keeps the system's default). Node 20's net API cannot set the
 * interval between probes or their count (`keepalives_interval`, `keepalives_count`): those
 * are ignored, and the system's (or libuv's) values apply. Null (a guest that sent no field)
 * leaves the socket's default. Best effort, as in libpq, which only warns.
 * @param {{ setKeepAlive(enable?: boolean, initialDelay?: number): unknown }} socket
 * @param {import('./abi.js').Keepalive | null} keepalive
 */
export function applyKeepalive(socket, keepalive) {
  if (keepalive == null) return;
  if (!keepalive.enabled) {
    socket.setKeepAlive(false);
    return;
  }
  // Node takes milliseconds and truncates them to an int32 of seconds: clamp, so a huge value
  // stays huge (the system refuses it) instead of wrapping around.
  socket.setKeepAlive(true, keepalive.idleSecs == null ? 0 : Math.min(keepalive.idleSecs, 0x7fffffff) * 1000);
}

export class Channel {
  constructor() {
    /** @type {import('node:net').Socket | null} */
    this.socket = null;
    /** @type {Buffer[]} */
    this.queue = [];
    this.eof = false;
    /** @type {Error | null} */
    this.error = null;
    /** A Date.now() value while connecting (the `o` action's timeout covers the handshake). */
    this.deadline = null;
    /** Milliseconds a read may wait once connected (null: forever). */
    this.readTimeout = null;
    this._waiter = null;
    /** Called with a chunk that arrives while nobody reads (the session is idle): true when it
     * was consumed (notifications are delivered as they come), false to keep it queued. */
    this.onData = null;
    /** Called when the server closes the socket while nobody reads. */
    this.onEof = null;
    /** Resolvers waiting for the socket's write buffer to drain (whenDrained). */
    this._drainWaiters = [];
  }

  /** Null when the socket takes more writes now; else a promise that resolves once its write
   * buffer drained or it closed (COPY FROM STDIN's writes wait for it: memory stays bounded). */
  whenDrained() {
    const s = this.socket;
    if (!s || s.destroyed || !s.writableNeedDrain) return null;
    return new Promise((resolveP) => {
      if (this._drainWaiters.length === 0) s.once('drain', () => this._drained());
      this._drainWaiters.push(resolveP);
    });
  }

  _drained() {
    for (const r of this._drainWaiters.splice(0)) r(undefined);
  }

  /** Milliseconds left before the deadline (null: none). */
  remaining() {
    if (this.deadline === null) return null;
    return this.deadline - Date.now();
  }

  /**
   * Connects to the target (the policy allowed it): null, or [error kind, reason]. With
   * `address` ("ip:port", "[v6]:port") a TCP target connects to that address only if the
   * target's name still resolves to it (a cancel request must reach the session's server).
   * `keepalive`: the `o` action's TCP keepalives (see applyKeepalive); null leaves the default.
   * @param {import('./abi.js').Keepalive | null} [keepalive]
   */
  async connect(target, address, keepalive = null) {
    this.close();
    this.queue = [];
    this.eof = false;
    this.error = null;
    let socket;
    try {
      if (target.kind === 'unix') {
        socket = await connectSocket({ path: target.path }, this.remaining());
      } else {
        let addrs;
        try {
          addrs = await lookup(target.host, { all: true, verbatim: true });
        } catch (e) {
          return ['host-not-found', `could not translate host name "${target.host}" to address: ${e.code ?? e.message}`];
        }
        if (addrs.length === 0) return ['host-not-found', `${target.host} resolved to no address`];
        if (address) {
          const [h, p] = splitAddr(address);
          const chosen = addrs.filter((a) => a.address === h);
          if (chosen.length && p === target.port) addrs = chosen.slice(0, 1);
        }
        let last = null;
        for (const a of addrs) {
          try {
            socket = await connectSocket({ host: a.address, port: target.port, family: a.family, noDelay: true }, this.remaining());
            break;
          } catch (e) {
            last = e;
            if (e.code === 'WASMPG_TIMEOUT') break;
          }
        }
        if (!socket) throw last;
      }
    } catch (e) {
      if (e.code === 'WASMPG_TIMEOUT') return ['timeout', `timeout expired connecting to ${describe(target)}`];
      return ['connection-refused', `cannot connect to ${describe(target)}: ${e.message}`];
    }
    socket.setNoDelay(true);
    if (target.kind === 'tcp') applyKeepalive(socket, keepalive);
    this.socket = socket;
    socket.on('data', (chunk) => {
      const w = this._waiter;
      if (w !== null) {
        this._waiter = null;
        w.resolve(chunk);
      } else if (this.queue.length === 0 && this.onData !== null && this.onData(chunk)) {
        // consumed by the idle session
      } else {
        this.queue.push(chunk);
        socket.pause();
      }
    });
    socket.on('end', () => {
      this.eof = true;
      if (this._waiter === null && this.queue.length === 0 && this.onEof !== null) this.onEof();
      this._wake();
    });
    socket.on('error', (e) => {
      this.error = e;
      this._wake();
      this._drained();
    });
    socket.on('close', () => {
      this.eof = true;
      this._wake();
      this._drained();
    });
    return null;
  }

  _wake() {
    const w = this._waiter;
    if (w !== null) {
      this._waiter = null;
      if (this.error) w.reject(this._ioError());
      else w.resolve(null);
    }
  }

  _ioError() {
    const e = this.error;
    return new WasmpgError(`cannot read from the server: ${e?.message}`, { kind: 'io', cause: e });
  }

  /** The address of a TCP connection's server ("ip:port", "[v6]:port"), else null. */
  peer() {
    const s = this.socket;
    if (!s || !s.remoteAddress) return null;
    return s.remoteAddress.includes(':') ? `[${s.remoteAddress}]:${s.remotePort}` : `${s.remoteAddress}:${s.remotePort}`;
  }

  /**
   * The next chunk from the server; null at end of stream.
   * @returns {Buffer | null | Promise<Buffer | null>}
   */
  read() {
    if (this.queue.length) {
      const c = /** @type {Buffer} */ (this.queue.shift());
      if (this.queue.length === 0 && this.socket) this.socket.resume();
      return c;
    }
    if (this.error) throw this._ioError();
    if (this.eof || !this.socket) return null;
    const socket = this.socket;
    socket.resume();
    const wait = this.deadline !== null ? this.remaining() : this.readTimeout;
    if (wait !== null && wait <= 0) throw new WasmpgError('connect_timeout expired while connecting', { kind: 'timeout' });
    return new Promise((resolveP, rejectP) => {
      let timer = null;
      const connecting = this.deadline !== null;
      this._waiter = {
        resolve: (v) => {
          if (timer) clearTimeout(timer);
          resolveP(v);
        },
        reject: (e) => {
          if (timer) clearTimeout(timer);
          rejectP(e);
        },
      };
      if (wait !== null) {
        timer = setTimeout(() => {
          this._waiter = null;
          rejectP(
            new WasmpgError(connecting ? 'connect_timeout expired while connecting' : 'read timeout expired waiting for the server', {
              kind: 'timeout',
            }),
          );
        }, wait);
      }
    });
  }

  /** @param {Uint8Array} data */
  write(data) {
    const s = this.socket;
    if (!s || s.destroyed) throw new WasmpgError('no connection to send on', { kind: 'closed' });
    s.write(data);
  }

  close() {
    const s = this.socket;
    this.socket = null;
    if (s) {
      for (const ev of ['data', 'end', 'close', 'error', 'drain']) s.removeAllListeners(ev);
      s.on('error', () => {});
      s.destroy();
    }
    this._wake();
    this._drained();
  }
}
