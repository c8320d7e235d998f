// bool, integers, floats and numeric, both ways: canonical text <-> JavaScript values.
//
// Canonical forms (docs/design.md): bool `t`/`f`; integers decimal; float4/float8 the shortest
// exact decimal or `NaN`/`Infinity`/`-Infinity`; numeric the exact decimal or
// `NaN`/`Infinity`/`-Infinity`. All are the server's text unchanged.
//
// Results: bool -> boolean; int2, int4, oid -> number; int8 -> bigint (or, by option, the
// string, or a number when it is a safe integer); float4, float8 -> number; numeric -> the
// canonical string (exact; loaderFor returns null for it).
//
// Parameters: a boolean is bool. A number that is a safe integer is typed as an SQL integer
// literal of the same value would be: int4 if it fits, else int8; every other number (fractions,
// integers beyond 2^53, -0, NaN, +-Infinity) is float8, written with String(n), the shortest text
// that reads back as the same double (`1e+21` and `5e-324` included, which float8's input
// accepts). A bigint is int8, or numeric outside int8's range.

import * as oids from './oids.js';

const INT4_MIN = -2147483648;
const INT4_MAX = 2147483647;
const INT8_MIN = -(2n ** 63n);
const INT8_MAX = 2n ** 63n - 1n;

// -- loaders (canonical text -> JavaScript) --

/** @param {string} text `t` or `f` */
export function loadBool(text) {
  if (text === 't') return true;
  if (text === 'f') return false;
  throw new SyntaxError(`invalid bool ${JSON.stringify(text)}`);
}

/** int2, int4, oid: every value is a safe integer. @param {string} text */
export function loadInt(text) {
  return Number(text);
}

/** float4, float8: Number() reads `NaN`, `Infinity`, `-Infinity` and `-0`. @param {string} text */
export function loadFloat(text) {
  return Number(text);
}

/** int8 as a bigint. @param {string} text */
export function loadInt8(text) {
  return BigInt(text);
}

/**
 * int8 as a number, refused (RangeError) when the value is not a safe integer, which a number
 * would silently round.
 * @param {string} text
 */
export function loadInt8Number(text) {
  const n = Number(text);
  if (Number.isSafeInteger(n)) return n;
  throw new RangeError(
    `int8 value ${text} is beyond Number.MAX_SAFE_INTEGER and would lose precision as a number; ` +
      "use the option int8: 'bigint' (the default) or 'string'",
  );
}

// -- dumpers (JavaScript -> [type oid, canonical text]) --

/** @param {boolean} value @returns {[number, string]} */
export function dumpBoolean(value) {
  return [oids.BOOL, value ? 't' : 'f'];
}

/** @param {number} value @returns {[number, string]} */
export function dumpNumber(value) {
  if (Number.isSafeInteger(value) && !Object.is(value, -0)) {
    return [value >= INT4_MIN && value <= INT4_MAX ? oids.INT4 : oids.INT8, String(value)];
  }
  return [oids.FLOAT8, floatText(value)];
}

/**
 * The float8 text of a number: String() is the shortest round-trip form, and spells NaN,
 * Infinity and -Infinity as PostgreSQL does; only -0 needs care (String(-0) is "0").
 * @param {number} value
 */
export function floatText(value) {
  return Object.is(value, -0) ? '-0' : String(value);
}

/** @param {bigint} value @returns {[number, string]} */
export function dumpBigInt(value) {
  return [value >= INT8_MIN && value <= INT8_MAX ? oids.INT8 : oids.NUMERIC, String(value)];
}
