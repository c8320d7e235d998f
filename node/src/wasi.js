// The WASI the guest gets: deny-all stubs of the 15 interfaces Rust's standard library links for
// wasm32-wasip2, one set per instance. No environment, no stdin, no exit into the process
// (@bytecodealliance/preview2-shim would hand the guest the real process.env, map its exit to
// process.exit and start a worker thread), output captured into a bounded buffer (a panic
// message reaches the error of the trap it causes), randomness from node:crypto.
import { randomBytes } from 'node:crypto';

const MAX_CAPTURED = 8192;

/** A guest's exit request; thrown out of the call, so the instance traps. */
export class GuestExit extends Error {
  constructor(code) {
    super(`the guest called exit (${code?.tag ?? 'ok'})`);
    this.name = 'GuestExit';
  }
}

/**
 * Builds the import object of one instance and the buffer its output goes to.
 * @returns {{ imports: Record<string, object>, output: () => string }}
 */
export function makeWasi() {
  let captured = '';
  const decoder = new TextDecoder();

  class IoError {
    toDebugString() {
      return 'error';
    }
  }
  class Pollable {
    block() {}
    ready() {
      return true;
    }
  }
  class InputStream {
    read() {
      throw { tag: 'closed' };
    }
    blockingRead() {
      throw { tag: 'closed' };
    }
    subscribe() {
      return new Pollable();
    }
  }
  class OutputStream {
    checkWrite() {
      return 4096n;
    }
    write(bytes) {
      if (captured.length < MAX_CAPTURED) {
        captured += decoder.decode(bytes).slice(0, MAX_CAPTURED - captured.length);
      }
    }
    blockingWriteAndFlush(bytes) {
      this.write(bytes);
    }
    flush() {}
    blockingFlush() {}
    subscribe() {
      return new Pollable();
    }
  }
  class TerminalInput {}
  class TerminalOutput {}

  const stdin = new InputStream();
  const stdout = new OutputStream();
  const stderr = new OutputStream();

  const imports = {
    'wasi:cli/environment': {
      getEnvironment: () => [],
      getArguments: () => [],
      initialCwd: () => undefined,
    },
    'wasi:cli/exit': {
      exit(code) {
        throw new GuestExit(code);
      },
    },
    'wasi:cli/stdin': { getStdin: () => stdin },
    'wasi:cli/stdout': { getStdout: () => stdout },
    'wasi:cli/stderr': { getStderr: () => stderr },
    'wasi:cli/terminal-input': { TerminalInput },
    'wasi:cli/terminal-output': { TerminalOutput },
    'wasi:cli/terminal-stdin': { getTerminalStdin: () => undefined },
    'wasi:cli/terminal-stdout': { getTerminalStdout: () => undefined },
    'wasi:cli/terminal-stderr': { getTerminalStderr: () => undefined },
    'wasi:io/error': { Error: IoError },
    'wasi:io/poll': {
      Pollable,
      poll: (list) => new Uint32Array(list.map((_, i) => i)),
    },
    'wasi:io/streams': { InputStream, OutputStream },
    'wasi:random/random': {
      getRandomBytes: (len) => new Uint8Array(randomBytes(Number(len))),
      getRandomU64: () => randomBytes(8).readBigUInt64LE(0),
    },
    'wasi:random/insecure-seed': {
      insecureSeed: () => {
        const b = randomBytes(16);
        return [b.readBigUInt64LE(0), b.readBigUInt64LE(8)];
      },
    },
  };
  return { imports, output: () => captured };
}
