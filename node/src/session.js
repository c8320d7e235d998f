// The host half of a session: it owns the socket and the files, and performs the actions the
// guest asks for, opening and reading only what the policies allow (as host/src/connection.rs
// and the Python package's _session.py). Every call into the guest returns a step (src/abi.js):
//
//   send step.send; hand the events to the sink; then do the action:
//     o open(target, ...)  -> policy check, connect, keepalives -> "o" / "x" kind reason
//     r read               -> bytes from the socket              -> "d" bytes / "e" at EOF
//     f need-file(purpose, path) -> file policy check, read      -> "Y" bytes / "y" status reason
//     p need-password      -> the password callback, if any      -> "w" password / "w" (none)
//     d done(tx status)    -> the request is complete
//     c close              -> close the socket: the session is over
//     i copy-in            -> COPY FROM STDIN waits for data: the copy stream's writes ("D"),
//                             then "F" (done) or "f" reason (abort); any other sink aborts it
//
// A request can be streamed: the loop stops as soon as the sink holds rows and resumes when they
// are consumed, so the socket is read only as fast as rows are used (TCP backpressure bounds
// memory). Cancelling runs on a fresh guest instance with the session's cancel token.
import { openSync, fstatSync, statSync, readSync, closeSync, constants as fsc } from 'node:fs';
import { rootCertificates } from 'node:tls';
import * as A from './abi.js';
import { Channel } from './channel.js';
import { Guest, GuestTrap } from './guest.js';
import { WorkerGuest } from './worker.js';
import { Policy, FilePolicy, describe, defaultPassfile, defaultSslDir } from './policy.js';
import { defaults as envDefaults } from './env.js';
import { WasmpgError, fromGuest } from './errors.js';

const BATCH_BYTES = 256 << 10;
const MAX_FILE_BYTES = 1 << 20;
const CANCEL_MEMORY = 32 << 20;
/** libpq's DEFAULT_PGSOCKET_DIR as Debian builds it (the guest matches `localhost` password-file
 * lines against Unix-socket connections with it). */
export const DEFAULT_SOCKET_DIR = '/var/run/postgresql';

/** Receives the events of one request. The default keeps only the first error. */
export class Sink {
  constructor() {
    /** @type {Error | null} */
    this.error = null;
    /** A COPY TO STDOUT reached this sink, which does not take its data. */
    this.copyOutRefused = false;
  }
  columns(_cols) {}
  rows(_ev) {}
  complete(_command, _rowCount) {}
  empty() {}
  /** While streaming: true stops reading from the socket. */
  hasRows() {
    return false;
  }
  /** COPY FROM STDIN began (`G`). Only a copy stream (Connection.copyFrom) takes the data;
   * anywhere else the COPY is aborted (see Session.run) and the request fails. */
  copyIn(_ev) {
    this.fail(new WasmpgError('COPY ... FROM STDIN cannot run through query(): use copyFrom(sql), a Writable stream', { kind: 'usage' }));
  }
  /** COPY TO STDOUT began (`H`); its data is dropped unless the sink is a copy stream's. The
   * request fails with a usage error at its end, unless it failed otherwise (a server error or
   * a broken session says more). */
  copyOut(_ev) {
    this.copyOutRefused = true;
  }
  /** The request is done (ReadyForQuery). */
  done() {
    if (this.copyOutRefused) {
      this.copyOutRefused = false;
      this.fail(new WasmpgError('COPY ... TO STDOUT cannot run through query(): use copyTo(sql), a Readable stream', { kind: 'usage' }));
    }
  }
  copyData(_ev) {}
  /** True when the request stops at the `i` action to let its owner send the data. */
  acceptsCopyIn() {
    return false;
  }
  fail(error) {
    if (this.error === null) this.error = error;
  }
}

/**
 * How a file's purpose is protected (libpq's permission rules for secrets, as host/src/files.rs):
 * `public` certificates and revocation lists (`sslrootcert`, `sslcert`, `sslcrl`: no check);
 * `key` a private key (`sslkey`); `passfile` the password file, and any purpose this host does
 * not know (a secret until said otherwise).
 * @param {string} purpose
 * @returns {'public' | 'key' | 'passfile'}
 */
export function secrecy(purpose) {
  switch (purpose) {
    case 'sslrootcert':
    case 'sslcert':
    case 'sslcrl':
      return 'public';
    case 'sslkey':
      return 'key';
    default:
      return 'passfile';
  }
}

/**
 * Whether a file is too open for its purpose, by libpq's rules: a password file that group or
 * others may access is ignored; a key owned by the current user must give group and others no
 * access, one owned by root at most group read (0640); a key of another owner is not checked,
 * nor is anything on Windows.
 * @param {'public' | 'key' | 'passfile'} rule
 * @param {{ mode: number, uid: number }} st
 */
export function tooOpen(rule, st) {
  if (process.platform === 'win32' || rule === 'public') return false;
  if (rule === 'passfile') return (st.mode & 0o077) !== 0;
  const euid = typeof process.geteuid === 'function' ? process.geteuid() : -1;
  return (st.uid === euid && (st.mode & 0o077) !== 0) || (st.uid === 0 && (st.mode & 0o037) !== 0);
}

/** Where OpenSSL-based clients find the system's trust store on the usual platforms
 * (Debian/Ubuntu/Alpine, Fedora/RHEL, openSUSE, FreeBSD, macOS with Homebrew's openssl). */
export const SYSTEM_CA_BUNDLES = [
  '/etc/ssl/certs/ca-certificates.crt',
  '/etc/pki/tls/certs/ca-bundle.crt',
  '/etc/ssl/ca-bundle.pem',
  '/usr/local/share/certs/ca-root-nss.crt',
  '/etc/ssl/cert.pem',
];

/**
 * @typedef {{ status: 'ok', bytes: Buffer } | { status: 'missing' | 'denied' | 'too-open' | 'unreadable', reason: string }} FileAnswer
 */

/** The answer to `sslrootcert=system`: the system's trust store (`SSL_CERT_FILE` if set, else
 * the first bundle found, else Node's bundled Mozilla roots). The file policy does not apply: the
 * store is public, and its path is this process's choice, not the conninfo's. */
export function systemRoots(env = process.env) {
  if (env.SSL_CERT_FILE) return readBytes(env.SSL_CERT_FILE, 'public');
  for (const path of SYSTEM_CA_BUNDLES) {
    try {
      if (statSync(path).isFile()) return readBytes(path, 'public');
    } catch {
      // not this one
    }
  }
  return /** @type {FileAnswer} */ ({ status: 'ok', bytes: Buffer.from(rootCertificates.join('\n'), 'utf8') });
}

/**
 * The answer to a `f` action: the file's bytes, or a status and its reason. Nothing is opened
 * unless the file policy allows it (except the system's trust store for `sslrootcert=system`);
 * a secret that is too open for its purpose (`tooOpen`) is `too-open`, as libpq refuses it.
 * @param {FilePolicy} policy
 * @param {string} path
 * @param {string} [purpose]
 * @returns {FileAnswer}
 */
export function readFile(policy, path, purpose = 'passfile') {
  if (purpose === 'sslrootcert' && path === 'system') return systemRoots();
  if (!policy.allows(path)) return { status: 'denied', reason: `reading ${path} denied by the file policy (${policy})` };
  return readBytes(path, secrecy(purpose));
}

/**
 * @param {string} path
 * @param {'public' | 'key' | 'passfile'} rule
 * @returns {FileAnswer}
 */
function readBytes(path, rule) {
  let fd;
  try {
    fd = openSync(path, fsc.O_RDONLY);
  } catch (e) {
    if (e.code === 'ENOENT') return { status: 'missing', reason: `${path} does not exist` };
    return { status: 'unreadable', reason: `cannot read ${path}: ${e.message}` };
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { status: 'unreadable', reason: `${path} is not a regular file` };
    if (tooOpen(rule, st)) return { status: 'too-open', reason: `${path} has group or world access` };
    if (st.size > MAX_FILE_BYTES) return { status: 'unreadable', reason: `${path} is larger than ${MAX_FILE_BYTES} bytes` };
    const buf = Buffer.alloc(Math.min(st.size, MAX_FILE_BYTES) + 1);
    let n = 0;
    for (;;) {
      const k = readSync(fd, buf, n, buf.length - n, null);
      n += k;
      if (k === 0 || n >= buf.length) break;
    }
    if (n > MAX_FILE_BYTES) return { status: 'unreadable', reason: `${path} is larger than ${MAX_FILE_BYTES} bytes` };
    return { status: 'ok', bytes: buf.subarray(0, n) };
  } catch (e) {
    return { status: 'unreadable', reason: `cannot read ${path}: ${e.message}` };
  } finally {
    closeSync(fd);
  }
}

/** The request that answers a `f` action: `Y` and the bytes, or `y` status reason. */
export function fileRequest(/** @type {FileAnswer} */ answer) {
  return answer.status === 'ok' ? A.reqFileBytes(answer.bytes) : A.reqFile(answer.status, answer.reason);
}

function initOptions(o) {
  /** @type {Array<[string, string]>} */
  const options = [
    ['max_message_size', String(o.maxMessageSize ?? 64 << 20)],
    ['batch_bytes', String(BATCH_BYTES)],
    ['statement_cache', String(o.statementCache ?? 256)],
    ['default_socket_dir', DEFAULT_SOCKET_DIR],
  ];
  const passfile = defaultPassfile();
  if (passfile) options.push(['default_passfile', passfile]);
  const sslDir = defaultSslDir();
  if (sslDir) options.push(['default_ssl_dir', sslDir]);
  for (const [k, v] of Object.entries(o.params ?? {})) options.push([`param.${k}`, String(v)]);
  return options;
}

function raiseErrors(step) {
  for (const ev of step.events) if (ev.tag === 'E') throw fromGuest(ev.kind, ev.message, ev.fields);
}

/**
 * @typedef {object} SessionOptions
 * @property {string[]} [allow] the allow-list (default: exactly the conninfo's targets)
 * @property {string[]} [allowFiles] files the guest may have read besides the defaults
 * @property {number} [statementCache] prepared statements kept (0: none, for PgBouncer)
 * @property {number} [maxMessageSize]
 * @property {number} [memoryLimit] bytes of guest memory
 * @property {number} [cpuLimit] milliseconds of guest CPU per call; runs the guest in a Worker
 * @property {number} [readTimeout] milliseconds a read may wait once connected
 * @property {Record<string, string>} [params] run-time parameters for the StartupMessage
 * @property {Record<string, string | undefined>} [env] the PG* variables (default process.env)
 * @property {(info: {host: string, port: number, dbname: string, user: string}) => (string | null | undefined | Promise<string | null | undefined>)} [password]
 *   called when neither the conninfo nor the password file gave a password (short-lived tokens)
 */

export class Session {
  /**
   * @param {string} conninfo
   * @param {SessionOptions} options
   */
  constructor(conninfo, options) {
    this.conninfo = conninfo;
    this.options = options;
    this.io = new Channel();
    this.io.readTimeout = options.readTimeout ?? null;
    this.closed = true;
    /** @type {Record<string, string>} */
    this.parameters = {};
    this.processID = null;
    this.txStatus = 'idle';
    this.action = 'd';
    this.actionArg = null;
    this.sink = new Sink();
    this.cancelToken = null;
    this.target = null;
    /** @type {(n: any) => void} */
    this.onNotice = () => {};
    /** @type {(n: any) => void} */
    this.onNotification = () => {};
    this.policy = options.allow !== undefined ? Policy.parse(options.allow) : null;
    this.filePolicy = new FilePolicy(options.allowFiles);
    /** The guest: created here, or (Worker mode) by start(), without blocking the event loop;
     * WorkerGuest checks the cpuLimit value.
     * @type {Guest | WorkerGuest} */
    this.guest = options.cpuLimit != null ? /** @type {any} */ (null) : new Guest({ memoryLimit: options.memoryLimit });
    /** Called with the error that ended the session while it was idle. */
    this.onIdleError = (/** @type {Error} */ _e) => {};
    /** Called when server bytes that arrived during COPY FROM STDIN ended it. */
    this.onCopyEnded = () => {};
    this.io.onData = (chunk) => this.idleData(chunk);
    this.io.onEof = () => {
      this.idleData(null);
    };
  }

  /** Starts the session: parses the conninfo, opens the policy, runs the startup. */
  async start() {
    if (this.guest === null) {
      this.guest = await WorkerGuest.create({ memoryLimit: this.options.memoryLimit, cpuLimit: /** @type {number} */ (this.options.cpuLimit) });
    }
    const g = this.guest;
    try {
      const defaults = envDefaults(this.options.env ?? process.env);
      raiseErrors(A.decodeStep(g.call(A.reqInit(initOptions(this.options)))));
      const parsed = A.decodeStep(g.call(A.reqParseConninfo(defaults, this.conninfo)));
      raiseErrors(parsed);
      const info = parsed.events.find((e) => e.tag === 'I');
      if (!info) throw new WasmpgError('the guest did not report the parsed conninfo', { kind: 'protocol' });
      // The default policy comes from the user's conninfo, before any byte from a server has
      // reached the guest.
      if (this.policy === null) this.policy = Policy.fromTargets(info.targets);
      const step = A.decodeStep(g.call(A.reqConnect(defaults, this.conninfo)));
      this.closed = false;
      const sink = new Sink();
      this.sink = sink;
      this.process(step);
      await this.run(sink, false);
      this.io.deadline = null;
      if (sink.error) throw sink.error;
      if (this.closed) throw new WasmpgError('the server closed the connection during startup', { kind: 'closed' });
      this.sink = new Sink();
      this.process(this.guarded(A.REQ_CANCEL_TOKEN));
    } catch (e) {
      this.closeSocket();
      g.close();
      throw e;
    }
  }

  /** Bytes (null: end of stream) that arrive between requests: notices, notifications and
   * parameter changes are delivered as they come; an error or the end of the stream ends the
   * session now, not at the next request. False when a request is running (it reads them). */
  idleData(chunk) {
    if (this.action === 'i' && !this.closed) return this.copyInData(chunk);
    if (this.action !== 'd' || this.closed) return false;
    const sink = new Sink();
    this.sink = sink;
    try {
      this.process(this.guarded(chunk === null ? A.REQ_EOF : A.reqData(chunk)));
    } catch (e) {
      this.closeSocket();
      this.action = 'c';
      this.onIdleError(/** @type {Error} */ (e));
      return true;
    }
    if (this.action === 'c') {
      this.closeSocket();
      this.onIdleError(sink.error ?? new WasmpgError('the server closed the connection', { kind: 'closed' }));
    } else if (this.action !== 'd') {
      // A guest that wants more than the bytes it was given between requests: nothing a server
      // may send unasked leads here, so the session cannot be trusted any further.
      this.closeSocket();
      this.action = 'c';
      this.onIdleError(new WasmpgError('the server sent an unexpected message between requests', { kind: 'protocol' }));
    }
    return true;
  }

  /** Server bytes (null: end of stream) that arrive while a COPY FROM STDIN waits for the
   * client's data: fed to the guest at once, so an error (a bad row, a terminated backend)
   * ends the copy early; `onCopyEnded` tells the copy stream once the action is no longer `i`. */
  copyInData(chunk) {
    this.copyStep(() => this.process(this.guarded(chunk === null ? A.REQ_EOF : A.reqData(chunk))));
    if (this.action !== 'i') this.onCopyEnded();
    return true;
  }

  /** Guest calls during COPY FROM STDIN: a failure ends the session (its error goes to the
   * sink), as does a `close` action. False on a failure. */
  copyStep(step) {
    try {
      step();
    } catch (e) {
      this.closeSocket();
      this.action = 'c';
      this.sink.fail(/** @type {Error} */ (e));
      return false;
    }
    if (this.action === 'c') this.closeSocket();
    return true;
  }

  /** Feeds the server bytes that wait in the socket's queue to the guest (while the action is
   * `i`), and the end of the stream if the socket ended or failed. */
  pumpCopyIn() {
    const io = this.io;
    while (this.action === 'i' && io.queue.length) {
      const chunk = /** @type {Buffer} */ (io.queue.shift());
      if (io.queue.length === 0 && io.socket) io.socket.resume();
      this.process(this.guarded(A.reqData(chunk)));
    }
    if (this.action === 'i' && (io.eof || io.error || !io.socket)) this.process(this.guarded(A.REQ_EOF));
  }

  /**
   * One copy-in request (`D` data, `F`, `f` reason) while the action is `i`, after the server
   * bytes that arrived meanwhile. False, and nothing sent, when the server ended the COPY (the
   * action is no longer `i`; its error is in the sink).
   * @param {Uint8Array} req
   */
  copySend(req) {
    let sent = false;
    const ok = this.copyStep(() => {
      this.pumpCopyIn();
      if (this.action !== 'i') return;
      this.process(this.guarded(req));
      sent = true;
    });
    return ok && sent;
  }

  busy() {
    return this.action !== 'd' && this.action !== 'c';
  }

  guarded(request) {
    try {
      return A.decodeStep(this.guest.call(request));
    } catch (e) {
      this.closeSocket();
      this.action = 'c';
      throw e;
    }
  }

  /** Sends a request and runs it to completion (or, streaming, until the sink holds rows). */
  async request(req, sink, stream = false) {
    if (this.closed) throw new WasmpgError('the connection is closed', { kind: 'closed' });
    if (this.busy()) await this.drain();
    if (this.closed) throw new WasmpgError('the connection was lost', { kind: 'closed' });
    this.sink = sink;
    this.process(this.guarded(req));
    await this.run(sink, stream);
  }

  /** Continues a streamed request until its sink has rows again, or it completes. */
  async resume(sink) {
    if (this.sink !== sink || !this.busy()) return;
    await this.run(sink, true);
  }

  /** Reads and discards the rest of a streamed request. */
  async drain() {
    if (this.closed || !this.busy()) return;
    const sink = new Sink();
    this.sink = sink;
    await this.run(sink, false);
  }

  async run(sink, stream) {
    try {
      for (;;) {
        const action = this.action;
        if (action === 'd') {
          sink.done();
          return;
        }
        if (action === 'c') {
          this.closeSocket();
          if (sink.error === null) sink.fail(new WasmpgError('the session ended', { kind: 'closed' }));
          return;
        }
        if (stream && sink.hasRows()) return;
        if (action === 'i') {
          // COPY FROM STDIN: its stream sends the data; any other request aborts it (the
          // sink already holds the usage error).
          if (sink.acceptsCopyIn()) return;
          sink.copyIn(null);
          this.process(this.guarded(A.reqCopyFail('COPY FROM STDIN is only supported through copyFrom()')));
        } else if (action === 'r') {
          let data = this.io.read();
          if (data !== null && !(data instanceof Buffer)) data = await data;
          this.process(this.guarded(data ? A.reqData(data) : A.REQ_EOF));
        } else {
          await this.advance(action);
        }
      }
    } catch (e) {
      // A failure in the middle of a request leaves the protocol state unknown: the session
      // cannot continue.
      this.closeSocket();
      this.action = 'c';
      if (e instanceof WasmpgError) throw e;
      throw new WasmpgError(String(e?.message ?? e), { kind: 'io', cause: e });
    }
  }

  async advance(action) {
    let step;
    if (action === 'o') {
      const { target, timeoutMs, address, keepalive } = this.actionArg;
      const failure = await this.open(target, timeoutMs, address, keepalive);
      step = this.guarded(
        failure === null ? A.reqOpenedAt(this.io.peer(), Math.floor(Date.now() / 1000)) : A.reqOpenFailed(failure[0], failure[1]),
      );
    } else if (action === 'f') {
      step = this.guarded(fileRequest(readFile(this.filePolicy, this.actionArg.path, this.actionArg.purpose)));
    } else if (action === 'p') {
      let password = null;
      const cb = this.options.password;
      if (cb) {
        password = await cb({ ...this.actionArg });
        if (password != null && typeof password !== 'string') {
          throw new WasmpgError('the password callback must return a string, null or undefined', { kind: 'usage' });
        }
      }
      step = this.guarded(A.reqPassword(password ?? null));
    } else {
      throw new WasmpgError(`unexpected action ${JSON.stringify(action)} from the guest`, { kind: 'protocol' });
    }
    this.process(step);
  }

  process(step) {
    if (step.send !== null) this.io.write(step.send);
    const events = step.events;
    if (events.length) {
      const sink = this.sink;
      for (const ev of events) {
        switch (ev.tag) {
          case 'R':
            sink.rows(ev);
            break;
          case 'C':
            sink.columns(ev.columns);
            break;
          case 'K':
            sink.complete(ev.command, ev.rowCount);
            break;
          case 'E':
            sink.fail(fromGuest(ev.kind, ev.message, ev.fields));
            break;
          case 'Q':
            sink.empty();
            break;
          case 'D':
            sink.copyData(ev);
            break;
          case 'G':
            sink.copyIn(ev);
            break;
          case 'H':
            sink.copyOut(ev);
            break;
          case 'S':
            this.parameters[ev.name] = ev.value;
            break;
          case 'N':
            this.onNotice(ev.fields);
            break;
          case 'A':
            this.onNotification({ processId: ev.processId, channel: ev.channel, payload: ev.payload });
            break;
          case 'B':
            this.processID = ev.processId;
            break;
          case 'T':
            this.cancelToken = ev.token;
            break;
          default:
            break;
        }
      }
    }
    if (step.action === 'd') this.txStatus = step.arg;
    this.action = step.action;
    this.actionArg = step.arg;
  }

  /** Opens the target if the policy allows it: null, or [kind, reason]. Nothing is sent to a
   * denied target: the check happens before any socket exists. */
  async open(target, timeoutMs, address, keepalive = null) {
    this.io.close();
    if (!this.policy?.allows(target)) {
      return ['policy-denied', `connection to ${describe(target)} denied by policy (${this.policy})`];
    }
    this.io.deadline = timeoutMs ? Date.now() + timeoutMs : null;
    const failure = await this.io.connect(target, address, keepalive);
    if (failure === null) this.target = target;
    return failure;
  }

  /** Sends Terminate (best effort) and closes the socket and the guest. */
  async terminate() {
    if (!this.closed && !this.guest.dead) {
      try {
        const step = A.decodeStep(this.guest.call(A.REQ_TERMINATE));
        const s = this.io.socket;
        if (step.send && s && !s.destroyed) await new Promise((res) => s.end(step.send, res));
      } catch {
        // best effort: the socket is closed below either way
      }
    }
    this.closeSocket();
    this.guest.close();
  }

  closeSocket() {
    this.io.close();
    this.closed = true;
  }

  /** Sends a CancelRequest for the running statement from a fresh guest instance, to the
   * server this session is connected to (the same policy applies). */
  async cancel(timeoutMs = 10000) {
    const token = this.cancelToken;
    if (this.closed || token === null) throw new WasmpgError('the connection is closed or was never established', { kind: 'closed' });
    await runCancel(token, /** @type {Policy} */ (this.policy), timeoutMs);
  }
}

/** A cancel request on a new guest instance: `k` + token as its first request. */
export async function runCancel(token, policy, timeoutMs) {
  const g = new Guest({ memoryLimit: CANCEL_MEMORY });
  const io = new Channel();
  io.deadline = Date.now() + timeoutMs;
  try {
    let step = A.decodeStep(g.call(A.reqCancel(token)));
    for (let i = 0; i < 1000; i++) {
      if (step.send) io.write(step.send);
      raiseErrors(step);
      if (step.action === 'c' || step.action === 'd') return;
      if (step.action === 'o') {
        const { target, address, keepalive } = step.arg;
        io.close();
        if (!policy.allows(target)) {
          step = A.decodeStep(g.call(A.reqOpenFailed('policy-denied', `connection to ${describe(target)} denied by policy (${policy})`)));
          continue;
        }
        const failure = await io.connect(target, address, keepalive);
        // With the clock: a cancel request over TLS validates the certificate at it.
        step = A.decodeStep(g.call(failure ? A.reqOpenFailed(failure[0], failure[1]) : A.reqOpenedAt(null, Math.floor(Date.now() / 1000))));
      } else if (step.action === 'r') {
        let data = io.read();
        if (data !== null && !(data instanceof Buffer)) data = await data;
        step = A.decodeStep(g.call(data ? A.reqData(data) : A.REQ_EOF));
      } else {
        throw new WasmpgError(`unexpected action ${step.action} while cancelling`, { kind: 'protocol' });
      }
    }
    throw new WasmpgError('the cancel request did not finish', { kind: 'protocol' });
  } finally {
    io.close();
    g.close();
  }
}

export { GuestTrap };
