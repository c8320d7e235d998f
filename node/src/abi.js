// The packed layout of contract wasmpg:driver@0.2.0 (docs/abi.md): request encoders in the byte
// form (the guest's `call-bytes` export) and the step decoder. Native string operations only
// (indexOf, split, slice); fields are unescaped only when U+001B occurs; row batches stay strings
// for the row converter (src/rows.js). A step that does not follow the layout throws a
// WasmpgError of kind 'protocol', never a TypeError or RangeError.
import { WasmpgError, FIELD_NAMES } from './errors.js';

export const NUL = '\x00';
export const ESC = '\x1b';
export const GS = '\x1d';
export const RS = '\x1e';
export const US = '\x1f';

export const TX_STATUS = { I: 'idle', T: 'in-transaction', E: 'failed' };

export const ERROR_KINDS = new Set([
  'db', 'config', 'authentication', 'protocol', 'message-too-large', 'encode', 'decode', 'usage',
  'closed', 'tls', 'connection-refused', 'host-not-found', 'policy-denied', 'io', 'timeout', 'trap',
]);

const INT_FIELDS = new Set(['P', 'p', 'L']);

// ---------------------------------------------------------------------------------------------
// Escaping

const UNESCAPE = { '@': NUL, '[': ESC, ']': GS, '^': RS, _: US };
const NEEDS_ESCAPE = /[\x00\x1b\x1d\x1e\x1f]/;
const ESCAPE_ALL = /[\x00\x1b\x1d\x1e\x1f]/g;
const ESCAPED = { '\x00': '\x1b@', '\x1b': '\x1b[', '\x1d': '\x1b]', '\x1e': '\x1b^', '\x1f': '\x1b_' };

/** A value as a field: the five structuring characters as U+001B plus a letter. */
export function escape(text) {
  if (!NEEDS_ESCAPE.test(text)) return text;
  return text.replace(ESCAPE_ALL, (c) => ESCAPED[c]);
}

/** Reverses `escape`; an invalid escape is a protocol error. */
export function unescape(field) {
  if (field.indexOf(ESC) < 0) return field;
  const pieces = field.split(ESC);
  let out = pieces[0];
  for (let i = 1; i < pieces.length; i++) {
    const piece = pieces[i];
    const c = piece.length ? UNESCAPE[piece[0]] : undefined;
    if (c === undefined) throw bad('an invalid escape sequence');
    out += c + piece.slice(1);
  }
  return out;
}

function bad(what) {
  return new WasmpgError(`malformed step from the guest: ${what}`, { kind: 'protocol' });
}

// ---------------------------------------------------------------------------------------------
// Requests (byte form: UTF-8, socket bytes raw)

const enc = new TextEncoder();

function pairs(list) {
  let s = '';
  for (const [k, v] of list) s += escape(k) + US + escape(v) + US + RS;
  return s;
}

const utf8 = (s) => enc.encode(s);

export const reqInit = (options) => utf8('n' + GS + pairs(options));
export const reqConnect = (defaults, conninfo) => utf8('c' + GS + pairs(defaults) + GS + conninfo);
export const reqParseConninfo = (defaults, conninfo) => utf8('i' + GS + pairs(defaults) + GS + conninfo);
export const reqOpened = (peer) => utf8(peer == null ? 'o' : 'o' + GS + peer);
/** As reqOpened, with this host's clock (Unix seconds): the guest has none, and TLS validates
 * certificates at this time. */
export const reqOpenedAt = (peer, now) => utf8('o' + GS + (peer ?? '') + GS + String(now));
export const reqOpenFailed = (kind, reason) => utf8('x' + GS + kind + GS + reason);
export const reqPassword = (password) => utf8(password == null ? 'w' : 'w' + GS + password);
/** The answer to `f` without the file: a status (`missing`, `denied`, `too-open`,
 * `unreadable`) and its reason. A file that was read is answered with `reqFileBytes`. */
export const reqFile = (status, text) => utf8('y' + GS + status + GS + text);
export const reqSimpleQuery = (sql) => utf8('s' + GS + sql);
/** Extended query: type OIDs, parameter rows (a row batch), then the SQL. */
export const reqQuery = (types, params, sql) => utf8('q' + GS + types.join(',') + GS + params + GS + sql);
export const reqPrepare = (types, name, sql) => utf8('P' + GS + types.join(',') + GS + name + GS + sql);
export const reqExecute = (params, name) => utf8('X' + GS + params + GS + name);
export const reqCloseStatement = (name) => utf8('L' + GS + name);
export const reqCancel = (token) => utf8('k' + GS + token);
export const REQ_EOF = utf8('e');
export const REQ_TERMINATE = utf8('t');
export const REQ_CANCEL_TOKEN = utf8('K');

function tagged(tag, bytes) {
  const out = new Uint8Array(bytes.length + 1);
  out[0] = tag;
  out.set(bytes, 1);
  return out;
}

/** Bytes from the server: `d` and the bytes, raw. */
export const reqData = (chunk) => tagged(0x64, chunk);

/** COPY FROM STDIN data (action `i`): `D` and the bytes, raw. */
export const reqCopyData = (chunk) => tagged(0x44, chunk);
/** The end of COPY FROM STDIN's data (CopyDone). */
export const REQ_COPY_DONE = utf8('F');
/** Abort COPY FROM STDIN (CopyFail): the server fails it with SQLSTATE 57014 and this reason. */
export const reqCopyFail = (reason) => utf8('f' + GS + reason);

/** The answer to `f` with the file that was read: `Y` and its bytes, raw (certificates and keys
 * may be DER). */
export const reqFileBytes = (bytes) => tagged(0x59, bytes);

// ---------------------------------------------------------------------------------------------
// Steps

const DIGITS = /^(0|[1-9][0-9]*)$/;

function uint(raw, hi, what) {
  if (!DIGITS.test(raw)) throw bad(`${what} is not a number: ${JSON.stringify(raw.slice(0, 20))}`);
  const v = Number(raw);
  if (v > hi) throw bad(`${what} out of range: ${raw.slice(0, 20)}`);
  return v;
}

function uint64(raw, what) {
  if (!DIGITS.test(raw)) throw bad(`${what} is not a number: ${JSON.stringify(raw.slice(0, 20))}`);
  const v = BigInt(raw);
  if (v > 0xffffffffffffffffn) throw bad(`${what} out of range: ${raw.slice(0, 20)}`);
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function sint(raw, bits, what) {
  const digits = raw[0] === '-' ? raw.slice(1) : raw;
  if (!DIGITS.test(digits) || raw === '-0') throw bad(`${what} is not a number: ${JSON.stringify(raw.slice(0, 20))}`);
  const v = Number(raw);
  const lim = 2 ** (bits - 1);
  if (v < -lim || v >= lim) throw bad(`${what} out of range: ${raw.slice(0, 20)}`);
  return v;
}

const U16 = 0xffff;
const U32 = 0xffffffff;

function field(raw) {
  if (raw === NUL) return null;
  return raw.indexOf(ESC) >= 0 ? unescape(raw) : raw;
}

function text(raw, what) {
  if (raw === NUL) throw bad(`${what} is absent`);
  return raw.indexOf(ESC) >= 0 ? unescape(raw) : raw;
}

function flag(raw, what) {
  if (raw === '1') return true;
  if (raw === '0') return false;
  throw bad(`${what} is not 0 or 1`);
}

function target(kind, host, port) {
  if (kind === 't') return { kind: 'tcp', host: text(host, 'host'), port: uint(port, U16, 'port') };
  if (kind === 'u') {
    text(port, 'port');
    return { kind: 'unix', path: text(host, 'socket path') };
  }
  throw bad(`unknown target kind ${JSON.stringify(kind.slice(0, 8))}`);
}

/**
 * @typedef {{ name: string, dataTypeID: number, dataTypeModifier: number, tableID: number,
 *   columnID: number, dataTypeSize: number }} Column
 */

function columns(f, at) {
  const n = uint(f[at], f.length, 'column count');
  const end = at + 1 + 6 * n;
  if (end > f.length) throw bad(`a column count of ${n} with ${f.length - at - 1} fields left`);
  /** @type {Column[]} */
  const cols = [];
  for (let i = at + 1; i < end; i += 6) {
    cols.push({
      name: text(f[i], 'column name'),
      dataTypeID: uint(f[i + 1], U32, 'type oid'),
      dataTypeModifier: sint(f[i + 2], 32, 'type modifier'),
      tableID: uint(f[i + 3], U32, 'table oid'),
      columnID: sint(f[i + 4], 16, 'column number'),
      dataTypeSize: sint(f[i + 5], 16, 'type size'),
    });
  }
  return [cols, end];
}

/** Server fields, each its one-letter code then the value, by node-postgres's names. */
function dbFields(list) {
  /** @type {Record<string, string>} */
  const out = {};
  for (const raw of list) {
    if (!raw || !/^[A-Za-z0-9]/.test(raw)) throw bad('an error field without its code');
    const name = FIELD_NAMES[raw[0]];
    if (name === undefined) continue; // a field this driver does not show
    let value = raw.slice(1);
    if (value.indexOf(ESC) >= 0) value = unescape(value);
    if (INT_FIELDS.has(raw[0]) && !/^[0-9]+$/.test(value)) continue;
    out[name] = value;
  }
  return out;
}

function record(rec) {
  const f = rec.split(US);
  const tag = f[0];
  if (tag.length !== 1) {
    if (!tag) throw bad('an empty record');
    throw bad(`record ${JSON.stringify(tag.slice(0, 8))}: text between the tag and its first field`);
  }
  return f;
}

/** Decoded RowDescriptions by their record text (a statement run again describes its result
 * with the same text); the arrays are shared and never modified. */
const columnsSeen = new Map();

function event(rec) {
  const cached = columnsSeen.get(rec);
  if (cached !== undefined) return { tag: 'C', columns: cached };
  const f = record(rec);
  const tag = f[0];
  const n = f.length - 1;
  switch (tag) {
    case 'R':
      if (n !== 2) throw bad(`a rows event with ${n} fields`);
      return { tag, count: uint(f[1], U32, 'row count'), escaped: flag(f[2], 'escaped'), batch: '' };
    case 'K':
      if (n !== 2) throw bad(`a complete event with ${n} fields`);
      return { tag, command: text(f[1], 'tag'), rowCount: f[2] === NUL ? null : uint64(f[2], 'row count') };
    case 'C': {
      if (n < 1) throw bad('a columns event without its count');
      const [cols, end] = columns(f, 1);
      if (end !== f.length) throw bad('a columns event with extra fields');
      if (columnsSeen.size >= 256) columnsSeen.clear();
      columnsSeen.set(rec, cols);
      return { tag, columns: cols };
    }
    case 'E': {
      if (n < 2) throw bad('an error event without its kind and message');
      const kind = text(f[1], 'error kind');
      if (!ERROR_KINDS.has(kind)) throw bad(`unknown error kind ${JSON.stringify(kind.slice(0, 30))}`);
      let fields = n > 2 ? dbFields(f.slice(3)) : null;
      if (fields !== null && Object.keys(fields).length === 0) fields = null;
      return { tag, kind, message: text(f[2], 'message'), fields };
    }
    case 'N':
      return { tag, fields: dbFields(f.slice(1)) };
    case 'S':
      if (n !== 2) throw bad(`a parameter event with ${n} fields`);
      return { tag, name: text(f[1], 'name'), value: text(f[2], 'value') };
    case 'Q':
      if (n) throw bad('an empty-query event with fields');
      return { tag };
    case 'P': {
      if (n < 2) throw bad('a prepared event without its parameters');
      const name = text(f[1], 'statement name');
      const k = uint(f[2], n, 'parameter count');
      if (3 + k >= f.length) throw bad('a prepared event shorter than its parameter count');
      const paramTypes = f.slice(3, 3 + k).map((x) => uint(x, U32, 'parameter type'));
      const [cols, end] = columns(f, 3 + k);
      if (end !== f.length) throw bad('a prepared event with extra fields');
      return { tag, name, paramTypes, columns: cols };
    }
    case 'A':
      if (n !== 3) throw bad(`a notification event with ${n} fields`);
      return { tag, processId: sint(f[1], 32, 'process id'), channel: text(f[2], 'channel'), payload: text(f[3], 'payload') };
    case 'B':
      if (n !== 1) throw bad(`a backend event with ${n} fields`);
      return { tag, processId: sint(f[1], 32, 'process id') };
    case 'T':
      if (n !== 1) throw bad(`a cancel-token event with ${n} fields`);
      return { tag, token: text(f[1], 'token') };
    case 'G':
    case 'H':
      if (n !== 2) throw bad(`a copy ${tag === 'G' ? 'in' : 'out'} event with ${n} fields`);
      return { tag, binary: flag(f[1], 'binary'), columns: uint(f[2], U16, 'column count') };
    case 'D':
      if (n !== 2) throw bad(`a copy data event with ${n} fields`);
      if (f[1] !== 't' && f[1] !== 'l') throw bad(`unknown copy data encoding ${JSON.stringify(f[1].slice(0, 8))}`);
      return { tag, encoding: f[1], escaped: flag(f[2], 'escaped'), data: '' };
    case 'I': {
      if (n < 7) throw bad(`a conninfo event with ${n} fields`);
      const k = uint(f[7], n, 'target count');
      if (n !== 7 + 3 * k) throw bad(`a conninfo event with ${n} fields for ${k} targets`);
      const targets = [];
      for (let i = 8; i < 8 + 3 * k; i += 3) targets.push(target(f[i], f[i + 1], f[i + 2]));
      return {
        tag,
        user: text(f[1], 'user'),
        dbname: text(f[2], 'dbname'),
        connectTimeoutMs: f[3] === NUL ? null : uint(f[3], U32, 'connect timeout'),
        hasPassword: flag(f[4], 'has-password'),
        passfile: field(f[5]),
        sslmode: text(f[6], 'sslmode'),
        targets,
      };
    }
    default:
      throw bad(`unknown event ${JSON.stringify(tag)}`);
  }
}

/**
 * TCP keepalives for an `o` action's socket (libpq's `keepalives*`): `0` (off) or
 * `1,IDLE,INTERVAL,COUNT`, each item empty for the system's default (null here).
 * @typedef {{ enabled: boolean, idleSecs: number | null, intervalSecs: number | null,
 *   count: number | null }} Keepalive
 */

/** @returns {Keepalive} */
export function parseKeepalive(raw) {
  if (raw === '0') return { enabled: false, idleSecs: null, intervalSecs: null, count: null };
  const items = raw.split(',');
  if (items.length !== 4 || items[0] !== '1') throw bad(`a malformed keepalive ${JSON.stringify(raw.slice(0, 40))}`);
  const item = (s, what) => (s === '' ? null : uint(s, U32, what));
  return {
    enabled: true,
    idleSecs: item(items[1], 'keepalive idle time'),
    intervalSecs: item(items[2], 'keepalive interval'),
    count: item(items[3], 'keepalive count'),
  };
}

function action(rec) {
  const f = record(rec);
  const tag = f[0];
  const n = f.length - 1;
  switch (tag) {
    case 'r':
    case 'c':
    case 'i':
      if (n) throw bad(`action ${tag} with fields`);
      return { tag, arg: null };
    case 'd':
      if (n !== 1 || !(f[1] in TX_STATUS)) throw bad('a done action without a transaction status');
      return { tag, arg: TX_STATUS[/** @type {'I'|'T'|'E'} */ (f[1])] };
    case 'o':
      if (n !== 5 && n !== 6) throw bad(`an open action with ${n} fields`);
      return {
        tag,
        arg: {
          target: target(f[1], f[2], f[3]),
          timeoutMs: f[4] === NUL ? null : uint(f[4], U32, 'timeout'),
          address: field(f[5]),
          keepalive: n === 6 ? parseKeepalive(text(f[6], 'keepalive')) : null,
        },
      };
    case 'p':
      if (n !== 4) throw bad(`a need-password action with ${n} fields`);
      return {
        tag,
        arg: { host: text(f[1], 'host'), port: uint(f[2], U16, 'port'), dbname: text(f[3], 'dbname'), user: text(f[4], 'user') },
      };
    case 'f':
      if (n !== 2) throw bad(`a need-file action with ${n} fields`);
      return { tag, arg: { purpose: text(f[1], 'purpose'), path: text(f[2], 'path') } };
    default:
      throw bad(`unknown action ${JSON.stringify(tag)}`);
  }
}

/**
 * @typedef {{ send: Buffer | null, action: string, arg: any, events: any[] }} Step
 */

/** Decoded metadata by its text, for the steps a repeated statement produces again and again
 * (`d` with the same columns, row count and tag; `r`). Only immutable decodings are kept. */
const metaSeen = new Map();
const CACHEABLE_EVENTS = new Set(['C', 'R', 'K', 'Q']);

/**
 * `send-len ":" send action *(RS event) *(GS part)`: one part per R (rows) or D (COPY data)
 * event, in event order.
 * @param {string} step
 * @returns {Step}
 */
export function decodeStep(step) {
  const colon = step.indexOf(':');
  if (colon <= 0) throw bad('no send length');
  const length = step.slice(0, colon);
  if (length.length > 12 || !DIGITS.test(length)) throw bad('the send length is not a number');
  const start = colon + 1;
  const end = start + Number(length);
  if (end > step.length) throw bad('shorter than its send length');
  let send = null;
  if (end > start) {
    const s = step.slice(start, end);
    if (/[^\x00-\xff]/.test(s)) throw bad('a send byte above U+00FF');
    send = Buffer.from(s, 'latin1');
  }
  const gs = step.indexOf(GS, end);
  const meta = gs < 0 ? step.slice(end) : step.slice(end, gs);
  const batches = gs < 0 ? [] : step.slice(gs + 1).split(GS);
  const seen = metaSeen.get(meta);
  if (seen !== undefined) {
    if (batches.length !== seen.nrows) throw bad('a row batch without its rows event');
    if (seen.nrows === 0) return { send, action: seen.action, arg: seen.arg, events: seen.events };
    let used = 0;
    const events = seen.events.map((ev) => (ev.tag === 'R' ? { tag: 'R', count: ev.count, escaped: ev.escaped, batch: batches[used++] } : ev));
    return { send, action: seen.action, arg: seen.arg, events };
  }
  const records = meta.split(RS);
  const act = action(records[0]);
  const events = [];
  let used = 0;
  for (let i = 1; i < records.length; i++) {
    const ev = event(records[i]);
    if (ev.tag === 'R') {
      if (used >= batches.length) throw bad('a rows event without its batch');
      ev.batch = batches[used++];
    } else if (ev.tag === 'D') {
      if (used >= batches.length) throw bad('a copy data event without its data');
      ev.data = batches[used++];
    }
    events.push(ev);
  }
  if (used !== batches.length) throw bad('a row batch or copy data part without its event');
  if ((act.tag === 'r' || act.tag === 'd') && meta.length <= 4096 && events.every((e) => CACHEABLE_EVENTS.has(e.tag))) {
    if (metaSeen.size >= 256) metaSeen.clear();
    metaSeen.set(meta, {
      action: act.tag,
      arg: act.arg,
      events: events.map((e) => (e.tag === 'R' ? { tag: 'R', count: e.count, escaped: e.escaped, batch: '' } : e)),
      nrows: used,
    });
  }
  return { send, action: act.tag, arg: act.arg, events };
}
