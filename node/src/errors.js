// The package's errors: one class, WasmpgError, with `.kind` (the contract's error kind,
// docs/abi.md: 'db', 'policy-denied', 'timeout', 'trap', ...), `.code` (the SQLSTATE, for server
// errors) and every field the server sent under node-postgres's names (severity, detail, hint,
// position, internalPosition, internalQuery, where, schema, table, column, dataType, constraint,
// file, line, routine). Server errors are its subclass DatabaseError, as in node-postgres.

/** The protocol's one-letter field codes -> the property names node-postgres uses. */
export const FIELD_NAMES = {
  S: 'severity',
  V: 'severityNonLocalized',
  C: 'code',
  M: 'message',
  D: 'detail',
  H: 'hint',
  P: 'position',
  p: 'internalPosition',
  q: 'internalQuery',
  W: 'where',
  s: 'schema',
  t: 'table',
  c: 'column',
  d: 'dataType',
  n: 'constraint',
  F: 'file',
  L: 'line',
  R: 'routine',
};

export class WasmpgError extends Error {
  /**
   * @param {string} message
   * @param {{ kind?: string, cause?: unknown }} [options]
   */
  constructor(message, options = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WasmpgError';
    /** The contract's error kind. */
    this.kind = options.kind ?? 'usage';
    /** The SQLSTATE (server errors only). @type {string | undefined} */
    this.code = undefined;
  }
}

/** An error the server reported (ErrorResponse): `.code` is its SQLSTATE. */
export class DatabaseError extends WasmpgError {
  /**
   * @param {string} kind
   * @param {Record<string, string>} fields by node-postgres names
   */
  constructor(kind, fields) {
    super(fields.message ?? 'the server reported an error', { kind });
    this.name = 'DatabaseError';
    for (const [k, v] of Object.entries(fields)) {
      if (k !== 'message') /** @type {any} */ (this)[k] = v;
    }
  }
}

/**
 * The error of a guest `E` event.
 * @param {string} kind
 * @param {string} message
 * @param {Record<string, string> | null} fields
 */
export function fromGuest(kind, message, fields) {
  if (fields !== null) return new DatabaseError(kind, fields);
  return new WasmpgError(message, { kind });
}
