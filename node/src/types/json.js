// json and jsonb, both ways: canonical text <-> JavaScript values.
//
// Results: JSON.parse of the canonical form (the server's text), as node-postgres does; numbers
// beyond 2^53 lose precision there as in any JSON.parse.
//
// Parameters: a plain object (prototype Object.prototype or null) is sent as JSON.stringify's
// text with type OID 0, so the server infers json or jsonb from the context, as node-postgres
// sends it. Declaring it json (114) was tried against PostgreSQL 15 and rejected: `$1::jsonb`,
// `INSERT INTO t(jsonb_col) VALUES ($1)` and `UPDATE ... SET jsonb_col = $1` work either way,
// but `jsonb_col = $1`, `jsonb_col @> $1`, `jsonb_set(..., $1)` and `$1 || '{}'::jsonb` fail with
// json ("operator does not exist: jsonb = json"), while all of them work with 0; only a bare
// `$1 ->> 'a'` needs a cast with 0. Inside an array a plain object is a json element (the array
// is json[], 199): text[] cannot be stored in a jsonb[] column, json[] can (assignment cast).
// A JavaScript array is always an SQL array, never JSON: pass JSON.stringify(list) for a JSON
// list.

/** @param {string} text */
export function loadJson(text) {
  return JSON.parse(text);
}

/** @param {unknown} value */
export function isPlainObject(value) {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** JSON.stringify's text of a plain object. @param {object} value */
export function jsonText(value) {
  const text = JSON.stringify(value);
  if (typeof text !== 'string') {
    throw new TypeError('cannot send this object as JSON: JSON.stringify returned no text');
  }
  return text;
}

/** @param {object} value @returns {[number, string]} */
export function dumpObject(value) {
  return [0, jsonText(value)];
}
