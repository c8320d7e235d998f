// The shared allow-list vectors (conformance/policy.json) through the package's Policy, and the
// file policy's defaults.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './cluster.js';
import { Policy, FilePolicy } from '../src/policy.js';
import { WasmpgError } from '../src/errors.js';

const doc = JSON.parse(readFileSync(join(REPO, 'conformance', 'policy.json'), 'utf8'));

test('topic', () => assert.equal(doc.topic, 'policy'));

for (const c of doc.cases) {
  const difference = c.known_difference?.node;
  test(`policy: ${c.name}`, { skip: difference ? `known difference: ${difference}` : false }, () => {
    const { allow, target } = c.input;
    if ('error' in c.expected) {
      assert.throws(
        () => Policy.parse(allow),
        (e) => e instanceof WasmpgError && e.kind === c.expected.error.kind && e.message.includes(c.expected.error.message_contains),
      );
      return;
    }
    const p = Policy.parse(allow);
    const t = target.kind === 'tcp' ? { kind: 'tcp', host: target.host, port: target.port } : { kind: 'unix', path: target.path };
    assert.equal(p.allows(t), c.expected.allowed);
  });
}

test('an allow-list that is not an array is a config error', () => {
  assert.throws(() => Policy.parse(/** @type {any} */ ('db:5432')), (e) => e instanceof WasmpgError && e.kind === 'config');
});

test('the file policy allows the default passfile and ~/.postgresql, and granted paths only', () => {
  const home = process.env.HOME;
  process.env.HOME = '/nonexistent-home';
  try {
    const fp = new FilePolicy(['/etc/granted.conf']);
    assert.equal(fp.allows('/nonexistent-home/.pgpass'), true);
    assert.equal(fp.allows('/nonexistent-home/.postgresql/root.crt'), true);
    assert.equal(fp.allows('/nonexistent-home/.postgresql/../.ssh/id_rsa'), false);
    assert.equal(fp.allows('/etc/granted.conf'), true);
    assert.equal(fp.allows('/etc/passwd'), false);
    assert.equal(fp.allows('relative/.pgpass'), false);
    assert.throws(() => new FilePolicy(['relative']), (e) => e instanceof WasmpgError && e.kind === 'config');
  } finally {
    process.env.HOME = home;
  }
});
