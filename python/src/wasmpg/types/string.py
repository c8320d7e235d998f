"""Text types, bytea and uuid.

Text types (text, varchar, bpchar, name, "char") and every type the driver does not know come
back as ``str``, unchanged. A ``str`` parameter is declared with type OID 0 ("unknown"), so the
server infers its type from the context, as psycopg does.

bytea's canonical form holds each byte as the code point of its value (latin-1): one C-speed
``encode``/``decode`` converts it. ``bytes``, ``bytearray`` and ``memoryview`` are bytea
parameters. ``uuid.UUID`` maps to uuid.
"""

from __future__ import annotations

import uuid
from typing import Any

from . import oids


def load_bytea(text: str) -> bytes:
    return text.encode("latin-1")


load_uuid = uuid.UUID


def dump_str(value: str) -> tuple[int, str]:
    return 0, value


def dump_bytes(value: Any) -> tuple[int, str]:
    return oids.BYTEA, bytes(value).decode("latin-1")


def dump_uuid(value: uuid.UUID) -> tuple[int, str]:
    return oids.UUID, str(value)
