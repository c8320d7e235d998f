// interval, both ways: the Interval class, its canonical text `months days microseconds`, and
// an ISO 8601 duration for PostgreSQL.
//
// An Interval holds PostgreSQL's own three fields, exactly: `months` and `days` (numbers, int32)
// and `microseconds` (a bigint, int64). They are independent and each carries its own sign
// (`-1 days +02:00:00` is days -1, microseconds 7200000000): a month is not a fixed number of
// days, nor a day a fixed number of hours across a DST change, so nothing is folded.
//
// The getters break the fields down like node-postgres' postgres-interval and PostgreSQL's
// EXTRACT: `years` is months / 12, `hours`, `minutes`, `seconds` and `milliseconds` come from
// microseconds; each is truncated toward zero and has the sign of the field it comes from
// (microseconds -5400500000, i.e. -01:30:00.5, gives hours -1, minutes -30, seconds 0,
// milliseconds -500). `milliseconds` keeps microseconds as a fraction (0.001 per microsecond).
// Note that `months` is the total (14 for `1 year 2 mons`), not the months after the years as in
// postgres-interval; those are `months % 12`.
//
// PostgreSQL 17's infinite intervals (canonical `infinity`/`-infinity`) load as the numbers
// Infinity/-Infinity, as infinite timestamps do.

import * as oids from './oids.js';

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const US_PER_HOUR = 3600000000n;
const US_PER_MINUTE = 60000000n;
const US_PER_SECOND = 1000000n;

export class Interval {
  /**
   * @param {number} [months] int32
   * @param {number} [days] int32
   * @param {bigint | number} [microseconds] int64; a number must be a safe integer
   */
  constructor(months = 0, days = 0, microseconds = 0n) {
    if (!Number.isInteger(months) || months < INT32_MIN || months > INT32_MAX) {
      throw new RangeError(`Interval months must be an int32 integer, not ${String(months)}`);
    }
    if (!Number.isInteger(days) || days < INT32_MIN || days > INT32_MAX) {
      throw new RangeError(`Interval days must be an int32 integer, not ${String(days)}`);
    }
    let us = microseconds;
    if (typeof us === 'number') {
      if (!Number.isSafeInteger(us)) {
        throw new RangeError(
          `Interval microseconds must be a safe integer or a bigint, not ${String(us)}`,
        );
      }
      us = BigInt(us);
    } else if (typeof us !== 'bigint') {
      throw new TypeError(`Interval microseconds must be a bigint, not ${typeof us}`);
    }
    if (us < INT64_MIN || us > INT64_MAX) {
      throw new RangeError(`Interval microseconds beyond int64: ${us}`);
    }
    /** Months (PostgreSQL's month field, the total: 14 for `1 year 2 mons`). */
    this.months = months === 0 ? 0 : months; // no -0
    /** Days (PostgreSQL's day field). */
    this.days = days === 0 ? 0 : days;
    /** Microseconds (PostgreSQL's time field). @type {bigint} */
    this.microseconds = us;
  }

  /**
   * The Interval of a canonical text `months days microseconds` (three decimal integers
   * separated by single spaces).
   * @param {string} text
   */
  static fromCanonical(text) {
    const a = text.indexOf(' ');
    const b = a < 0 ? -1 : text.indexOf(' ', a + 1);
    if (
      b < 0 ||
      !isInteger(text, 0, a) ||
      !isInteger(text, a + 1, b) ||
      !isInteger(text, b + 1, text.length)
    ) {
      throw new SyntaxError(
        `invalid interval ${JSON.stringify(text)}: expected "months days microseconds"`,
      );
    }
    return new Interval(
      Number(text.slice(0, a)),
      Number(text.slice(a + 1, b)),
      BigInt(text.slice(b + 1)),
    );
  }

  /** months / 12, truncated toward zero. */
  get years() {
    return Math.trunc(this.months / 12);
  }

  /** Whole hours of microseconds (not folded into days), truncated toward zero. */
  get hours() {
    return Number(this.microseconds / US_PER_HOUR);
  }

  /** Whole minutes after the hours, -59..59. */
  get minutes() {
    return Number((this.microseconds % US_PER_HOUR) / US_PER_MINUTE);
  }

  /** Whole seconds after the minutes, -59..59. */
  get seconds() {
    return Number((this.microseconds % US_PER_MINUTE) / US_PER_SECOND);
  }

  /** Milliseconds after the seconds, -999.999..999.999 (microseconds as the fraction). */
  get milliseconds() {
    return Number(this.microseconds % US_PER_SECOND) / 1000;
  }

  /** The canonical text, `months days microseconds`. */
  toCanonical() {
    return `${this.months} ${this.days} ${this.microseconds}`;
  }

  /**
   * An ISO 8601 duration with PostgreSQL's signed fields, `P14M3DT4H5M6.789S` or
   * `P0M-1DT-2H-3M-0.5S`, which PostgreSQL reads in every IntervalStyle (node-postgres' way
   * of sending an object with a toPostgres method, oid 0, works with it).
   */
  toPostgres() {
    const us = this.microseconds;
    const sign = us < 0n ? '-' : '';
    const magnitude = us < 0n ? -us : us;
    const hours = magnitude / US_PER_HOUR;
    const minutes = (magnitude % US_PER_HOUR) / US_PER_MINUTE;
    const seconds = (magnitude % US_PER_MINUTE) / US_PER_SECOND;
    const fraction = magnitude % US_PER_SECOND;
    let secondsText = String(seconds);
    if (fraction !== 0n) {
      secondsText += '.' + String(fraction).padStart(6, '0').replace(/0+$/, '');
    }
    return `P${this.months}M${this.days}DT${sign}${hours}H${sign}${minutes}M${sign}${secondsText}S`;
  }

  /** The same ISO 8601 duration as toPostgres(). */
  toISOString() {
    return this.toPostgres();
  }

  toString() {
    return this.toPostgres();
  }
}

/**
 * True when text[start, end) is an optional `-` and one or more ASCII digits.
 * @param {string} text @param {number} start @param {number} end
 */
function isInteger(text, start, end) {
  let i = start;
  if (text.charCodeAt(i) === 45 /* - */) i++;
  if (i >= end) return false;
  for (; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/**
 * An interval's canonical text as an Interval; `infinity`/`-infinity` as Infinity/-Infinity.
 * @param {string} text
 * @returns {Interval | number}
 */
export function loadInterval(text) {
  if (text === 'infinity') return Infinity;
  if (text === '-infinity') return -Infinity;
  return Interval.fromCanonical(text);
}

/** @param {Interval} value @returns {[number, string]} */
export function dumpInterval(value) {
  return [oids.INTERVAL, value.toCanonical()];
}
