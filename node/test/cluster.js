// A throwaway PostgreSQL cluster for one test file, through the repository's `pgcluster` binary
// (the crate pgcluster/, which the Rust and Python tests use too): `pgcluster start --json`
// starts it (as the postgres OS user when root) and `pgcluster stop` removes it.
// The binary: $WASMPG_PGCLUSTER, else target/release/pgcluster (built by cargo when missing).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function pgclusterBinary() {
  if (process.env.WASMPG_PGCLUSTER) return process.env.WASMPG_PGCLUSTER;
  const target = process.env.CARGO_TARGET_DIR ?? join(REPO, 'target');
  const path = join(resolve(REPO, target), 'release', 'pgcluster');
  if (!existsSync(path)) {
    execFileSync('cargo', ['build', '--release', '-p', 'wasmpg-pgcluster'], { cwd: REPO, stdio: 'inherit' });
  }
  return path;
}

/**
 * Starts a cluster; `extra` are pgcluster's --set / --hba arguments.
 * @returns {{ host: string, port: number, socket_dir: string, dbname: string, conninfo: string,
 *   unix_conninfo: string, roles: Array<{name: string, password: string | null, method: string}>,
 *   stop: () => void, psql: (sql: string) => string }}
 */
export function startCluster(extra = []) {
  const bin = pgclusterBinary();
  const out = execFileSync(bin, ['start', '--json', '--prefix', 'wasmpg-node-', ...extra], { encoding: 'utf8' });
  const info = JSON.parse(out);
  let stopped = false;
  info.stop = () => {
    if (stopped || process.env.WASMPG_TEST_KEEP === '1') return;
    stopped = true;
    execFileSync(info.stop_command[0], info.stop_command.slice(1), { stdio: 'ignore' });
  };
  /** Runs SQL through psql as the superuser over the Unix socket (for setup, not for checks of
   * the driver itself). */
  info.psql = (sql) =>
    execFileSync(join(info.bindir, 'psql'), ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', info.socket_dir, '-p', String(info.port), '-U', 'postgres', '-d', info.dbname, '-c', sql], {
      encoding: 'utf8',
    });
  return info;
}
