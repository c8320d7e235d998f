// The npm package `wasmpg`: a PostgreSQL driver whose protocol client is the same WebAssembly
// component the Rust and Python hosts load. Modules:
//   connection.js  connect() and Connection (query, queryMany, stream, copyFrom, copyTo, cancel, end)
//   copy.js        COPY FROM STDIN / TO STDOUT as Writable / Readable streams
//   pool.js        Pool
//   session.js     the host half of a session: the step loop, sockets, files, cancel requests
//   channel.js     one socket: connect with the contract's error kinds, reads with backpressure
//   guest.js       one guest instance (jco's transpiled component), its memory bound
//   wasi.js        the deny-all WASI the guest gets
//   abi.js         the packed layout: request encoders, step decoder (docs/abi.md)
//   rows.js        row batches to rows, parameters to row batches
//   types/         canonical text forms <-> JavaScript values, one file per type family
//   policy.js      the allow-list and the file policy
//   env.js         PG* variables and the OS user for the guest
//   errors.js      WasmpgError, DatabaseError
export { connect, Connection } from './connection.js';
export { Pool } from './pool.js';
export { WasmpgError, DatabaseError } from './errors.js';
export { VERSION, GuestTrap } from './guest.js';
export * as types from './types/index.js';
