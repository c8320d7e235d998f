// date, time, timetz, timestamp and timestamptz, both ways: canonical text <-> JavaScript
// values (Date objects, or the canonical strings).
//
// Canonical forms (docs/design.md), identical whatever the session's DateStyle:
//
//   date         YYYY-MM-DD, the year four digits or more, " BC" suffix before year 1,
//                infinity, -infinity
//   time         HH:MM:SS or HH:MM:SS.ffffff (24:00:00 is valid)
//   timetz       time, then +HH:MM or +HH:MM:SS
//   timestamp    YYYY-MM-DD HH:MM:SS[.ffffff][ BC], infinity, -infinity
//   timestamptz  timestamp with the offset right after the time (before " BC")
//
// Results, as node-postgres: a date is a Date at local midnight of that day, a timestamp a Date
// at that local wall-clock time, a timestamptz a Date at that instant; infinity and -infinity
// are the numbers Infinity and -Infinity. A Date holds milliseconds: microseconds are dropped
// (truncated). Years are read in full: 1 BC is year 0, 44 BC year -43, and years after 9999
// work, up to the Date range (+-8.64e15 ms, about 271821 BC to 275760 AD); a value outside it
// throws a RangeError saying to use the option dates: 'string', which returns the canonical
// text unchanged (lossless). time and timetz are always the canonical strings (a Date is not a
// time of day).
//
// Parameters: a Date is a timestamptz, its instant in UTC: `YYYY-MM-DD HH:MM:SS+00:00`, with
// `.ffffff` when the milliseconds are not zero and ` BC` before year 1 (the canonical form the
// guest gives for the same value, which PostgreSQL reads as it is). An invalid Date is a
// TypeError. PostgreSQL's timestamps begin in 4713 BC: the server refuses earlier Dates
// ("timestamp out of range"). A Date sent to a `timestamp` column is converted to the session's
// TimeZone by the server, like any timestamptz.

import * as oids from './oids.js';

const MS_PER_DAY = 86400000;

// -- field parsing --

/**
 * The value of the `count` ASCII digits at text[start], or -1 if one is not a digit.
 * @param {string} text @param {number} start @param {number} count
 */
function digits(text, start, count) {
  let value = 0;
  for (let i = start; i < start + count; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1; // NaN (past the end) fails neither test: checked below
    value = value * 10 + d;
  }
  return value === value ? value : -1;
}

/**
 * Days from 1970-01-01 to the proleptic Gregorian y-m-d (astronomical year: 0 is 1 BC), for any
 * year (Howard Hinnant's days_from_civil).
 * @param {number} y @param {number} m 1-12 @param {number} d
 */
export function daysFromCivil(y, m, d) {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const mp = m > 2 ? m - 3 : m + 9;
  const doy = Math.floor((153 * mp + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/**
 * The fields of a canonical date or timestamp(tz), any year and era. `what` names the type in
 * errors. Throws a SyntaxError when the text is not of that form.
 * @param {string} text
 * @param {boolean} time whether a time follows the date
 * @param {boolean} offset whether an offset follows the time
 * @param {string} what
 */
function parseFields(text, time, offset, what) {
  const fail = () => new SyntaxError(`invalid ${what} ${JSON.stringify(text)}`);
  const n = text.length;
  let i = 0;
  while (i < n && text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) i++;
  if (i < 4 || text.charCodeAt(i) !== 45 || text.charCodeAt(i + 3) !== 45) throw fail();
  let year = Number(text.slice(0, i));
  const month = digits(text, i + 1, 2);
  const day = digits(text, i + 4, 2);
  if (month < 1 || month > 12 || day < 1 || day > 31) throw fail();
  i += 6;
  let hour = 0;
  let minute = 0;
  let second = 0;
  let micro = 0;
  let offsetSeconds = 0;
  if (time) {
    const c0 = text.charCodeAt(i);
    if (c0 !== 32 || text.charCodeAt(i + 3) !== 58 || text.charCodeAt(i + 6) !== 58) throw fail();
    hour = digits(text, i + 1, 2);
    minute = digits(text, i + 4, 2);
    second = digits(text, i + 7, 2);
    if (hour < 0 || hour > 24 || minute < 0 || minute > 59 || second < 0 || second > 59) {
      throw fail();
    }
    i += 9;
    if (text.charCodeAt(i) === 46 /* . */) {
      let end = i + 1;
      while (end < n && end <= i + 6 && text.charCodeAt(end) >= 48 && text.charCodeAt(end) <= 57) {
        end++;
      }
      if (end === i + 1) throw fail();
      micro = digits(text, i + 1, end - i - 1) * 10 ** (6 - (end - i - 1));
      i = end;
    }
    if (offset) {
      const sign = text.charCodeAt(i);
      if (sign !== 43 /* + */ && sign !== 45 /* - */) throw fail();
      const oh = digits(text, i + 1, 2);
      let om = 0;
      let os = 0;
      i += 3;
      if (text.charCodeAt(i) === 58) {
        om = digits(text, i + 1, 2);
        i += 3;
        if (text.charCodeAt(i) === 58) {
          os = digits(text, i + 1, 2);
          i += 3;
        }
      }
      if (oh < 0 || om < 0 || om > 59 || os < 0 || os > 59) throw fail();
      offsetSeconds = (oh * 3600 + om * 60 + os) * (sign === 45 ? -1 : 1);
    }
  }
  if (i < n) {
    if (i + 3 !== n || text.slice(i) !== ' BC') throw fail();
    year = 1 - year;
  }
  return { year, month, day, hour, minute, second, micro, offsetSeconds };
}

/** @param {Date} date @param {string} text @param {string} what */
function checkRange(date, text, what) {
  if (Number.isNaN(date.getTime())) {
    throw new RangeError(
      `${what} ${JSON.stringify(text)} is outside the range of a JavaScript Date; ` +
        "use the option dates: 'string' to get the text",
    );
  }
  return date;
}

/**
 * A Date at local wall-clock time y-m-d h:mi:s.ms, any year (the Date constructor reads years
 * 0-99 as 1900-1999, so those are set with setFullYear).
 * @param {number} y @param {number} m 1-12 @param {number} d
 * @param {number} h @param {number} mi @param {number} s @param {number} ms
 */
function localDate(y, m, d, h, mi, s, ms) {
  if (y >= 100 || y < 0) return new Date(y, m - 1, d, h, mi, s, ms);
  const date = new Date(2000, 0, 1, h, mi, s, ms);
  date.setFullYear(y, m - 1, d);
  return date;
}

// -- loaders --

/**
 * date: a Date at local midnight.
 * @param {string} text
 * @returns {Date | number}
 */
export function loadDate(text) {
  if (text.length === 10 && text.charCodeAt(4) === 45 && text.charCodeAt(7) === 45) {
    const y = digits(text, 0, 4);
    const m = digits(text, 5, 2);
    const d = digits(text, 8, 2);
    if (y >= 100 && m >= 1 && m <= 12 && d >= 1 && d <= 31) return new Date(y, m - 1, d);
  }
  if (text === 'infinity') return Infinity;
  if (text === '-infinity') return -Infinity;
  const f = parseFields(text, false, false, 'date');
  return checkRange(localDate(f.year, f.month, f.day, 0, 0, 0, 0), text, 'date');
}

/**
 * timestamp: a Date at that local wall-clock time.
 * @param {string} text
 * @returns {Date | number}
 */
export function loadTimestamp(text) {
  const n = text.length;
  // 2024-02-29 12:34:56 (19) or 2024-02-29 12:34:56.789000 (26)
  if ((n === 19 || n === 26) && fastDateTime(text, n === 26)) {
    return new Date(F[0], F[1] - 1, F[2], F[3], F[4], F[5], F[6]);
  }
  if (text === 'infinity') return Infinity;
  if (text === '-infinity') return -Infinity;
  const f = parseFields(text, true, false, 'timestamp');
  const ms = Math.floor(f.micro / 1000);
  const date = localDate(f.year, f.month, f.day, f.hour, f.minute, f.second, ms);
  return checkRange(date, text, 'timestamp');
}

/** The fields of the common form's first 19 (or, with a fraction, 26) characters, written by
 * fastDateTime: year, month, day, hour, minute, second, millisecond. */
const F = new Int32Array(7);

/**
 * Reads `YYYY-MM-DD HH:MM:SS[.ffffff]` at the start of `text` into F: true when it has that
 * shape with a year from 100 on and fields in range (anything else takes parseFields' path).
 * @param {string} text
 * @param {boolean} fraction
 */
function fastDateTime(text, fraction) {
  if (
    text.charCodeAt(4) !== 45 ||
    text.charCodeAt(7) !== 45 ||
    text.charCodeAt(10) !== 32 ||
    text.charCodeAt(13) !== 58 ||
    text.charCodeAt(16) !== 58 ||
    (fraction && text.charCodeAt(19) !== 46)
  ) {
    return false;
  }
  const y = digits(text, 0, 4);
  const m = digits(text, 5, 2);
  const d = digits(text, 8, 2);
  const h = digits(text, 11, 2);
  const mi = digits(text, 14, 2);
  const s = digits(text, 17, 2);
  const ms = fraction ? digits(text, 20, 3) : 0;
  if (
    !(
      y >= 100 &&
      m >= 1 && m <= 12 && d >= 1 && d <= 31 &&
      h >= 0 && h <= 24 && mi >= 0 && mi <= 59 && s >= 0 && s <= 59 &&
      ms >= 0 && (!fraction || digits(text, 23, 3) >= 0)
    )
  ) {
    return false;
  }
  F[0] = y;
  F[1] = m;
  F[2] = d;
  F[3] = h;
  F[4] = mi;
  F[5] = s;
  F[6] = ms;
  return true;
}

/**
 * timestamptz: a Date at that instant. The common form, a four-digit year AD with or without a
 * fraction and a `+HH:MM` offset, is read by slicing; everything else by parseFields.
 * @param {string} text
 * @returns {Date | number}
 */
export function loadTimestamptz(text) {
  const n = text.length;
  // 2024-02-29 12:34:56+05:30 (25) or 2024-02-29 12:34:56.789000+05:30 (32)
  const o = n - 6;
  if ((n === 25 || n === 32) && text.charCodeAt(o + 3) === 58 && fastDateTime(text, n === 32)) {
    const sign = text.charCodeAt(o);
    const oh = digits(text, o + 1, 2);
    const om = digits(text, o + 4, 2);
    if ((sign === 43 || sign === 45) && oh >= 0 && om >= 0 && om <= 59) {
      const offsetMinutes = sign === 45 ? -(oh * 60 + om) : oh * 60 + om;
      return new Date(
        daysFromCivil(F[0], F[1], F[2]) * MS_PER_DAY +
          ((F[3] * 60 + F[4] - offsetMinutes) * 60 + F[5]) * 1000 +
          F[6],
      );
    }
  }
  if (text === 'infinity') return Infinity;
  if (text === '-infinity') return -Infinity;
  const f = parseFields(text, true, true, 'timestamptz');
  const ms =
    daysFromCivil(f.year, f.month, f.day) * MS_PER_DAY +
    ((f.hour * 60 + f.minute) * 60 + f.second - f.offsetSeconds) * 1000 +
    Math.floor(f.micro / 1000);
  return checkRange(new Date(ms), text, 'timestamptz'); // beyond +-8.64e15: an invalid Date
}

// -- dumpers --

/** @param {number} value @param {number} width */
function pad(value, width) {
  return String(value).padStart(width, '0');
}

/**
 * A Date as a timestamptz: its instant in UTC, in the canonical form.
 * @param {Date} value
 * @returns {[number, string]}
 */
export function dumpDate(value) {
  const time = value.getTime();
  if (Number.isNaN(time)) throw new TypeError('cannot send an invalid Date as a parameter');
  const year = value.getUTCFullYear();
  const ms = value.getUTCMilliseconds();
  const fraction = ms === 0 ? '' : '.' + pad(ms, 3) + '000';
  if (year >= 1 && year <= 9999) {
    // toISOString: YYYY-MM-DDTHH:MM:SS.mmmZ for these years
    const iso = value.toISOString();
    return [oids.TIMESTAMPTZ, iso.slice(0, 10) + ' ' + iso.slice(11, 19) + fraction + '+00:00'];
  }
  const text =
    pad(year < 1 ? 1 - year : year, 4) +
    '-' + pad(value.getUTCMonth() + 1, 2) +
    '-' + pad(value.getUTCDate(), 2) +
    ' ' + pad(value.getUTCHours(), 2) +
    ':' + pad(value.getUTCMinutes(), 2) +
    ':' + pad(value.getUTCSeconds(), 2) +
    fraction + '+00:00' + (year < 1 ? ' BC' : '');
  return [oids.TIMESTAMPTZ, text];
}
