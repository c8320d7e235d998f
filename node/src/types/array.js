// Arrays, both ways: canonical JSON lists <-> (nested) JavaScript arrays.
//
// Canonical form (docs/design.md): a JSON list, nested once per dimension (lower bounds are
// dropped), each element the JSON string of the element's canonical form, or null. So an array
// result is JSON.parse plus the element type's loader applied to the leaves, and an array
// parameter is the same JSON built from the elements' canonical forms. The rules are the Python
// host's (python/src/wasmpg/types/array.py):
//
// An Array parameter's element type is the type of its first non-null element; integers widen
// across elements (int4, then int8, then numeric) and integers mixed with floats are sent as
// numeric ([1, 2.5] is numeric[]); other mixes are a TypeError. Strings make a text[] (oid 0
// elements have no array type), plain objects a json[] (see json.js). An array with no non-null
// element is sent as an untyped array literal ('{}', '{NULL}', '{{NULL},{NULL}}'...) with oid 0
// and the server infers its type. `undefined` elements are NULL, as in node-postgres. Nesting
// deeper than PostgreSQL's six dimensions (or a list that contains itself) is a TypeError.

import * as oids from './oids.js';

const MAX_DIMS = 6;

/** @type {Map<number, number>} */
const NUMERIC_RANK = new Map([
  [oids.INT4, 0],
  [oids.INT8, 1],
  [oids.NUMERIC, 2],
  [oids.FLOAT8, 3],
]);

/**
 * A loader for an array whose elements are loaded by `element` (null: the strings themselves).
 * @param {((text: string) => unknown) | null} element
 * @returns {(text: string) => unknown[]}
 */
export function makeArrayLoader(element) {
  if (element === null) return (text) => JSON.parse(text);
  /** @param {any[]} list */
  const convert = (list) => {
    for (let i = 0; i < list.length; i++) {
      const v = list[i];
      if (v !== null) list[i] = typeof v === 'string' ? element(v) : convert(v);
    }
    return list;
  };
  return (text) => convert(JSON.parse(text));
}

/**
 * @param {number} a @param {number} b element oids @param {unknown} value the element
 */
function merge(a, b, value) {
  if (a === b) return a;
  const ra = NUMERIC_RANK.get(a);
  const rb = NUMERIC_RANK.get(b);
  if (ra !== undefined && rb !== undefined) {
    if (a === oids.FLOAT8 || b === oids.FLOAT8) return oids.NUMERIC;
    return ra > rb ? a : b;
  }
  throw new TypeError(
    `cannot send an array mixing element types (type oids ${a} and ${b}, ` +
      `at element ${describe(value)})`,
  );
}

/** @param {unknown} value */
function describe(value) {
  if (typeof value === 'string') {
    return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '...' : value);
  }
  if (typeof value === 'bigint') return `${value}n`;
  if (value instanceof Date) return `Date(${value.toISOString()})`;
  return typeof value === 'object' ? Object.prototype.toString.call(value) : String(value);
}

/** @param {unknown[]} value @returns {string} */
function untypedLiteral(value) {
  return '{' + value.map((v) => (Array.isArray(v) ? untypedLiteral(v) : 'NULL')).join(',') + '}';
}

/**
 * [array type oid, canonical JSON] of a (nested) Array; `dumpElement` adapts the leaves and
 * returns [element type oid, canonical text].
 * @param {unknown[]} value
 * @param {(v: unknown) => [number, string | null]} dumpElement
 * @returns {[number, string]}
 */
export function dumpArray(value, dumpElement) {
  let elementOid = -1;
  /** @param {unknown[]} list @param {number} depth @returns {unknown[]} */
  const walk = (list, depth) => {
    if (depth > MAX_DIMS) {
      throw new TypeError(
        'cannot send an array of more than 6 dimensions (or a list that contains itself)',
      );
    }
    const out = new Array(list.length);
    for (let i = 0; i < list.length; i++) {
      const v = list[i];
      if (v === null || v === undefined) {
        out[i] = null;
      } else if (Array.isArray(v)) {
        out[i] = walk(v, depth + 1);
      } else {
        const [oid, text] = dumpElement(v);
        if (text !== null) elementOid = elementOid < 0 ? oid : merge(elementOid, oid, v);
        out[i] = text;
      }
    }
    return out;
  };
  const leaves = walk(value, 1);
  if (elementOid < 0) return [0, untypedLiteral(value)];
  const arrayOid = oids.ARRAY_OF.get(elementOid === 0 ? oids.TEXT : elementOid);
  if (arrayOid === undefined) {
    throw new TypeError(`no array type for elements of type oid ${elementOid}`);
  }
  return [arrayOid, JSON.stringify(leaves)];
}
