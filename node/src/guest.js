// One guest instance: loads the transpiled component (gen/, built by scripts/build.mjs), compiles
// its core modules once per memory bound, instantiates one per session with the package's own
// WASI (src/wasi.js), and calls its `call-bytes` export. A trap discards only this instance.
import { readFileSync } from 'node:fs';
import { instantiate } from '../gen/wasmpg.js';
import { makeWasi } from './wasi.js';
import { WasmpgError } from './errors.js';

/** The contract and packed layout this package implements (the guest's `version` export). */
export const VERSION = 'wasmpg:driver@0.2.0 step/1';

const GEN = new URL('../gen/', import.meta.url);
const PAGE = 65536;

/** @type {Map<string, Uint8Array>} */
const bytesByName = new Map();
/** @type {Map<string, WebAssembly.Module>} */
const modules = new Map();
let versionChecked = false;

function coreBytes(name) {
  let b = bytesByName.get(name);
  if (b === undefined) {
    b = readFileSync(new URL(name, GEN));
    bytesByName.set(name, b);
  }
  return b;
}

// --- the memory bound ------------------------------------------------------------------------
// The core module's memory declares no maximum, and JavaScript cannot bound the growth of a
// memory afterwards. So the package writes the bound into the module itself before compiling
// it: its memory section's limits get a maximum, `memory.grow` beyond it fails, the guest's
// allocator aborts and the call traps (the instance is discarded, the process is unharmed).

function readU32(b, at) {
  let result = 0;
  let shift = 0;
  for (let i = 0; i < 5; i++) {
    const byte = b[at + i];
    if (byte === undefined) throw new Error('truncated LEB128');
    result |= (byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return [result >>> 0, at + i + 1];
    shift += 7;
  }
  throw new Error('LEB128 too long');
}

function writeU32(n) {
  const out = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** The module with its (one, 32-bit) memory's maximum set to `maxPages`. */
export function withMemoryMaximum(bytes, maxPages) {
  let at = 8; // magic and version
  while (at < bytes.length) {
    const id = bytes[at];
    const [size, body] = readU32(bytes, at + 1);
    const end = body + size;
    if (id === 5) {
      const [count, first] = readU32(bytes, body);
      if (count !== 1) throw new Error(`expected one memory, found ${count}`);
      const flags = bytes[first];
      if (flags !== 0 && flags !== 1) throw new Error(`unsupported memory limits flags ${flags}`);
      const [min, afterMin] = readU32(bytes, first + 1);
      let rest = afterMin;
      let max = maxPages;
      if (flags === 1) {
        const [declared, afterMax] = readU32(bytes, afterMin);
        max = Math.min(declared, maxPages);
        rest = afterMax;
      }
      if (min > max) throw new Error(`the guest needs ${min} pages at start, over the memory limit`);
      const section = [...writeU32(1), 1, ...writeU32(min), ...writeU32(max), ...bytes.subarray(rest, end)];
      const out = new Uint8Array(bytes.length - (end - at) + 1 + writeU32(section.length).length + section.length);
      out.set(bytes.subarray(0, at), 0);
      let o = at;
      out[o++] = 5;
      for (const x of writeU32(section.length)) out[o++] = x;
      out.set(section, o);
      o += section.length;
      out.set(bytes.subarray(end), o);
      return out;
    }
    at = end;
  }
  throw new Error('the core module defines no memory');
}

function moduleFor(name, maxPages) {
  const key = `${name}/${name === 'wasmpg.core.wasm' ? maxPages : 0}`;
  let m = modules.get(key);
  if (m === undefined) {
    let bytes = coreBytes(name);
    if (name === 'wasmpg.core.wasm') bytes = withMemoryMaximum(bytes, maxPages);
    m = new WebAssembly.Module(bytes);
    modules.set(key, m);
  }
  return m;
}

// jco 1.35's glue wraps two exports with `WebAssembly.promising` inside try/catch; Node 20 has no
// such function, and each TypeError makes V8 re-parse the glue's one huge function (27-88 ms per
// instance, docs/measurements.md). The package calls every export synchronously, so while it
// instantiates, the wrapper is an identity function, then removed again.
function instantiateQuietly(getCoreModule, imports, instantiateCore) {
  const wasm = /** @type {any} */ (WebAssembly);
  if (typeof wasm.promising === 'function') return instantiate(getCoreModule, imports, instantiateCore);
  wasm.promising = (f) => f;
  try {
    return instantiate(getCoreModule, imports, instantiateCore);
  } finally {
    delete wasm.promising;
  }
}

// --- the direct call ---------------------------------------------------------------------------
// jco's glue spends ~85% of a small call's 6-11 µs on the component model's task bookkeeping
// (docs/measurements.md), which a synchronous function of plain values does not need. The
// package therefore instantiates the core modules through jco's documented `instantiateCore`
// hook, keeps the main core instance, and calls `call-bytes` as the canonical ABI defines it
// (the Component Model's CanonicalABI.md; the export names are its standard ones): the argument
// list is copied into memory that `cabi_realloc` allocates, the export returns a pointer to the
// (pointer, length) of the UTF-8 result, and `cabi_post_...#call-bytes` frees it. WASI imports
// still go through jco's trampolines. Where the core module lacks those exports (another
// component layout), calls go through jco's glue.
const EXPORT = 'wasmpg:driver/packed@0.2.0#call-bytes';
const POST = 'cabi_post_wasmpg:driver/packed@0.2.0#call-bytes';
const utf8 = new TextDecoder('utf-8');

function directCall(core) {
  const e = core.exports;
  const mem = /** @type {WebAssembly.Memory} */ (e.memory);
  const realloc = /** @type {Function} */ (e.cabi_realloc);
  const fn = /** @type {Function} */ (e[EXPORT]);
  const post = /** @type {Function} */ (e[POST]);
  if (!(mem instanceof WebAssembly.Memory) || typeof realloc !== 'function' || typeof fn !== 'function' || typeof post !== 'function') {
    return null;
  }
  return (/** @type {Uint8Array} */ request) => {
    const len = request.length;
    const ptr = realloc(0, 0, 1, len);
    new Uint8Array(mem.buffer, ptr, len).set(request);
    const ret = fn(ptr, len);
    const view = new DataView(mem.buffer);
    const rptr = view.getUint32(ret, true);
    const rlen = view.getUint32(ret + 4, true);
    const out = utf8.decode(new Uint8Array(mem.buffer, rptr, rlen));
    post(ret);
    return out;
  };
}

/** A call into an instance that trapped (or was discarded); the instance is gone. */
export class GuestTrap extends WasmpgError {
  /** @param {string} message @param {{ kind?: string, cause?: unknown }} [options] */
  constructor(message, options) {
    super(message, options);
    this.name = 'GuestTrap';
  }
}

export class Guest {
  /** @param {{ memoryLimit?: number }} [options] */
  constructor(options = {}) {
    const limit = options.memoryLimit ?? 256 * 1024 * 1024;
    if (!Number.isSafeInteger(limit) || limit < 4 * 1024 * 1024) {
      throw new RangeError('memoryLimit must be an integer number of bytes, at least 4 MiB');
    }
    this.memoryLimit = limit;
    const maxPages = Math.min(65536, Math.floor(limit / PAGE));
    const wasi = makeWasi();
    this._output = wasi.output;
    const main = moduleFor('wasmpg.core.wasm', maxPages);
    let core = null;
    /** @type {any} */
    const root = instantiateQuietly(
      (name) => moduleFor(name, maxPages),
      wasi.imports,
      (module, imports) => {
        const instance = new WebAssembly.Instance(module, imports);
        if (module === main) core = instance;
        return instance;
      },
    );
    this._api = root.packed;
    this._call = (core && directCall(core)) ?? ((/** @type {Uint8Array} */ r) => this._api.callBytes(r));
    this.dead = false;
    if (!versionChecked) {
      const v = this._api.version();
      if (v !== VERSION) {
        this.dead = true;
        throw new WasmpgError(`the component implements ${v}; this package was written for ${VERSION}`, { kind: 'usage' });
      }
      versionChecked = true;
    }
  }

  /**
   * One request in the byte form; one step.
   * @param {Uint8Array} request
   * @returns {string}
   */
  call(request) {
    if (this.dead) throw new GuestTrap('the guest instance was discarded after a trap', { kind: 'trap' });
    try {
      return this._call(request);
    } catch (e) {
      this.dead = true;
      this._api = null;
      this._call = null;
      const out = this._output().trim();
      const why = e instanceof Error ? e.message : String(e);
      throw new GuestTrap(`the guest trapped: ${why}${out ? ` (guest output: ${out})` : ''}`, { kind: 'trap', cause: e });
    }
  }

  close() {
    this.dead = true;
    this._api = null;
    this._call = null;
  }
}
