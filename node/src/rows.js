// Row batches to JavaScript rows: one converter per result shape (its columns, the type options
// and the row mode), built once and reused for every batch; one native split per batch and per
// row, a per-column loader (src/types/) for each non-NULL field, unescaping only in batches the
// guest flagged as escaped. Also the other way: parameter rows in the row-batch layout.
import { ESC, NUL, RS, US, escape, unescape } from './abi.js';
import { loaderFor, dump } from './types/index.js';
import { WasmpgError } from './errors.js';

/** @type {WeakMap<object, Map<string, Function>>} */
const converters = new WeakMap();

function optionsKey(types, rowMode) {
  return `${rowMode}/${types?.int8 ?? ''}/${types?.dates ?? ''}`;
}

const SAFE_NAME = /^[^\x00-\x1f]*$/;

/**
 * A function (batch string, escaped flag, output array) that appends the batch's rows.
 * @param {import('./abi.js').Column[]} columns
 * @param {{int8?: string, dates?: string} | undefined} types
 * @param {'object' | 'array'} rowMode
 */
export function converterFor(columns, types, rowMode) {
  let byKey = converters.get(columns);
  if (byKey === undefined) {
    byKey = new Map();
    converters.set(columns, byKey);
  }
  const k = optionsKey(types, rowMode);
  let fn = byKey.get(k);
  if (fn === undefined) {
    fn = build(columns, types, rowMode);
    byKey.set(k, fn);
  }
  return fn;
}

function build(columns, types, rowMode) {
  const n = columns.length;
  const loaders = columns.map((c) => loaderFor(c.dataTypeID, types) ?? identity);
  const names = columns.map((c) => c.name);
  // A row builder with a fixed shape (an object literal or an array literal), generated once per
  // result shape: V8 then creates every row with one hidden class. Column names are written as
  // JSON string literals; a name that an object literal would treat specially (__proto__) or a
  // shape too wide for one literal falls back to a loop.
  let make;
  const v = (i) => `(f[${i}] === NUL ? null : L[${i}](f[${i}]))`;
  if (rowMode === 'array') {
    make = n <= 256 ? new Function('NUL', 'L', `return (f) => [${names.map((_, i) => v(i)).join(', ')}];`)(NUL, loaders) : null;
  } else if (n <= 256 && names.every((x) => x !== '__proto__' && SAFE_NAME.test(x))) {
    make = new Function('NUL', 'L', `return (f) => ({${names.map((x, i) => `${JSON.stringify(x)}: ${v(i)}`).join(', ')}});`)(NUL, loaders);
  } else {
    make = null;
  }
  const slow = (f) => {
    if (rowMode === 'array') {
      const row = new Array(n);
      for (let i = 0; i < n; i++) row[i] = f[i] === NUL ? null : loaders[i](f[i]);
      return row;
    }
    const row = {};
    for (let i = 0; i < n; i++) {
      Object.defineProperty(row, names[i], { value: f[i] === NUL ? null : loaders[i](f[i]), enumerable: true, writable: true, configurable: true });
    }
    return row;
  };
  const one = make ?? slow;
  return (batch, escaped, out) => {
    const rows = batch.split(RS);
    const last = rows.length - 1; // the batch ends with RS: the last piece is empty
    for (let r = 0; r < last; r++) {
      const f = rows[r].split(US);
      if (f.length !== n + 1) throw new WasmpgError(`a row with ${f.length - 1} fields for ${n} columns`, { kind: 'protocol' });
      if (escaped) {
        for (let i = 0; i < n; i++) if (f[i].indexOf(ESC) >= 0) f[i] = unescape(f[i]);
      }
      out.push(one(f));
    }
  };
}

function identity(s) {
  return s;
}

/** The wider of two parameter types seen in one position across rows (0: unknown yet). */
function merge(a, b, position) {
  if (a === b || b === 0) return a;
  if (a === 0) return b;
  const rank = { 23: 0, 20: 1, 1700: 2, 701: 3 };
  if (a in rank && b in rank) {
    if (a === 701 || b === 701) return 1700;
    return rank[a] > rank[b] ? a : b;
  }
  throw new WasmpgError(`parameter $${position + 1} has different types in different rows (oid ${a} and ${b})`, { kind: 'encode' });
}

/**
 * Parameter rows as [type OIDs, row batch]: each value by `dump` (src/types/), every row the
 * same length.
 * @param {unknown[][]} rows
 * @returns {[number[], string]}
 */
export function adaptRows(rows) {
  const width = rows.length ? rows[0].length : 0;
  /** @type {number[]} */
  const oids = new Array(width).fill(0);
  let out = '';
  for (const row of rows) {
    if (!Array.isArray(row)) throw new WasmpgError('parameters must be an array of values', { kind: 'usage' });
    if (row.length !== width) throw new WasmpgError(`parameter rows of different lengths (${width} and ${row.length})`, { kind: 'usage' });
    for (let i = 0; i < width; i++) {
      let oid;
      let text;
      try {
        [oid, text] = dump(row[i]);
      } catch (e) {
        if (e instanceof WasmpgError) throw e;
        throw new WasmpgError(`cannot send parameter $${i + 1}: ${e.message}`, { kind: 'encode', cause: e });
      }
      oids[i] = merge(oids[i], oid, i);
      out += (text === null ? NUL : escape(text)) + US;
    }
    out += RS;
  }
  return [oids, out];
}
