// Build step of the npm package: transpiles the committed guest component
// (host/component/wasmpg_guest.wasm, checked against its recorded SHA-256) into gen/ with the
// pinned jco, in its `--instantiation sync` mode (the package compiles the core modules once and
// instantiates them once per connection, with its own deny-all WASI: src/wasi.js).
// WASMPG_GUEST_WASM=/path/x.wasm transpiles another component (no checksum check).
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const pkg = resolve(here, '..');
const gen = join(pkg, 'gen');
const committed = resolve(pkg, '..', 'host', 'component', 'wasmpg_guest.wasm');
const wasm = process.env.WASMPG_GUEST_WASM ? resolve(process.env.WASMPG_GUEST_WASM) : committed;

if (!existsSync(wasm)) {
  if (existsSync(join(gen, 'wasmpg.js'))) {
    // An installed package: gen/ was built before packing.
    process.exit(0);
  }
  console.error(`wasmpg: no component at ${wasm} and no gen/ directory to use`);
  process.exit(1);
}
const bytes = readFileSync(wasm);
const sha = createHash('sha256').update(bytes).digest('hex');
if (wasm === committed) {
  const recorded = readFileSync(committed + '.sha256', 'utf8').split(/\s+/)[0];
  if (recorded !== sha) {
    console.error(`wasmpg: ${wasm} does not match its recorded SHA-256 (${recorded}, got ${sha})`);
    process.exit(1);
  }
}
const stamp = join(gen, 'component.sha256');
if (existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === sha && existsSync(join(gen, 'wasmpg.js'))) {
  process.exit(0);
}
rmSync(gen, { recursive: true, force: true });
mkdirSync(gen, { recursive: true });
const jco = join(pkg, 'node_modules', '@bytecodealliance', 'jco', 'dist', 'jco.js');
execFileSync(process.execPath, [
  jco, 'transpile', wasm,
  '-o', gen,
  '--name', 'wasmpg',
  '--instantiation', 'sync', // instantiate(getCoreModule, imports): one instance per connection
  '--no-typescript',         // the package's own index.d.ts describes its API
  '--no-nodejs-compat',      // the core modules are compiled by src/guest.js, never fetched
  '--quiet',
], { stdio: 'inherit' });
writeFileSync(stamp, sha + '\n');
