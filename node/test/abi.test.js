// The packed layout against the shared vectors of conformance/packed.json: every step decodes to
// its expected form, every malformed step is refused with a protocol error, and the request
// encoders write every request vector byte for byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './cluster.js';
import * as A from '../src/abi.js';
import { FIELD_NAMES, WasmpgError } from '../src/errors.js';

const data = JSON.parse(readFileSync(join(REPO, 'conformance', 'packed.json'), 'utf8'));

const TX = { I: 'idle', T: 'in-transaction', E: 'failed' };

function expectedTarget(a) {
  return a.kind === 't' ? { kind: 'tcp', host: a.host, port: a.port } : { kind: 'unix', path: a.host };
}

function expectedFields(list) {
  const out = {};
  for (const { code, value } of list) {
    const name = FIELD_NAMES[code];
    if (name === undefined) continue;
    if ('PpL'.includes(code) && !/^[0-9]+$/.test(value)) continue;
    out[name] = value;
  }
  return out;
}

function expectedColumns(cols) {
  return cols.map((c) => ({
    name: c.name,
    dataTypeID: c.type_oid,
    dataTypeModifier: c.type_modifier,
    tableID: c.table_oid,
    columnID: c.column_number,
    dataTypeSize: c.type_size,
  }));
}

/** The vectors give the keepalive field's text ('0' or '1,IDLE,INTERVAL,COUNT'); the decoder
 * gives it parsed, empty items as null. */
function expectedKeepalive(text) {
  if (text === null) return null;
  if (text === '0') return { enabled: false, idleSecs: null, intervalSecs: null, count: null };
  const [on, idle, interval, count] = text.split(',');
  assert.equal(on, '1');
  const n = (s) => (s === '' ? null : Number(s));
  return { enabled: true, idleSecs: n(idle), intervalSecs: n(interval), count: n(count) };
}

function expectedAction(a) {
  switch (a.action) {
    case 'd':
      return { tag: 'd', arg: TX[a.status] };
    case 'o':
      return { tag: 'o', arg: { target: expectedTarget(a), timeoutMs: a.timeout_ms, address: a.address, keepalive: expectedKeepalive(a.keepalive) } };
    case 'p':
      return { tag: 'p', arg: { host: a.host, port: a.port, dbname: a.dbname, user: a.user } };
    case 'f':
      return { tag: 'f', arg: { purpose: a.purpose, path: a.path } };
    default:
      return { tag: a.action, arg: null };
  }
}

function expectedEvent(e) {
  switch (e.event) {
    case 'C':
      return { tag: 'C', columns: expectedColumns(e.columns) };
    case 'R':
      return { tag: 'R', count: e.row_count, escaped: e.escaped, batch: e.batch };
    case 'K':
      return { tag: 'K', command: e.tag, rowCount: e.row_count };
    case 'Q':
      return { tag: 'Q' };
    case 'P':
      return { tag: 'P', name: e.name, paramTypes: e.param_types, columns: expectedColumns(e.columns) };
    case 'E': {
      const fields = expectedFields(e.fields);
      return { tag: 'E', kind: e.kind, message: e.message, fields: Object.keys(fields).length ? fields : null };
    }
    case 'N':
      return { tag: 'N', fields: expectedFields(e.fields) };
    case 'A':
      return { tag: 'A', processId: e.process_id, channel: e.channel, payload: e.payload };
    case 'S':
      return { tag: 'S', name: e.name, value: e.value };
    case 'B':
      return { tag: 'B', processId: e.process_id };
    case 'T':
      return { tag: 'T', token: e.token };
    case 'G':
    case 'H':
      return { tag: e.event, binary: e.binary, columns: e.columns };
    case 'D':
      return { tag: 'D', encoding: e.encoding, escaped: e.escaped, data: e.data };
    case 'I':
      return {
        tag: 'I',
        user: e.user,
        dbname: e.dbname,
        connectTimeoutMs: e.connect_timeout_ms,
        hasPassword: e.has_password,
        passfile: e.passfile,
        sslmode: e.sslmode,
        targets: e.targets.map(expectedTarget),
      };
    default:
      throw new Error(`unknown event in the vectors: ${e.event}`);
  }
}

for (const c of data.steps) {
  test(`step: ${c.name}`, () => {
    // Twice: the second decoding may come from the metadata cache.
    for (let i = 0; i < 2; i++) {
      const got = A.decodeStep(c.input);
      assert.deepEqual(got.send === null ? [] : [...got.send], c.expected.send);
      assert.deepEqual({ tag: got.action, arg: got.arg }, expectedAction(c.expected.action));
      assert.deepEqual(got.events, c.expected.events.map(expectedEvent));
    }
  });
}

for (const c of data.malformed_steps) {
  test(`malformed step refused: ${c.name}`, () => {
    assert.throws(
      () => A.decodeStep(c.input),
      (e) => e instanceof WasmpgError && e.kind === 'protocol',
    );
  });
}

const pairs = (list) => list.map(({ name, value }) => [name, value]);

function encode(e) {
  switch (e.request) {
    case 'n':
      return A.reqInit(pairs(e.options));
    case 'c':
      return A.reqConnect(pairs(e.defaults), e.conninfo);
    case 'i':
      return A.reqParseConninfo(pairs(e.defaults), e.conninfo);
    case 'o':
      return e.time === undefined ? A.reqOpened(e.address) : A.reqOpenedAt(e.address, e.time);
    case 'x':
      return A.reqOpenFailed(e.kind, e.reason);
    case 'w':
      return A.reqPassword(e.password);
    case 'y':
      return A.reqFile(e.status, e.text);
    case 'Y':
      return A.reqFileBytes(Uint8Array.from(e.bytes));
    case 'd':
      return A.reqData(Uint8Array.from(e.bytes));
    case 'e':
      return A.REQ_EOF;
    case 's':
      return A.reqSimpleQuery(e.sql);
    case 'q':
      return A.reqQuery(e.param_types, e.params, e.sql);
    case 'P':
      return A.reqPrepare(e.param_types, e.name, e.sql);
    case 'X':
      return A.reqExecute(e.params, e.name);
    case 'L':
      return A.reqCloseStatement(e.name);
    case 't':
      return A.REQ_TERMINATE;
    case 'K':
      return A.REQ_CANCEL_TOKEN;
    case 'D':
      return A.reqCopyData(Uint8Array.from(e.bytes));
    case 'F':
      return A.REQ_COPY_DONE;
    case 'f':
      return A.reqCopyFail(e.reason);
    case 'k':
      return A.reqCancel(e.token);
    default:
      throw new Error(`unknown request in the vectors: ${e.request}`);
  }
}

for (const c of data.requests) {
  test(`request encodes: ${c.name}`, () => {
    const want = c.input.bytes ?? [...Buffer.from(c.input.string, 'utf8')];
    assert.deepEqual([...encode(c.expected)], want);
  });
}

test('escape and unescape are inverse on every structuring character', () => {
  const s = 'a\x00b\x1bc\x1dd\x1ee\x1ff';
  assert.equal(A.escape(s), 'a\x1b@b\x1b[c\x1b]d\x1b^e\x1b_f');
  assert.equal(A.unescape(A.escape(s)), s);
  assert.throws(() => A.unescape('x\x1b'), WasmpgError);
  assert.throws(() => A.unescape('x\x1bZ'), WasmpgError);
});
