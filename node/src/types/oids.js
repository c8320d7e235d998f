// Type OIDs (pg_type.oid) the Node host knows, and the array types by element type: the same
// table as the Python host's python/src/wasmpg/types/oids.py and the guest's codec.

export const BOOL = 16;
export const BYTEA = 17;
export const CHAR = 18;
export const NAME = 19;
export const INT8 = 20;
export const INT2 = 21;
export const INT4 = 23;
export const TEXT = 25;
export const OID = 26;
export const JSON = 114;
export const FLOAT4 = 700;
export const FLOAT8 = 701;
export const UNKNOWN = 705;
export const BPCHAR = 1042;
export const VARCHAR = 1043;
export const DATE = 1082;
export const TIME = 1083;
export const TIMESTAMP = 1114;
export const TIMESTAMPTZ = 1184;
export const INTERVAL = 1186;
export const TIMETZ = 1266;
export const NUMERIC = 1700;
export const UUID = 2950;
export const JSONB = 3802;

/**
 * Array type -> element type, for the arrays whose values the guest converts to JSON lists.
 * @type {ReadonlyMap<number, number>}
 */
export const ARRAY_ELEMENT = new Map([
  [199, JSON],
  [1000, BOOL],
  [1001, BYTEA],
  [1002, CHAR],
  [1003, NAME],
  [1005, INT2],
  [1007, INT4],
  [1009, TEXT],
  [1014, BPCHAR],
  [1015, VARCHAR],
  [1016, INT8],
  [1021, FLOAT4],
  [1022, FLOAT8],
  [1028, OID],
  [1115, TIMESTAMP],
  [1182, DATE],
  [1183, TIME],
  [1185, TIMESTAMPTZ],
  [1187, INTERVAL],
  [1231, NUMERIC],
  [1270, TIMETZ],
  [2951, UUID],
  [3807, JSONB],
]);

/**
 * Element type -> array type.
 * @type {ReadonlyMap<number, number>}
 */
export const ARRAY_OF = new Map([...ARRAY_ELEMENT].map(([array, element]) => [element, array]));
