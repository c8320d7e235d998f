// Tests of node/src/types: the shared canonical-form vectors (conformance/canonical.json,
// expected.node) through loaderFor, the loader options, dump's parameter forms, and dump ->
// loader round trips. Needs no database: `node --test node/test/types.test.js`.

// Local-time results are checked in a zone with DST and a pre-1883 local mean time (-04:56:02),
// so a loader that used UTC, or a fixed offset, cannot pass. Set before any Date is made; the
// module under test is imported afterwards.
process.env.TZ = 'America/New_York';

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { inspect } from 'node:util';

const { loaderFor, dump, Interval, oids } = await import('../src/types/index.js');

const VECTORS = JSON.parse(
  readFileSync(new URL('../../conformance/canonical.json', import.meta.url), 'utf8'),
);

/** Loads `text` of type `oid` (the text itself when the loader is null). */
function load(oid, text, options) {
  const loader = loaderFor(oid, options);
  return loader === null ? text : loader(text);
}

/** ISO 8601 year as toISOString writes it: four digits, or a sign and six. */
function isoYear(y) {
  if (y >= 0 && y <= 9999) return String(y).padStart(4, '0');
  return (y < 0 ? '-' : '+') + String(Math.abs(y)).padStart(6, '0');
}

/** A Date's local-time fields in toISOString's form without the Z. */
function localIso(d) {
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return (
    `${isoYear(d.getFullYear())}-${p(d.getMonth() + 1)}-${p(d.getDate())}` +
    `T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`
  );
}

/** Compares a loaded value with its tagged form (conformance/canonical.json expected.node). */
function check(expected, got, where) {
  if (expected === null) {
    assert.equal(got, null, where);
    return;
  }
  switch (expected.type) {
    case 'boolean':
      assert.equal(typeof got, 'boolean', where);
      assert.equal(got, expected.value, where);
      break;
    case 'number':
      assert.equal(typeof got, 'number', where);
      assert.ok(Object.is(got, Number(expected.value)), `${where}: ${got} is not ${expected.value}`);
      break;
    case 'bigint':
      assert.equal(typeof got, 'bigint', where);
      assert.equal(got, BigInt(expected.value), where);
      break;
    case 'string':
      assert.equal(typeof got, 'string', where);
      assert.equal(got, expected.value, where);
      break;
    case 'bytes':
      assert.ok(got instanceof Uint8Array, where);
      assert.equal(Buffer.from(got).toString('hex'), expected.hex, where);
      break;
    case 'json':
      assert.deepEqual(got, expected.value, where);
      break;
    case 'date':
      assert.ok(got instanceof Date, where);
      if ('utc' in expected) assert.equal(got.toISOString(), expected.utc, where);
      else assert.equal(localIso(got), expected.local, where);
      break;
    case 'interval':
      assert.ok(got instanceof Interval, where);
      assert.equal(got.months, expected.value.months, where);
      assert.equal(got.days, expected.value.days, where);
      assert.equal(got.microseconds, BigInt(expected.value.microseconds), where);
      break;
    case 'array':
      assert.ok(Array.isArray(got), where);
      assert.equal(got.length, expected.value.length, where);
      expected.value.forEach((e, i) => check(e, got[i], `${where}[${i}]`));
      break;
    default:
      assert.fail(`unknown tag ${expected.type} in ${where}`);
  }
}

test('the time zone is in effect (local results are not UTC)', () => {
  assert.equal(new Date(2024, 0, 1).getTimezoneOffset(), 300);
  assert.equal(new Date(2024, 6, 1).getTimezoneOffset(), 240);
});

test('conformance/canonical.json: every case through loaderFor', (t) => {
  assert.equal(VECTORS.topic, 'canonical');
  assert.ok(VECTORS.cases.length >= 72);
  let checked = 0;
  for (const c of VECTORS.cases) {
    const difference = c.known_difference;
    if (typeof difference === 'string' || (difference && 'node' in difference)) {
      t.diagnostic(`skipped (known difference): ${c.name}`);
      continue;
    }
    const expected = c.expected.node;
    assert.ok(expected !== undefined, `${c.name}: no expected.node`);
    const { oid } = c.input;
    const canonical = c.expected.canonical;
    if (expected.type === 'error') {
      const loader = loaderFor(oid);
      assert.notEqual(loader, null, c.name);
      assert.throws(() => loader(canonical), (e) => e.constructor.name === expected.value, c.name);
    } else {
      check(expected, load(oid, canonical), c.name);
    }
    checked++;
  }
  assert.equal(checked, VECTORS.cases.length);
});

test('scalars', () => {
  assert.equal(load(oids.BOOL, 't'), true);
  assert.equal(load(oids.BOOL, 'f'), false);
  assert.throws(() => load(oids.BOOL, 'true'), SyntaxError);
  assert.equal(load(oids.INT2, '-32768'), -32768);
  assert.equal(load(oids.OID, '4294967295'), 4294967295);
  assert.ok(Object.is(load(oids.FLOAT8, '-0'), -0));
  assert.equal(load(oids.FLOAT4, '3.4028235e+38'), 3.4028235e38);
  assert.equal(load(oids.FLOAT8, '5e-324'), 5e-324);
  const big = '12345678901234567890.123456789';
  assert.equal(load(oids.NUMERIC, big), big);
  assert.equal(load(oids.TIME, '24:00:00'), '24:00:00');
  assert.equal(load(oids.TIMETZ, '13:00:00+05:30:15'), '13:00:00+05:30:15');
  assert.equal(load(12345, 'unknown type'), 'unknown type');
  assert.equal(load(oids.UNKNOWN, 'x'), 'x');
  assert.deepEqual(load(oids.JSONB, '{"a":[1,null,"\\u0000"]}'), { a: [1, null, '\u0000'] });
  const bytes = load(oids.BYTEA, '\u0000\u00ffA');
  assert.ok(bytes instanceof Uint8Array);
  assert.deepEqual([...bytes], [0, 255, 65]);
});

test('int8 option', () => {
  assert.equal(load(oids.INT8, '-9223372036854775808'), -(2n ** 63n));
  assert.equal(load(oids.INT8, '9223372036854775807', { int8: 'string' }), '9223372036854775807');
  assert.equal(load(oids.INT8, '9007199254740991', { int8: 'number' }), 9007199254740991);
  assert.equal(load(oids.INT8, '-9007199254740991', { int8: 'number' }), -9007199254740991);
  assert.throws(() => load(oids.INT8, '9007199254740992', { int8: 'number' }), (e) => {
    assert.ok(e instanceof RangeError);
    assert.match(e.message, /9007199254740992.*int8: 'bigint'/);
    return true;
  });
  assert.deepEqual(load(1016, '["1",null,"-9223372036854775808"]', { int8: 'string' }), [
    '1',
    null,
    '-9223372036854775808',
  ]);
  assert.deepEqual(load(1016, '["1",null]'), [1n, null]);
  assert.throws(() => loaderFor(oids.INT8, { int8: 'bignum' }), TypeError);
  assert.throws(() => loaderFor(oids.INT8, { dates: 'moment' }), TypeError);
});

test('dates option: the canonical text unchanged', () => {
  for (const [oid, text] of [
    [oids.DATE, '5874897-12-31'],
    [oids.TIMESTAMP, '0044-03-15 12:00:00.123456 BC'],
    [oids.TIMESTAMPTZ, '294276-12-31 23:59:59.999999+00:00'],
    [oids.TIMESTAMPTZ, 'infinity'],
  ]) {
    assert.equal(loaderFor(oid, { dates: 'string' }), null);
    assert.equal(load(oid, text, { dates: 'string' }), text);
  }
  assert.deepEqual(load(1185, '["2024-01-01 00:00:00+00:00",null]', { dates: 'string' }), [
    '2024-01-01 00:00:00+00:00',
    null,
  ]);
  // intervals stay Interval objects
  assert.ok(load(oids.INTERVAL, '0 0 1', { dates: 'string' }) instanceof Interval);
});

/** Random integer in [lo, hi]. Deterministic (xorshift) so failures reproduce. */
let seed = 0x2545f491;
function rand(lo, hi) {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return lo + ((seed >>> 0) % (hi - lo + 1));
}

test('timestamptz: any year, offset and fraction, against Date.parse of the ISO form', () => {
  const p = (n, w = 2) => String(n).padStart(w, '0');
  for (let i = 0; i < 5000; i++) {
    const kind = i % 4;
    // astronomical year: 4-digit AD (the fast path), BC, years 0-99, or beyond 9999
    const year = [rand(100, 9999), rand(-4712, 0), rand(0, 99), rand(10000, 270000)][kind];
    const month = rand(1, 12);
    const day = rand(1, 28);
    const [h, mi, s] = [rand(0, 23), rand(0, 59), rand(0, 59)];
    const micro = rand(0, 3) === 0 ? 0 : rand(1, 999999);
    const [oh, om, os] = [rand(0, 15), rand(0, 3) * 15, rand(0, 5) === 0 ? rand(1, 59) : 0];
    const sign = rand(0, 1) ? '+' : '-';
    const bc = year <= 0;
    const fraction = micro ? '.' + p(micro, 6) : '';
    const offset = `${sign}${p(oh)}:${p(om)}` + (os ? ':' + p(os) : '');
    const text =
      `${p(bc ? 1 - year : year, 4)}-${p(month)}-${p(day)} ${p(h)}:${p(mi)}:${p(s)}${fraction}` +
      `${offset}${bc ? ' BC' : ''}`;
    const iso =
      `${isoYear(year)}-${p(month)}-${p(day)}T${p(h)}:${p(mi)}:${p(s)}.${p(Math.floor(micro / 1000), 3)}` +
      `${sign}${p(oh)}:${p(om)}`;
    const got = load(oids.TIMESTAMPTZ, text);
    assert.ok(got instanceof Date, text);
    assert.equal(got.getTime(), Date.parse(iso) - (sign === '-' ? -os : os) * 1000, text);
  }
});

test('timestamp and date: local wall-clock time, any year', () => {
  const p = (n, w = 2) => String(n).padStart(w, '0');
  for (let i = 0; i < 3000; i++) {
    const year = [rand(100, 9999), rand(-4712, 0), rand(0, 99), rand(10000, 270000)][i % 4];
    const month = rand(1, 12);
    const day = rand(1, 28);
    // 12:00 avoids the DST gap, which Date resolves in its own way
    const [h, mi, s] = [12, rand(0, 59), rand(0, 59)];
    const micro = rand(0, 1) ? 0 : rand(1, 999999);
    const bc = year <= 0;
    const date = `${p(bc ? 1 - year : year, 4)}-${p(month)}-${p(day)}`;
    const ts = `${date} ${p(h)}:${p(mi)}:${p(s)}${micro ? '.' + p(micro, 6) : ''}${bc ? ' BC' : ''}`;
    const local = `${isoYear(year)}-${p(month)}-${p(day)}T`;
    const gotTs = load(oids.TIMESTAMP, ts);
    assert.equal(localIso(gotTs), `${local}${p(h)}:${p(mi)}:${p(s)}.${p(Math.floor(micro / 1000), 3)}`, ts);
    // Date.parse reads an ISO date-time without offset as local time
    assert.equal(gotTs.getTime(), Date.parse(localIso(gotTs)), ts);
    const gotDate = load(oids.DATE, date + (bc ? ' BC' : ''));
    assert.equal(localIso(gotDate), `${local}00:00:00.000`, date);
  }
});

test('dates: edge cases and errors', () => {
  // 1 BC (year 0) is a leap year
  assert.equal(localIso(load(oids.DATE, '0001-02-29 BC')), '0000-02-29T00:00:00.000');
  assert.equal(load(oids.DATE, '0044-03-15').getFullYear(), 44);
  assert.equal(load(oids.TIMESTAMPTZ, '0099-12-31 23:59:59+00:00').toISOString(), '0099-12-31T23:59:59.000Z');
  // microseconds beyond the millisecond are truncated, before and after the epoch
  assert.equal(load(oids.TIMESTAMPTZ, '2024-01-01 00:00:00.999999+00:00').toISOString(), '2024-01-01T00:00:00.999Z');
  assert.equal(
    load(oids.TIMESTAMPTZ, '0044-03-15 00:00:00.000999+00:00 BC').toISOString(),
    '-000043-03-15T00:00:00.000Z',
  );
  // the last instant a Date holds, and beyond
  assert.equal(load(oids.TIMESTAMPTZ, '275760-09-13 00:00:00+00:00').getTime(), 8.64e15);
  assert.equal(load(oids.TIMESTAMPTZ, '271822-04-20 00:00:00+00:00 BC').getTime(), -8.64e15);
  for (const [oid, text] of [
    [oids.TIMESTAMPTZ, '275760-09-13 00:00:00-00:01'],
    [oids.TIMESTAMPTZ, '294276-12-31 23:59:59.999999+00:00'],
    [oids.TIMESTAMP, '294276-12-31 23:59:59'],
    [oids.DATE, '5874897-12-31'],
    [oids.DATE, '999999-01-01 BC'],
  ]) {
    assert.throws(() => load(oid, text), (e) => e instanceof RangeError && /dates: 'string'/.test(e.message), text);
  }
  for (const [oid, text] of [
    [oids.DATE, '2024-13-01'],
    [oids.DATE, '2024-01-00'],
    [oids.DATE, '24-01-01'],
    [oids.DATE, '2024-01-01 AD'],
    [oids.DATE, 'Infinity'],
    [oids.TIMESTAMP, '2024-01-01T00:00:00'],
    [oids.TIMESTAMP, '2024-01-01 00:00:60'],
    [oids.TIMESTAMP, '2024-01-01 00:00:00.'],
    [oids.TIMESTAMPTZ, '2024-01-01 00:00:00'],
    [oids.TIMESTAMPTZ, '2024-01-01 00:00:00+0a:00'],
    [oids.TIMESTAMPTZ, '2024-01-01 00:00:0x+00:00'],
    [oids.TIMESTAMPTZ, '2024-01-01 00:00:00.12345x+00:00'],
    [oids.TIMESTAMPTZ, '2024-01-01 00:00:00+00:00 B'],
  ]) {
    assert.throws(() => load(oid, text), SyntaxError, text);
  }
});

test('Interval: fields, getters and their signs, texts', () => {
  const iv = load(oids.INTERVAL, '14 3 14706789000'); // 1 year 2 mons 3 days 04:05:06.789
  assert.deepEqual(
    [iv.months, iv.days, iv.microseconds, iv.years, iv.hours, iv.minutes, iv.seconds, iv.milliseconds],
    [14, 3, 14706789000n, 1, 4, 5, 6, 789],
  );
  assert.equal(iv.toPostgres(), 'P14M3DT4H5M6.789S');
  const neg = load(oids.INTERVAL, '-14 -1 -5400500001'); // -1 years -2 mons -1 days -01:30:00.500001
  assert.deepEqual(
    [neg.years, neg.hours, neg.minutes, neg.seconds, neg.milliseconds],
    [-1, -1, -30, 0, -500.001],
  );
  assert.equal(neg.toPostgres(), 'P-14M-1DT-1H-30M-0.500001S');
  assert.equal(new Interval(0, -1, 7200000000n).toPostgres(), 'P0M-1DT2H0M0S');
  assert.equal(new Interval(0, 0, 1n).toPostgres(), 'P0M0DT0H0M0.000001S');
  assert.equal(new Interval(0, 0, -61050000n).toPostgres(), 'P0M0DT-0H-1M-1.05S');
  assert.equal(new Interval().toCanonical(), '0 0 0');
  assert.equal(new Interval(1, 2, 3).microseconds, 3n);
  assert.equal(load(oids.INTERVAL, 'infinity'), Infinity);
  assert.equal(load(oids.INTERVAL, '-infinity'), -Infinity);
  const extreme = load(oids.INTERVAL, '-2147483648 -2147483648 -9223372036854775808');
  assert.equal(extreme.microseconds, -(2n ** 63n));
  assert.equal(extreme.toPostgres(), 'P-2147483648M-2147483648DT-2562047788H-0M-54.775808S');
  for (const text of ['1 2', '1 2 3 4', '1  2 3', '1 2 x', '- 2 3', '1.5 2 3', '', '1 2 3 ']) {
    assert.throws(() => load(oids.INTERVAL, text), SyntaxError, JSON.stringify(text));
  }
  assert.throws(() => load(oids.INTERVAL, '2147483648 0 0'), RangeError);
  assert.throws(() => load(oids.INTERVAL, '0 0 9223372036854775808'), RangeError);
  assert.throws(() => new Interval(1.5), RangeError);
  assert.throws(() => new Interval(0, 0, 2 ** 53), RangeError);
  assert.throws(() => new Interval(0, 0, '5'), TypeError);
});

test('dump: scalars', () => {
  const cases = [
    [null, [0, null]],
    [undefined, [0, null]],
    [true, [16, 't']],
    [false, [16, 'f']],
    [0, [23, '0']],
    [-2147483648, [23, '-2147483648']],
    [2147483647, [23, '2147483647']],
    [2147483648, [20, '2147483648']],
    [-9007199254740991, [20, '-9007199254740991']],
    [2 ** 53, [701, '9007199254740992']],
    [1.5, [701, '1.5']],
    [0.1, [701, '0.1']],
    [-0, [701, '-0']],
    [1e21, [701, '1e+21']],
    [5e-324, [701, '5e-324']],
    [-1.7976931348623157e308, [701, '-1.7976931348623157e+308']],
    [NaN, [701, 'NaN']],
    [Infinity, [701, 'Infinity']],
    [-Infinity, [701, '-Infinity']],
    [0n, [20, '0']],
    [-(2n ** 63n), [20, '-9223372036854775808']],
    [2n ** 63n - 1n, [20, '9223372036854775807']],
    [2n ** 63n, [1700, '9223372036854775808']],
    [-(2n ** 63n) - 1n, [1700, '-9223372036854775809']],
    ['', [0, '']],
    ['héllo ☃ {1,2}', [0, 'héllo ☃ {1,2}']],
    [Buffer.from([0, 255, 65]), [17, '\u0000\u00ffA']],
    [new Uint8Array([1, 2, 3, 4]).subarray(1, 3), [17, '\u0002\u0003']],
    [new Uint8Array([0x80, 0xfe]).buffer, [17, '\u0080\u00fe']],
    [new Date(Date.UTC(2024, 1, 29, 12, 34, 56, 789)), [1184, '2024-02-29 12:34:56.789000+00:00']],
    [new Date(Date.UTC(2024, 1, 29, 12, 34, 56)), [1184, '2024-02-29 12:34:56+00:00']],
    [new Date(Date.parse('-000043-03-15T00:00:00.001Z')), [1184, '0044-03-15 00:00:00.001000+00:00 BC']],
    [new Date(Date.parse('0000-12-31T23:59:59Z')), [1184, '0001-12-31 23:59:59+00:00 BC']],
    [new Date(Date.parse('0001-01-01T00:00:00Z')), [1184, '0001-01-01 00:00:00+00:00']],
    [new Date(Date.parse('+010000-01-01T00:00:00Z')), [1184, '10000-01-01 00:00:00+00:00']],
    [new Date(8.64e15), [1184, '275760-09-13 00:00:00+00:00']],
    [new Date(-8.64e15), [1184, '271822-04-20 00:00:00+00:00 BC']],
    [new Interval(14, 3, 14706789000n), [1186, '14 3 14706789000']],
    [new Interval(0, -1, -1n), [1186, '0 -1 -1']],
    [{ a: [1, 'x', null], b: { c: true } }, [0, '{"a":[1,"x",null],"b":{"c":true}}']],
    [Object.assign(Object.create(null), { k: 1 }), [0, '{"k":1}']],
    [{ toPostgres: () => '(1,2)' }, [0, '(1,2)']],
    [{ toPostgres: () => 42 }, [23, '42']],
    [{ toPostgres: () => null }, [0, null]],
    [{ toPostgres: () => new Date(0) }, [1184, '1970-01-01 00:00:00+00:00']],
    [new Interval(14, 3, 14706789000n).toPostgres(), [0, 'P14M3DT4H5M6.789S']],
  ];
  for (const [value, expected] of cases) {
    assert.deepEqual(dump(value), expected, inspect(value));
  }
  const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const [oid, text] = dump(every);
  assert.equal(oid, 17);
  assert.equal(text.length, 256);
  for (let i = 0; i < 256; i++) assert.equal(text.charCodeAt(i), i);
});

test('dump: refused values', () => {
  class Point {
    constructor() {
      this.x = 1;
    }
  }
  const self = { toPostgres() { return this; } };
  for (const value of [
    Symbol('s'),
    () => 1,
    new Point(),
    new Map(),
    new Int32Array(2),
    new DataView(new ArrayBuffer(2)),
    new Number(1),
    new Date(NaN),
    self,
    { a: 1n },
  ]) {
    assert.throws(() => dump(value), TypeError, inspect(value));
  }
  assert.throws(() => dump(new Point()), /a Point as a parameter.*toPostgres/);
  assert.throws(() => dump(new Date('x')), /invalid Date/);
});

test('dump: arrays (the Python host rules)', () => {
  const d = new Date(Date.UTC(2024, 0, 1));
  const cases = [
    [[], [0, '{}']],
    [[null], [0, '{NULL}']],
    [[[null], [undefined]], [0, '{{NULL},{NULL}}']],
    [[1, 2], [1007, '["1","2"]']],
    [[undefined, 1], [1007, '[null,"1"]']],
    [[1, 2 ** 40], [1016, '["1","1099511627776"]']],
    [[2 ** 40, 1], [1016, '["1099511627776","1"]']],
    [[1n, 2], [1016, '["1","2"]']],
    [[1, 2n ** 64n], [1231, '["1","18446744073709551616"]']],
    [[1, 2.5], [1231, '["1","2.5"]']],
    [[2.5, 1n], [1231, '["2.5","1"]']],
    [[1.5, NaN, -Infinity], [1022, '["1.5","NaN","-Infinity"]']],
    [[true, null, false], [1000, '["t",null,"f"]']],
    [['a', null, 'NULL', 'c"d\\'], [1009, '["a",null,"NULL","c\\"d\\\\"]']],
    [[[1, null], [null, 2]], [1007, '[["1",null],[null,"2"]]']],
    [[[[1]]], [1007, '[[["1"]]]']],
    [[d, null], [1185, '["2024-01-01 00:00:00+00:00",null]']],
    [[Buffer.from([0, 255])], [1001, '["\\u0000ÿ"]']],
    [[new Interval(0, 1, 0n)], [1187, '["0 1 0"]']],
    [[{ a: 1 }, null], [199, '["{\\"a\\":1}",null]']],
    [[{ toPostgres: () => 'x' }], [1009, '["x"]']],
  ];
  for (const [value, expected] of cases) {
    assert.deepEqual(dump(value), expected, inspect(value));
  }
  for (const value of [[1, 'a'], [true, 1], ['a', { a: 1 }], [d, 1], [[1], [2.5, 'x']]]) {
    assert.throws(() => dump(value), /mixing element types/);
  }
  assert.throws(() => dump([[[[[[[1]]]]]]]), /more than 6 dimensions/);
  assert.doesNotThrow(() => dump([[[[[[1]]]]]]));
  const cyclic = [1];
  cyclic.push(cyclic);
  assert.throws(() => dump(cyclic), TypeError);
  assert.throws(() => dump([Symbol('x')]), TypeError);
});

test('round trips: dump -> loaderFor', () => {
  const roundTrip = (value) => {
    const [oid, text] = dump(value);
    return load(oid, text);
  };
  // Dates over the whole Date range, BC and beyond 9999 included
  for (let i = 0; i < 3000; i++) {
    const ms =
      i < 4
        ? [0, -1, 8.64e15, -8.64e15][i]
        : Math.round((rand(0, 2 ** 31 - 1) / (2 ** 31 - 1) * 2 - 1) * 8.64e15 - rand(0, 999));
    const got = roundTrip(new Date(ms));
    assert.equal(got.getTime(), ms, String(ms));
  }
  for (const iso of ['-000043-03-15T12:00:00.001Z', '0000-02-29T00:00:00Z', '+010000-01-01T00:00:00.999Z']) {
    assert.equal(roundTrip(new Date(iso)).getTime(), Date.parse(iso), iso);
  }
  for (const n of [0n, 1n, -1n, -(2n ** 63n), 2n ** 63n - 1n]) assert.equal(roundTrip(n), n);
  for (const n of [0, -2147483648, 2147483647, 2 ** 31, -(2 ** 53) + 1, 2 ** 53 - 1]) {
    const got = roundTrip(n);
    assert.equal(typeof got === 'bigint' ? Number(got) : got, n);
  }
  for (let i = 0; i < 2000; i++) {
    const buf = new Float64Array(1);
    new Uint32Array(buf.buffer).set([rand(0, 2 ** 31 - 1) * 2 + rand(0, 1), rand(0, 2 ** 31 - 1) * 2 + rand(0, 1)]);
    const x = buf[0]; // any double, NaN payloads included; safe integers are ints, below
    if (!Number.isSafeInteger(x)) assert.ok(Object.is(roundTrip(x), x), String(x));
  }
  for (const x of [-0, NaN, Infinity, -Infinity, 0.1, 1e21, 5e-324]) assert.ok(Object.is(roundTrip(x), x), String(x));
  const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  assert.deepEqual(roundTrip(every), every);
  assert.deepEqual(roundTrip([[every, null], [null, Buffer.alloc(0)]]), [[every, null], [null, Buffer.alloc(0)]]);
  assert.deepEqual(roundTrip([[1, null, 3], [null, null, 6]]), [[1, null, 3], [null, null, 6]]);
  assert.deepEqual(roundTrip([['a"b', null], ['\\', 'NULL']]), [['a"b', null], ['\\', 'NULL']]);
  assert.deepEqual(roundTrip([1n, null, -(2n ** 63n)]), [1n, null, -(2n ** 63n)]);
  const dates = [new Date(-8.64e15), null, new Date(Date.UTC(2024, 1, 29, 1, 2, 3, 4))];
  assert.deepEqual(roundTrip(dates), dates);
  for (const iv of [new Interval(14, 3, 14706789000n), new Interval(-2147483648, 2147483647, -(2n ** 63n))]) {
    assert.deepEqual(roundTrip(iv), iv);
    assert.deepEqual(roundTrip([iv, null]), [iv, null]);
  }
  assert.deepEqual(load(oids.JSONB, dump({ a: [1, { b: null }], s: 'é\u0000' })[1]), { a: [1, { b: null }], s: 'é\u0000' });
});
