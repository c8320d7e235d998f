// The npm package as users get it: `npm pack` gives a tarball that installs into an empty project
// (offline: the package has no run-time dependencies) and works from `import { connect } from
// 'wasmpg'` against a real cluster, with no file of this repository on its path.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCluster } from './cluster.js';

const pkgDir = join(dirname(fileURLToPath(import.meta.url)), '..');
let pg;
let work;
before(() => {
  pg = startCluster();
  work = mkdtempSync(join(tmpdir(), 'wasmpg-pack-'));
});
after(() => {
  pg?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('npm pack, install into an empty project, import { connect } from "wasmpg"', () => {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const out = execFileSync(npm, ['pack', '--silent', '--pack-destination', work], { cwd: pkgDir, encoding: 'utf8' });
  const tarball = join(work, out.trim().split('\n').pop());
  assert.ok(existsSync(tarball), `no tarball: ${out}`);
  const listing = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n');
  for (const f of ['package/src/index.js', 'package/gen/wasmpg.js', 'package/gen/wasmpg.core.wasm', 'package/index.d.ts']) {
    assert.ok(listing.includes(f), `${f} is not in the tarball`);
  }
  assert.ok(!listing.some((f) => f.startsWith('package/test/') || f.startsWith('package/node_modules/')), 'tests or node_modules packed');

  const project = join(work, 'project');
  execFileSync('mkdir', ['-p', project]);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', type: 'module', private: true }));
  execFileSync(npm, ['install', '--offline', '--no-audit', '--no-fund', '--loglevel=error', tarball], { cwd: project, encoding: 'utf8' });
  assert.deepEqual(readdirSync(join(project, 'node_modules')).filter((d) => !d.startsWith('.')), ['wasmpg']);
  writeFileSync(
    join(project, 'main.js'),
    `import { connect, VERSION } from 'wasmpg';
const c = await connect(process.argv[2]);
const r = await c.query('SELECT $1::int + 1 AS n, version() AS v', [41]);
await c.end();
console.log(JSON.stringify({ n: r.rows[0].n, pg: r.rows[0].v.startsWith('PostgreSQL'), VERSION }));
`,
  );
  const result = JSON.parse(execFileSync(process.execPath, ['main.js', pg.conninfo], { cwd: project, encoding: 'utf8' }));
  assert.deepEqual(result, { n: 42, pg: true, VERSION: 'wasmpg:driver@0.2.0 step/1' });
});
