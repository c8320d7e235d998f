// Text types and bytea, both ways: canonical text <-> JavaScript values.
//
// Text types (text, varchar, bpchar, name, "char"), uuid, numeric and every type the driver does
// not know come back as the canonical string itself (loaderFor returns null for them).
//
// bytea's canonical form holds each byte as the character whose code is the byte's value
// (latin-1), so one Buffer call converts it each way. Results are Buffers (a Uint8Array
// subclass, as node-postgres returns); a Uint8Array (Buffer included) or an ArrayBuffer is a
// bytea parameter. Other typed arrays and DataViews are refused rather than sent as their raw
// memory.
//
// A string parameter is declared with type OID 0 ("unknown", as the Python host and
// node-postgres do), so the server infers its type from the context: '2024-01-01' works for a
// date column, '{1,2}' for an int[] column, '{"a":1}' for jsonb, and so on.

import * as oids from './oids.js';

/** @param {string} text */
export function loadBytea(text) {
  return Buffer.from(text, 'latin1');
}

/** @param {string} value @returns {[number, string]} */
export function dumpString(value) {
  return [0, value];
}

/** @param {Uint8Array | ArrayBuffer} value @returns {[number, string]} */
export function dumpBytes(value) {
  const bytes =
    value instanceof ArrayBuffer
      ? Buffer.from(value)
      : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return [oids.BYTEA, bytes.toString('latin1')];
}
