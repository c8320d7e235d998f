"""Type OIDs (``pg_type.oid``) the driver knows, and array types by element type."""

BOOL = 16
BYTEA = 17
CHAR = 18
NAME = 19
INT8 = 20
INT2 = 21
INT2VECTOR = 22
INT4 = 23
REGPROC = 24
TEXT = 25
OID = 26
TID = 27
XID = 28
CID = 29
JSON = 114
XML = 142
POINT = 600
FLOAT4 = 700
FLOAT8 = 701
UNKNOWN = 705
MONEY = 790
MACADDR = 829
CIDR = 650
CIDR_ARRAY = 651
INET = 869
INET_ARRAY = 1041
BPCHAR = 1042
VARCHAR = 1043
DATE = 1082
TIME = 1083
TIMESTAMP = 1114
TIMESTAMPTZ = 1184
INTERVAL = 1186
TIMETZ = 1266
BIT = 1560
VARBIT = 1562
NUMERIC = 1700
REGCLASS = 2205
UUID = 2950
JSONB = 3802

# array type -> element type (the arrays whose values the guest converts to JSON lists)
ARRAY_ELEMENT = {
    199: JSON,
    1000: BOOL,
    1001: BYTEA,
    1002: CHAR,
    1003: NAME,
    1005: INT2,
    1007: INT4,
    1009: TEXT,
    1014: BPCHAR,
    1015: VARCHAR,
    1016: INT8,
    1021: FLOAT4,
    1022: FLOAT8,
    1028: OID,
    1115: TIMESTAMP,
    1182: DATE,
    1183: TIME,
    1185: TIMESTAMPTZ,
    1187: INTERVAL,
    1231: NUMERIC,
    1270: TIMETZ,
    2951: UUID,
    3807: JSONB,
}

# element type -> array type
ARRAY_OF = {element: array for array, element in ARRAY_ELEMENT.items()}
