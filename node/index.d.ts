// Types of the npm package `wasmpg` (hand-written; the implementation is plain JavaScript in src/).

/// <reference types="node" />
import { Readable, Writable } from 'node:stream';

/** A column of a result (node-postgres's FieldDef). */
export interface FieldDef {
  name: string;
  dataTypeID: number;
  dataTypeModifier: number;
  tableID: number;
  columnID: number;
  dataTypeSize: number;
}

export interface QueryResult<R = any> {
  /** The command tag's first word ('SELECT', 'INSERT', ...); null for an empty query. */
  command: string | null;
  /** Rows affected or returned; null where the command reports none. */
  rowCount: number | bigint | null;
  rows: R[];
  fields: FieldDef[];
}

export interface QueryConfig {
  text: string;
  values?: unknown[];
  rowMode?: 'object' | 'array';
}

export interface TypeOptions {
  /** int8 results: 'bigint' (default), 'string', or 'number' (an error when not exact). */
  int8?: 'bigint' | 'string' | 'number';
  /** date/timestamp/timestamptz results: 'date' (Date, default) or 'string' (lossless text). */
  dates?: 'date' | 'string';
}

export interface PasswordRequest {
  host: string;
  port: number;
  dbname: string;
  user: string;
}

export interface ConnectOptions {
  /** Targets the driver may open (`HOST:PORT`, `[V6]:PORT`, socket paths); default: the conninfo's. */
  allow?: string[];
  /** Absolute paths of files the guest may have read: password file, TLS certificates, keys and
   * revocation lists (beyond ~/.pgpass and ~/.postgresql/). */
  allowFiles?: string[];
  /** Prepared statements kept per connection (default 256; 0 behind PgBouncer's transaction mode). */
  statementCache?: number;
  /** The largest server message accepted, in bytes (default 64 MiB). */
  maxMessageSize?: number;
  /** Bytes of linear memory the guest may use (default 256 MiB). */
  memoryLimit?: number;
  /** Milliseconds of guest CPU per call; the guest then runs in a Worker that is terminated past it
   * (the limit in wall-clock time, then, on Linux, as much again in the Worker's CPU time). */
  cpuLimit?: number;
  /** Milliseconds a read may wait once connected (default: no limit). */
  readTimeout?: number;
  /** Run-time parameters for the StartupMessage (e.g. { statement_timeout: '5s' }). */
  params?: Record<string, string>;
  /** The PG* variables to use (default: process.env). */
  env?: Record<string, string | undefined>;
  /** Called when neither the conninfo nor the password file has a password (short-lived tokens). */
  password?: (request: PasswordRequest) => string | null | undefined | Promise<string | null | undefined>;
  /** How results are converted. */
  types?: TypeOptions;
  /** Default row shape: objects keyed by column name (default) or arrays. */
  rowMode?: 'object' | 'array';
}

export interface Notification {
  processId: number;
  channel: string;
  payload: string;
}

export declare class WasmpgError extends Error {
  /** The contract's error kind: 'db', 'config', 'authentication', 'protocol', 'message-too-large',
   * 'encode', 'decode', 'usage', 'closed', 'tls', 'connection-refused', 'host-not-found',
   * 'policy-denied', 'io', 'timeout', 'trap'. */
  kind: string;
  /** The SQLSTATE, for errors the server reported. */
  code: string | undefined;
}

/** An error the server reported, with every field it sent (node-postgres's names). */
export declare class DatabaseError extends WasmpgError {
  code: string;
  severity?: string;
  severityNonLocalized?: string;
  detail?: string;
  hint?: string;
  position?: string;
  internalPosition?: string;
  internalQuery?: string;
  where?: string;
  schema?: string;
  table?: string;
  column?: string;
  dataType?: string;
  constraint?: string;
  file?: string;
  line?: string;
  routine?: string;
}

/** The guest instance trapped (memory or CPU bound, or a bug); only that connection is lost. */
export declare class GuestTrap extends WasmpgError {}

/** COPY ... FROM STDIN (`Connection.copyFrom`): write the data, then `end()`. 'finish' is emitted
 * once the server completed the COPY; `destroy(err)` aborts it (nothing is inserted). */
export interface CopyFromStream extends Writable {
  /** The COPY's row count, set when the stream finished (null before). */
  rowCount: number | bigint | null;
}

/** COPY ... TO STDOUT (`Connection.copyTo`): the output as Buffers, read from the server only as
 * fast as they are consumed. */
export interface CopyToStream extends Readable {
  /** The COPY's row count, set when the stream ended (null before). */
  rowCount: number | bigint | null;
}

export declare class Connection {
  readonly processID: number | null;
  readonly parameters: Record<string, string>;
  readonly transactionStatus: 'idle' | 'in-transaction' | 'failed';
  readonly closed: boolean;
  query<R = any>(text: string, values?: unknown[], options?: { rowMode?: 'object' | 'array' }): Promise<QueryResult<R> & QueryResult<R>[]>;
  query<R = any>(config: QueryConfig): Promise<QueryResult<R> & QueryResult<R>[]>;
  queryMany<R = any>(text: string, rows: unknown[][], options?: { rowMode?: 'object' | 'array' }): Promise<QueryResult<R>>;
  stream<R = any>(text: string | QueryConfig, values?: unknown[], options?: { rowMode?: 'object' | 'array' }): AsyncIterable<R>;
  /** COPY ... FROM STDIN as a Writable; queued behind the connection's other requests. */
  copyFrom(sql: string): CopyFromStream;
  /** COPY ... TO STDOUT as a Readable of Buffers; queued behind the connection's other requests. */
  copyTo(sql: string): CopyToStream;
  cancel(): Promise<void>;
  end(): Promise<void>;
  on(event: 'notice', listener: (notice: Error & Record<string, string>) => void): this;
  on(event: 'notification', listener: (n: Notification) => void): this;
  on(event: 'end', listener: () => void): this;
  /** The session ended while idle (the server closed or terminated it). */
  on(event: 'error', listener: (err: WasmpgError) => void): this;
}

export interface PoolClient extends Connection {
  /** Gives the connection back (rolled back if in a transaction); with an error, it is ended. */
  release(err?: unknown): void;
}

export declare class Pool {
  constructor(conninfo: string, options?: ConnectOptions & { max?: number; idleTimeoutMillis?: number });
  readonly totalCount: number;
  readonly idleCount: number;
  readonly waitingCount: number;
  connect(): Promise<PoolClient>;
  query<R = any>(text: string, values?: unknown[], options?: { rowMode?: 'object' | 'array' }): Promise<QueryResult<R> & QueryResult<R>[]>;
  end(): Promise<void>;
}

/** The contract and packed layout the package implements. */
export declare const VERSION: string;

export declare function connect(conninfo: string, options?: ConnectOptions): Promise<Connection>;

export declare namespace types {
  /** An interval as PostgreSQL stores it: months, days and microseconds, kept apart. */
  class Interval {
    constructor(months: number, days: number, microseconds: bigint);
    months: number;
    days: number;
    microseconds: bigint;
  }
  function loaderFor(oid: number, options?: TypeOptions): ((text: string) => unknown) | null;
  function dump(value: unknown): [number, string | null];
}
