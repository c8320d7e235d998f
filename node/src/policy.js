// The host's policies: which targets it opens for the guest (an allow-list, deny by default),
// and which files it reads for it. The same rules as host/src/policy.rs and the Python package
// (conformance/policy.json): targets compare by name as written, never after resolution; host
// names case-insensitively (ASCII, as DNS); IPv6 literals in canonical form without brackets;
// socket paths exactly.
import { isIP } from 'node:net';
import { homedir, userInfo } from 'node:os';
import { isAbsolute, resolve, sep } from 'node:path';
import { realpathSync } from 'node:fs';
import { WasmpgError } from './errors.js';

function normalizeHost(host) {
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const family = isIP(host);
  if (family === 6) {
    // The WHATWG URL parser writes IPv6 addresses in their canonical (RFC 5952) form; a zone id
    // (`%eth0`) is an interface name, kept as written.
    const pct = host.indexOf('%');
    const addr = pct < 0 ? host : host.slice(0, pct);
    const zone = pct < 0 ? '' : host.slice(pct);
    try {
      return new URL(`http://[${addr}]/`).hostname.slice(1, -1) + zone;
    } catch {
      return addr.toLowerCase() + zone;
    }
  }
  if (family === 4) return host;
  return host.replace(/[A-Z]+/g, (s) => s.toLowerCase());
}

/** A target as messages name it: `host:port`, `[v6]:port` or the socket path. */
export function describe(t) {
  if (t.kind === 'tcp') return t.host.includes(':') ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`;
  return t.path;
}

function key(t) {
  return t.kind === 'tcp' ? `tcp ${normalizeHost(t.host)} ${t.port}` : `unix ${t.path}`;
}

export class Policy {
  constructor() {
    /** @type {Array<{kind: 'tcp', host: string, port: number} | {kind: 'unix', path: string}>} */
    this.entries = [];
    this._keys = new Set();
  }

  _add(t) {
    const n = t.kind === 'tcp' ? { kind: 'tcp', host: normalizeHost(t.host), port: t.port } : t;
    this.entries.push(n);
    this._keys.add(key(n));
  }

  /** Exactly the targets a conninfo names. */
  static fromTargets(targets) {
    const p = new Policy();
    for (const t of targets) p._add(t);
    return p;
  }

  /** `HOST:PORT`, `[V6]:PORT` and absolute socket paths. */
  static parse(entries) {
    if (!Array.isArray(entries)) {
      throw new WasmpgError(`allow must be an array of entries such as ['db.example:5432'], not ${typeof entries}`, { kind: 'config' });
    }
    const p = new Policy();
    for (const e of entries) p._add(parseEntry(e));
    return p;
  }

  allows(t) {
    return this._keys.has(key(t));
  }

  toString() {
    return this.entries.length ? 'allow ' + this.entries.map(describe).join(', ') : 'deny all';
  }
}

function parseEntry(entry) {
  const bad = () =>
    new WasmpgError(`invalid allow-list entry ${JSON.stringify(entry)}: expected HOST:PORT, [IPV6]:PORT or an absolute socket path`, { kind: 'config' });
  if (typeof entry !== 'string') throw bad();
  if (entry.startsWith('/')) return { kind: 'unix', path: entry };
  const colon = entry.lastIndexOf(':');
  if (colon < 0) throw bad();
  const host = entry.slice(0, colon);
  const port = entry.slice(colon + 1);
  if (!host || (host.includes(':') && !host.startsWith('['))) throw bad();
  if (!/^[0-9]+$/.test(port) || Number(port) < 1 || Number(port) > 65535) throw bad();
  return { kind: 'tcp', host, port: Number(port) };
}

/** The user's home directory as libpq finds it: `$HOME`, else the passwd entry. */
export function homeDir() {
  if (process.platform === 'win32') return process.env.APPDATA || null;
  if (process.env.HOME) return process.env.HOME;
  try {
    return userInfo().homedir || homedir() || null;
  } catch {
    return null;
  }
}

/** libpq's default password file: `~/.pgpass` (`%APPDATA%\postgresql\pgpass.conf` on Windows). */
export function defaultPassfile() {
  const home = homeDir();
  if (!home) return null;
  return process.platform === 'win32' ? resolve(home, 'postgresql', 'pgpass.conf') : resolve(home, '.pgpass');
}

/** libpq's directory of default TLS files (`root.crt`, `root.crl`, `postgresql.crt`,
 * `postgresql.key`): `~/.postgresql` (`%APPDATA%\postgresql` on Windows). */
export function defaultSslDir() {
  const home = homeDir();
  if (!home) return null;
  return process.platform === 'win32' ? resolve(home, 'postgresql') : resolve(home, '.postgresql');
}

function realpath(p) {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

/** Which files the host reads for the guest (its `f` action): the default password file, the
 * files under `~/.postgresql/` (defaultSslDir), and exactly the paths granted with
 * `allowFiles`. */
export class FilePolicy {
  /** @param {string[] | undefined} granted */
  constructor(granted) {
    /** @type {string[]} */
    this.files = [];
    /** @type {string[]} */
    this.directories = [];
    const passfile = defaultPassfile();
    if (passfile) this.files.push(passfile);
    const sslDir = defaultSslDir();
    if (sslDir) this.directories.push(sslDir);
    if (granted !== undefined) {
      if (!Array.isArray(granted)) throw new WasmpgError('allowFiles must be an array of absolute paths', { kind: 'config' });
      for (const p of granted) {
        if (typeof p !== 'string' || !isAbsolute(p)) {
          throw new WasmpgError(`invalid allowFiles entry ${JSON.stringify(p)}: expected an absolute path`, { kind: 'config' });
        }
        this.files.push(resolve(p));
      }
    }
  }

  allows(path) {
    if (!isAbsolute(path)) return false;
    const p = resolve(path);
    if (this.files.includes(p)) return true;
    const real = realpath(p);
    return this.directories.some((d) => p.startsWith(d + sep) && real.startsWith(realpath(d) + sep));
  }

  toString() {
    const all = [...this.files, ...this.directories.map((d) => d + sep)];
    return all.length ? 'allow ' + all.join(', ') : 'deny all';
  }
}
