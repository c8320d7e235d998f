// Conversion between the canonical text forms of docs/design.md and JavaScript values: one
// loader per result column (canonical text -> value), and dump for parameters (value ->
// [type oid, canonical text]).
//
// PostgreSQL             JavaScript (results)                parameters (dump)
// ---------------------  ----------------------------------  ----------------------------------
// bool                   boolean                             boolean
// int2, int4, oid        number                              number: int4/int8 if a safe integer
// int8                   bigint (option: string, number)     bigint: int8, numeric beyond
// float4, float8         number                              other numbers: float8
// numeric                string (exact)                      -
// text types, uuid,      string                              string (oid 0: the server infers)
//   unknown types
// bytea                  Buffer                              Uint8Array, Buffer, ArrayBuffer
// date                   Date, local midnight                -
// timestamp              Date, local time                    -
// timestamptz            Date                                Date (timestamptz, UTC)
//   (date types: infinity -> Infinity, -infinity -> -Infinity; option dates: 'string')
// time, timetz           string                              -
// interval               Interval                            Interval
// json, jsonb            JSON.parse(...)                     plain object (JSON text, oid 0)
// arrays of the above    (nested) Array, null for NULL       Array
//
// An object with a toPostgres() method is sent as its result: a string with oid 0 (the
// node-postgres convention), anything else dumped in turn. null and undefined are SQL NULL.
// Other values (symbols, functions, class instances without toPostgres, boxed primitives) are a
// TypeError. See each family's file for its rules.

import * as oids from './oids.js';
import { makeArrayLoader, dumpArray } from './array.js';
import { loadDate, loadTimestamp, loadTimestamptz, dumpDate } from './datetime.js';
import { Interval, loadInterval, dumpInterval } from './interval.js';
import { loadJson, isPlainObject, jsonText, dumpObject } from './json.js';
import {
  loadBool,
  loadInt,
  loadFloat,
  loadInt8,
  loadInt8Number,
  dumpBoolean,
  dumpNumber,
  dumpBigInt,
} from './numeric.js';
import { loadBytea, dumpString, dumpBytes } from './string.js';

export { oids, Interval };

/** @typedef {((text: string) => unknown) | null} Loader */

/**
 * @typedef {object} LoaderOptions
 * @property {'bigint' | 'string' | 'number'} [int8] int8 as a bigint (default), the decimal
 *   string, or a number (a RangeError when the value is not a safe integer)
 * @property {'date' | 'string'} [dates] date, timestamp and timestamptz as Dates (default) or
 *   as their canonical text
 */

const INT8_LOADERS = { bigint: loadInt8, string: null, number: loadInt8Number };

/**
 * The loader for values of type `oid`: a function from the canonical text to the value, or null
 * when the canonical text itself is the value. Choose it once per result column.
 * @param {number} oid
 * @param {LoaderOptions} [options]
 * @returns {Loader}
 */
export function loaderFor(oid, options = {}) {
  const int8 = options.int8 ?? 'bigint';
  const dates = options.dates ?? 'date';
  if (!Object.hasOwn(INT8_LOADERS, int8)) {
    throw new TypeError(`option int8 must be 'bigint', 'string' or 'number', not ${String(int8)}`);
  }
  if (dates !== 'date' && dates !== 'string') {
    throw new TypeError(`option dates must be 'date' or 'string', not ${String(dates)}`);
  }
  const element = oids.ARRAY_ELEMENT.get(oid);
  if (element !== undefined) return makeArrayLoader(scalarLoader(element, int8, dates));
  return scalarLoader(oid, int8, dates);
}

/**
 * @param {number} oid
 * @param {'bigint' | 'string' | 'number'} int8
 * @param {'date' | 'string'} dates
 * @returns {Loader}
 */
function scalarLoader(oid, int8, dates) {
  switch (oid) {
    case oids.BOOL:
      return loadBool;
    case oids.INT2:
    case oids.INT4:
    case oids.OID:
      return loadInt;
    case oids.INT8:
      return INT8_LOADERS[int8];
    case oids.FLOAT4:
    case oids.FLOAT8:
      return loadFloat;
    case oids.BYTEA:
      return loadBytea;
    case oids.JSON:
    case oids.JSONB:
      return loadJson;
    case oids.DATE:
      return dates === 'date' ? loadDate : null;
    case oids.TIMESTAMP:
      return dates === 'date' ? loadTimestamp : null;
    case oids.TIMESTAMPTZ:
      return dates === 'date' ? loadTimestamptz : null;
    case oids.INTERVAL:
      return loadInterval;
    default:
      // numeric, text types, uuid, time, timetz and every type this module does not know
      return null;
  }
}

/** How deep toPostgres() results may nest before dump gives up (one returning itself). */
const MAX_TO_POSTGRES = 16;

/**
 * [type oid, canonical text] of a parameter; null and undefined are [0, null] (SQL NULL). The
 * type oid is what the driver declares to the server; 0 lets the server infer it.
 * @param {unknown} value
 * @returns {[number, string | null]}
 */
export function dump(value) {
  return dumpValue(value, false, 0);
}

/**
 * dump for the leaves of an array: as dump, but a plain object is a json element.
 * @param {unknown} value
 * @returns {[number, string | null]}
 */
function dumpElement(value) {
  return dumpValue(value, true, 0);
}

/**
 * @param {unknown} value
 * @param {boolean} inArray whether value is an array's element
 * @param {number} depth toPostgres() calls so far
 * @returns {[number, string | null]}
 */
function dumpValue(value, inArray, depth) {
  switch (typeof value) {
    case 'string':
      return dumpString(value);
    case 'number':
      return dumpNumber(value);
    case 'boolean':
      return dumpBoolean(value);
    case 'bigint':
      return dumpBigInt(value);
    case 'undefined':
      return [0, null];
    case 'object':
      break;
    default:
      throw new TypeError(`cannot send a ${typeof value} as a parameter`);
  }
  if (value === null) return [0, null];
  if (Array.isArray(value)) return dumpArray(value, dumpElement);
  if (value instanceof Date) return dumpDate(value);
  if (value instanceof Interval) return dumpInterval(value);
  if (value instanceof Uint8Array || value instanceof ArrayBuffer) return dumpBytes(value);
  const toPostgres = /** @type {{ toPostgres?: unknown }} */ (value).toPostgres;
  if (typeof toPostgres === 'function') {
    const result = toPostgres.call(value);
    if (typeof result === 'string') return [0, result];
    if (depth >= MAX_TO_POSTGRES) {
      throw new TypeError(`toPostgres() results nested more than ${MAX_TO_POSTGRES} deep`);
    }
    return dumpValue(result, inArray, depth + 1);
  }
  if (isPlainObject(value)) return inArray ? [oids.JSON, jsonText(value)] : dumpObject(value);
  if (ArrayBuffer.isView(value)) {
    throw new TypeError(
      `cannot send a ${Object.prototype.toString.call(value).slice(8, -1)} as a parameter: ` +
        'pass a Uint8Array of its bytes for bytea, or Array.from(...) for an array',
    );
  }
  const name = /** @type {{ constructor?: { name?: string } }} */ (value).constructor?.name;
  throw new TypeError(
    `cannot send ${name ? `a ${name}` : 'this object'} as a parameter: give it a toPostgres() ` +
      'method, or pass a string, number, bigint, boolean, Date, Buffer, Interval, Array or ' +
      'plain object',
  );
}
