// The Node rows of bench/run: wasmpg's Node host against node-postgres (`pg`, the baseline, a
// devDependency of node/) on the same cluster, in the same process run. Prints a table with
// medians and ratios (wasmpg / pg) and writes JSON.
//
//   node bench/node_bench.mjs --conninfo "host=... port=... user=... dbname=..." [--reps 7] [--json out.json]
//
// Workloads: SELECT 1 (simple protocol, as both drivers send a query without values), a bound
// `SELECT $1::int` (extended protocol), 100,000 rows of (int, text, timestamptz) fetched whole,
// the guest instance creation alone (per connection), and a whole connect (instance + startup).
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const nodeDir = join(here, '..', 'node');
const { connect } = await import(join(nodeDir, 'src', 'index.js'));
const { Guest } = await import(join(nodeDir, 'src', 'guest.js'));
const require = createRequire(join(nodeDir, 'package.json'));
const pg = require('pg');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const conninfo = opt('--conninfo');
const reps = Number(opt('--reps', '7'));
const jsonOut = opt('--json');
if (!conninfo) {
  console.error('usage: node bench/node_bench.mjs --conninfo CONNINFO [--reps N] [--json FILE]');
  process.exit(2);
}
// node-postgres takes its own keyword set; the bench cluster trusts 127.0.0.1.
const kv = Object.fromEntries(conninfo.split(/\s+/).filter(Boolean).map((p) => p.split('=')));
const pgConfig = { host: kv.host, port: Number(kv.port), user: kv.user, database: kv.dbname, password: kv.password };

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

/** Times `n` sequential awaits of each op, alternating the contenders rep by rep (so a change
 * in the machine's load hits both alike); medians over reps of µs per operation. */
async function timeOps(ops, n) {
  for (const op of ops) for (let i = 0; i < Math.min(n, 200); i++) await op(); // warm-up
  const per = ops.map(() => []);
  for (let r = 0; r < reps; r++) {
    for (let k = 0; k < ops.length; k++) {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) await ops[k]();
      per[k].push(((performance.now() - t0) * 1000) / n);
    }
  }
  return per.map(median);
}

const results = [];
function row(workload, unit, wasmpg, baseline) {
  results.push({ workload, unit, wasmpg, pg: baseline, ratio: wasmpg / baseline });
}

const w = await connect(conninfo);
const p = new pg.Client(pgConfig);
await p.connect();

await w.query('CREATE TEMP TABLE IF NOT EXISTS big AS SELECT g AS i, md5(g::text) AS t, now() + g * interval \'1 second\' AS ts FROM generate_series(1, 100000) g');
await p.query('CREATE TEMP TABLE IF NOT EXISTS big AS SELECT g AS i, md5(g::text) AS t, now() + g * interval \'1 second\' AS ts FROM generate_series(1, 100000) g');

const ww = await connect(conninfo, { cpuLimit: 1000 });
await ww.query('SELECT 1');

let [a, b] = await timeOps([() => w.query('SELECT 1'), () => p.query('SELECT 1')], 2000);
row('SELECT 1 round trip', 'µs', a, b);
[a, b] = await timeOps([() => w.query('SELECT $1::int', [42]), () => p.query('SELECT $1::int', [42])], 2000);
row('bound SELECT $1::int round trip', 'µs', a, b);
[a, b] = await timeOps([() => ww.query('SELECT $1::int', [42]), () => p.query('SELECT $1::int', [42])], 2000);
row('bound round trip, Worker mode (cpuLimit)', 'µs', a, b);
const check = (n) => (r) => {
  if (r.rows.length !== n) throw new Error('wrong row count');
};
[a, b] = await timeOps([() => w.query('SELECT i, t, ts FROM big').then(check(100000)), () => p.query('SELECT i, t, ts FROM big').then(check(100000))], 3);
row('100,000 rows (int, text, timestamptz)', 'ms', a / 1000, b / 1000);

const [inst] = await timeOps([async () => new Guest().close()], 50);
results.push({ workload: 'guest instance creation (per connection)', unit: 'ms', wasmpg: inst / 1000, pg: null, ratio: null, target: 'target <= 2 ms' });

[a, b] = await timeOps(
  [
    async () => (await connect(conninfo)).end(),
    async () => {
      const c = new pg.Client(pgConfig);
      await c.connect();
      await c.end();
    },
  ],
  20,
);
row('connect + end', 'ms', a / 1000, b / 1000);
await ww.end();
await w.end();
await p.end();

const fmt = (x) => (x === null ? '-' : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
console.log(`Node ${process.version}: wasmpg (node/) vs node-postgres ${require('pg/package.json').version}, medians of ${reps} reps`);
console.log('| workload | unit | wasmpg | pg | ratio |');
console.log('|---|---|---|---|---|');
for (const r of results) {
  console.log(`| ${r.workload} | ${r.unit} | ${fmt(r.wasmpg)} | ${fmt(r.pg)} | ${r.ratio === null ? r.target : r.ratio.toFixed(2) + 'x'} |`);
}
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ node: process.version, reps, results }, null, 2));
