// The optional Worker mode (the `cpuLimit` option): JavaScript cannot interrupt a running wasm
// call (no fuel, no epochs), so a guest stuck in a long computation (a hostile server asking for
// SCRAM with ten million PBKDF2 iterations) would block the event loop. Here the guest runs in a
// worker_threads Worker, the main thread waits for each answer with Atomics.wait bounded by the
// limit, and terminates the worker when it is exceeded. `call` stays synchronous, as Guest's.
//
// The limit is on CPU time where the thread's CPU time can be read (Linux: the worker reports its
// thread id, read from /proc/thread-self, and the main thread reads /proc/self/task/TID/stat).
// Reading it costs a file read, too much for every call, so each call first gets `cpuLimit` of
// wall-clock time (free: Atomics.wait's timeout); a call still running then is terminated once
// its thread has used `cpuLimit` more of CPU time. A busy machine that keeps the worker off the
// CPU therefore delays the verdict instead of terminating a guest that was not computing (a CI
// machine running other tests once did, for a 100 ms limit). Elsewhere the wall-clock deadline
// decides alone.
//
// This file is both the module that exports WorkerGuest and the worker's entry (the worker loads
// it again with a marker in workerData, and it then imports the plain Guest from ./guest.js).
//
// The hand-off: a control block (Int32Array over a SharedArrayBuffer) and a data buffer. Both
// sides take turns; every message is one chunk in the data buffer and is answered by the other
// side, so a message larger than the buffer goes over in chunks (each one acknowledged):
//   main:   request chunk (TOTAL = request length) ... the last one
//   worker: ACK after each request chunk but the last; then result chunks (MORE = 1 while more
//           follow; main answers each with an ACK), status RESULT or TRAP (the message)
// A result is encoded with TextEncoder.encodeInto, which never splits a character, so every
// chunk is valid UTF-8 on its own and is decoded as it arrives.
import { readFileSync } from 'node:fs';
import { Worker, isMainThread, workerData } from 'node:worker_threads';
import { Guest, GuestTrap } from './guest.js';
import { WasmpgError } from './errors.js';

const MARK = 'wasmpg:guest-worker';
const DATA_BYTES = 1 << 20;
const START_TIMEOUT_MS = 10000;

// The control block's slots.
const TO_WORKER = 0; // incremented by the main thread for each message it posts
const TO_MAIN = 1; // incremented by the worker for each message it posts
const LEN = 2; // bytes of the message in the data buffer
const TOTAL = 3; // request: its total length; result: 1 while more chunks follow
const STATUS = 4; // worker -> main: one of the statuses below
const THREAD = 5; // worker -> main, before READY: its OS thread id (Linux), 0 if unknown
const CONTROL_SLOTS = 8;
// /proc's times are in clock ticks of USER_HZ, which Linux fixes at 100 for user space on every
// architecture (sysconf(_SC_CLK_TCK)).
const TICK_MS = 10;
// While a call runs past its wall-clock deadline, the main thread reads the worker's CPU time
// this often (milliseconds, at most; never more often than the limit).
const CPU_POLL_MS = 20;
// A guest call usually answers within microseconds, and waking a thread out of Atomics.wait
// costs tens of them: each side polls this many times (~15 us) before it sleeps.
const SPIN = 2000;

const READY = 1;
const START_FAILED = 2;
const ACK = 3;
const RESULT = 4;
const TRAP = 5;

/** Waits until `ctl[slot]` is no longer `seen`, at most until `deadline` (a performance.now() time,
 * or Infinity). True when it changed. */
function waitChange(ctl, slot, seen, deadline) {
  for (let i = 0; i < SPIN; i++) if (Atomics.load(ctl, slot) !== seen) return true;
  for (;;) {
    if (Atomics.load(ctl, slot) !== seen) return true;
    if (deadline === Infinity) {
      Atomics.wait(ctl, slot, seen);
      continue;
    }
    const left = deadline - performance.now();
    if (left <= 0) return Atomics.load(ctl, slot) !== seen;
    Atomics.wait(ctl, slot, seen, left);
  }
}

/** The OS thread id of the calling thread (Linux), 0 where /proc/thread-self is absent. */
function threadId() {
  try {
    const id = Number.parseInt(readFileSync('/proc/thread-self/stat', 'latin1'), 10);
    return Number.isSafeInteger(id) && id > 0 && id <= 0x7fffffff ? id : 0;
  } catch {
    return 0;
  }
}

/** Milliseconds of CPU time (user and system) that thread `tid` of this process has used, or null
 * if they cannot be read. The fields after the command name (which may hold spaces and
 * parentheses, hence the last ')') are: state, ppid, ... utime (12th), stime (13th). */
function threadCpuMs(tid) {
  try {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? ticks * TICK_MS : null;
  } catch {
    return null;
  }
}

function post(ctl, slot) {
  Atomics.add(ctl, slot, 1);
  Atomics.notify(ctl, slot);
}

// ---------------------------------------------------------------------------------------------
// The worker side

function serve({ control, data, memoryLimit, stallMs }) {
  const ctl = new Int32Array(control);
  const buf = new Uint8Array(data);
  const enc = new TextEncoder();
  let seen = 0;
  const toMain = (status, len, more) => {
    Atomics.store(ctl, STATUS, status);
    Atomics.store(ctl, LEN, len);
    Atomics.store(ctl, TOTAL, more ? 1 : 0);
    post(ctl, TO_MAIN);
  };
  const next = () => {
    waitChange(ctl, TO_WORKER, seen, Infinity);
    seen = Atomics.load(ctl, TO_WORKER);
  };
  /** Sends a string in chunks (each but the last acknowledged by the main thread). */
  const send = (status, text) => {
    let pos = 0;
    for (;;) {
      const { read, written } = enc.encodeInto(pos === 0 ? text : text.slice(pos), buf);
      pos += read;
      const more = pos < text.length;
      toMain(status, written, more);
      if (!more) return;
      next();
    }
  };

  Atomics.store(ctl, THREAD, threadId());
  let guest;
  try {
    guest = new Guest({ memoryLimit });
  } catch (e) {
    const kind = e instanceof WasmpgError ? e.kind : e instanceof RangeError ? 'range' : 'trap';
    send(START_FAILED, `${kind}\n${e instanceof Error ? e.message : String(e)}`);
    return;
  }
  toMain(READY, 0, false);

  for (;;) {
    next();
    const total = Atomics.load(ctl, TOTAL);
    let len = Atomics.load(ctl, LEN);
    let request;
    if (len === total) {
      request = buf.subarray(0, len); // Guest.call copies it into the guest's memory
    } else {
      request = new Uint8Array(total);
      let at = 0;
      for (;;) {
        request.set(buf.subarray(0, len), at);
        at += len;
        if (at >= total) break;
        toMain(ACK, 0, false);
        next();
        len = Atomics.load(ctl, LEN);
      }
    }
    // For tests: a call that takes long without computing (a thread kept off the CPU).
    if (stallMs > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, stallMs);
    let result;
    try {
      result = guest.call(request);
    } catch (e) {
      send(TRAP, e instanceof Error ? e.message : String(e));
      return; // the instance is gone; the main thread terminates this worker
    }
    send(RESULT, result);
  }
}

if (!isMainThread && workerData && workerData[MARK] === true) serve(workerData);

// ---------------------------------------------------------------------------------------------
// The main-thread side

/** A guest instance in its own Worker, with a bound on the time of each call. */
export class WorkerGuest {
  /**
   * @param {{ memoryLimit?: number, cpuLimit: number, bufferBytes?: number, defer?: boolean, stallMs?: number }} options
   *   cpuLimit: milliseconds each call may take before the worker is terminated: wall-clock time
   *   (hand-off included), then as much CPU time of the worker's thread where it can be read
   *   (Linux; see the top of this file); bufferBytes: size of the shared data buffer (default 1 MiB; for tests);
   *   defer: return before the worker is ready (WorkerGuest.create() then waits for it);
   *   stallMs: the worker sleeps that long before each call (for tests).
   */
  constructor(options) {
    const { memoryLimit, cpuLimit } = options ?? {};
    if (typeof cpuLimit !== 'number' || !Number.isFinite(cpuLimit) || cpuLimit <= 0) {
      throw new WasmpgError('cpuLimit must be a positive finite number of milliseconds', { kind: 'config' });
    }
    const bufferBytes = options.bufferBytes ?? DATA_BYTES;
    if (!Number.isSafeInteger(bufferBytes) || bufferBytes < 16) throw new RangeError('bufferBytes must be an integer, at least 16');
    this.cpuLimit = cpuLimit;
    this.memoryLimit = memoryLimit ?? 256 * 1024 * 1024;
    this.dead = true;
    const control = new SharedArrayBuffer(CONTROL_SLOTS * 4);
    const data = new SharedArrayBuffer(bufferBytes);
    this._ctl = new Int32Array(control);
    this._buf = new Uint8Array(data);
    this._seen = 0;
    this._dec = new TextDecoder();
    /** The worker's OS thread id (Linux), 0 if unknown; set when it is ready. */
    this._tid = 0;
    /** The worker's CPU time (ms) when the running call passed its wall-clock deadline. */
    this._cpuFrom = /** @type {number | null} */ (null);
    const worker = new Worker(new URL(import.meta.url), {
      workerData: { [MARK]: true, control, data, memoryLimit, stallMs: options.stallMs ?? 0 },
      // Not the parent's: under `node -e CODE` or `--input-type=module` those options would
      // make the worker evaluate the parent's code instead of this module.
      execArgv: [],
      // The guest needs no environment; the worker does not get the process's either.
      env: {},
    });
    this._worker = worker;
    // An open WorkerGuest never keeps the process alive; while create() waits for it, the
    // worker is what keeps the event loop running (Atomics.waitAsync does not).
    if (!options.defer) worker.unref();
    // A worker failure must never become an unhandled 'error' event (that would end the
    // process); the next call finds the worker silent and reports it.
    worker.on('error', () => this._kill());
    worker.on('exit', () => this._kill());
    if (options.defer) return; // WorkerGuest.create() waits without blocking the event loop
    this._started(this._await(performance.now() + START_TIMEOUT_MS));
  }

  /**
   * A WorkerGuest whose worker starts while the event loop goes on (a synchronous constructor
   * blocks it for the worker's start-up, 40-60 ms; many connections opening at once would
   * then starve each other's timers).
   * @param {{ memoryLimit?: number, cpuLimit: number, bufferBytes?: number }} options
   * @returns {Promise<WorkerGuest>}
   */
  static async create(options) {
    const g = new WorkerGuest({ ...options, defer: true });
    const deadline = performance.now() + START_TIMEOUT_MS;
    let arrived = false;
    while (!arrived && g._worker !== null) {
      const left = deadline - performance.now();
      if (left <= 0) break;
      const w = Atomics.waitAsync(g._ctl, TO_MAIN, g._seen, left);
      if (w.async) await w.value;
      arrived = Atomics.load(g._ctl, TO_MAIN) !== g._seen;
    }
    if (arrived) g._seen = Atomics.load(g._ctl, TO_MAIN);
    g._worker?.unref();
    g._started(arrived);
    return g;
  }

  /** Ends the start-up: throws what the worker reported, or marks the instance alive. */
  _started(arrived) {
    if (!arrived) {
      this._kill();
      throw new GuestTrap(`the guest worker did not start within ${START_TIMEOUT_MS / 1000} s`, { kind: 'trap' });
    }
    const status = Atomics.load(this._ctl, STATUS);
    if (status === START_FAILED) {
      const text = this._receive(performance.now() + START_TIMEOUT_MS) ?? 'trap\nthe guest worker failed';
      this._kill();
      const nl = text.indexOf('\n');
      const kind = text.slice(0, nl);
      const message = text.slice(nl + 1);
      if (kind === 'range') throw new RangeError(message);
      throw kind === 'trap' ? new GuestTrap(message, { kind }) : new WasmpgError(message, { kind });
    }
    this.dead = false;
    this._tid = Atomics.load(this._ctl, THREAD);
  }

  /** Waits for the worker's next message; false if the deadline passed first. */
  _await(deadline) {
    if (!waitChange(this._ctl, TO_MAIN, this._seen, deadline)) return false;
    this._seen = Atomics.load(this._ctl, TO_MAIN);
    return true;
  }

  /** A call's wait: `deadline` in wall-clock time, then (where the worker's CPU time can be read)
   * until the worker has used `cpuLimit` of CPU time since the call passed its deadline. False if
   * it did first. */
  _awaitCall(deadline) {
    if (this._await(deadline)) return true;
    const tid = this._tid;
    if (tid === 0) return false;
    if (this._cpuFrom === null) this._cpuFrom = threadCpuMs(tid);
    const from = this._cpuFrom;
    if (from === null) return false;
    const poll = Math.max(1, Math.min(CPU_POLL_MS, this.cpuLimit));
    for (;;) {
      if (this._await(performance.now() + poll)) return true;
      const now = threadCpuMs(tid);
      // The thread is gone (the worker exited) or its time unreadable: the answer will not come.
      if (now === null || now - from >= this.cpuLimit) return this._await(performance.now());
    }
  }

  /** Posts one message (this chunk's length, the total) to the worker. */
  _post(len, total) {
    Atomics.store(this._ctl, LEN, len);
    Atomics.store(this._ctl, TOTAL, total);
    post(this._ctl, TO_WORKER);
  }

  /** The string of the message that just arrived and its continuation chunks; null if the
   * deadline passed. */
  _receive(deadline) {
    const ctl = this._ctl;
    let text = '';
    for (;;) {
      const len = Atomics.load(ctl, LEN);
      // Each chunk is whole characters (encodeInto never splits one); the decoder copies.
      text += len === 0 ? '' : this._dec.decode(this._buf.subarray(0, len));
      if (Atomics.load(ctl, TOTAL) === 0) return text;
      this._post(0, 0);
      if (!this._awaitCall(deadline)) return null;
    }
  }

  _kill() {
    this.dead = true;
    const w = this._worker;
    if (w) {
      this._worker = null;
      w.terminate().catch(() => {});
    }
  }

  /**
   * One request in the byte form; one step. Throws GuestTrap past the CPU limit or when the
   * guest traps; the instance is then gone.
   * @param {Uint8Array} request
   * @returns {string}
   */
  call(request) {
    if (this.dead) throw new GuestTrap('the guest instance was discarded after a trap', { kind: 'trap' });
    const deadline = performance.now() + this.cpuLimit;
    this._cpuFrom = null;
    const buf = this._buf;
    const total = request.length;
    let text = null;
    let why = `the guest trapped: it exceeded its CPU limit of ${this.cpuLimit} ms per call; the worker was terminated`;
    let at = 0;
    for (;;) {
      const n = Math.min(buf.length, total - at);
      buf.set(n === total ? request : request.subarray(at, at + n));
      at += n;
      this._post(n, total);
      if (!this._awaitCall(deadline)) break;
      const status = Atomics.load(this._ctl, STATUS);
      if (status === ACK && at < total) continue;
      if (status === RESULT || status === TRAP) {
        text = this._receive(deadline);
        if (text !== null && status === TRAP) {
          this._kill();
          throw new GuestTrap(text, { kind: 'trap' });
        }
      } else {
        why = `the guest worker answered out of turn (status ${status})`;
      }
      break;
    }
    if (text === null) {
      this._kill();
      throw new GuestTrap(why, { kind: 'trap' });
    }
    return text;
  }

  close() {
    this._kill();
  }
}
