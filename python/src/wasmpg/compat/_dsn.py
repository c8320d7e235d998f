"""psycopg2's connection-string helpers: ``parse_dsn`` (libpq's keyword/value and URI forms),
``make_dsn``, ``quote_ident``, and the ``encodings`` map of PostgreSQL encoding names to Python
codecs."""

from __future__ import annotations

import re
from typing import Any, Optional
from urllib.parse import unquote

from ..errors import ProgrammingError

__all__ = ["parse_dsn", "make_dsn", "quote_ident", "encodings", "python_encoding", "obscure"]

#: PostgreSQL encoding name -> Python codec (psycopg2's ``extensions.encodings``), with the
#: normalised spellings (no ``_``/``-``, upper case) added as psycopg2 does.
encodings: dict[str, str] = {
    "ABC": "cp1258",
    "ALT": "cp866",
    "BIG5": "big5",
    "EUC_CN": "euccn",
    "EUC_JIS_2004": "euc_jis_2004",
    "EUC_JP": "euc_jp",
    "EUC_KR": "euc_kr",
    "GB18030": "gb18030",
    "GBK": "gbk",
    "ISO_8859_1": "iso8859_1",
    "ISO_8859_2": "iso8859_2",
    "ISO_8859_3": "iso8859_3",
    "ISO_8859_5": "iso8859_5",
    "ISO_8859_6": "iso8859_6",
    "ISO_8859_7": "iso8859_7",
    "ISO_8859_8": "iso8859_8",
    "ISO_8859_9": "iso8859_9",
    "ISO_8859_10": "iso8859_10",
    "ISO_8859_13": "iso8859_13",
    "ISO_8859_14": "iso8859_14",
    "ISO_8859_15": "iso8859_15",
    "ISO_8859_16": "iso8859_16",
    "JOHAB": "johab",
    "KOI8": "koi8_r",
    "KOI8R": "koi8_r",
    "KOI8U": "koi8_u",
    "LATIN1": "iso8859_1",
    "LATIN2": "iso8859_2",
    "LATIN3": "iso8859_3",
    "LATIN4": "iso8859_4",
    "LATIN5": "iso8859_9",
    "LATIN6": "iso8859_10",
    "LATIN7": "iso8859_13",
    "LATIN8": "iso8859_14",
    "LATIN9": "iso8859_15",
    "LATIN10": "iso8859_16",
    "Mskanji": "cp932",
    "ShiftJIS": "cp932",
    "SHIFT_JIS_2004": "shift_jis_2004",
    "SJIS": "cp932",
    "SQL_ASCII": "ascii",
    "TCVN": "cp1258",
    "TCVN5712": "cp1258",
    "UHC": "cp949",
    "UNICODE": "utf_8",
    "UTF8": "utf_8",
    "VSCII": "cp1258",
    "WIN": "cp1251",
    "WIN866": "cp866",
    "WIN874": "cp874",
    "WIN932": "cp932",
    "WIN936": "gbk",
    "WIN949": "cp949",
    "WIN950": "cp950",
    "WIN1250": "cp1250",
    "WIN1251": "cp1251",
    "WIN1252": "cp1252",
    "WIN1253": "cp1253",
    "WIN1254": "cp1254",
    "WIN1255": "cp1255",
    "WIN1256": "cp1256",
    "WIN1257": "cp1257",
    "WIN1258": "cp1258",
    "Windows932": "cp932",
    "Windows936": "gbk",
    "Windows949": "cp949",
    "Windows950": "cp950",
}
for _k, _v in list(encodings.items()):
    encodings[_k.replace("_", "").replace("-", "").upper()] = _v


def python_encoding(name: str) -> str:
    """A PostgreSQL (or Python) encoding name as a Python codec name."""
    key = name.replace("_", "").replace("-", "").upper()
    return encodings.get(key, name)


def quote_ident(name: str, scope: Any = None) -> str:
    """An identifier, double-quoted (libpq's ``PQescapeIdentifier``)."""
    if isinstance(name, bytes):
        name = name.decode("utf-8")
    if not isinstance(name, str):
        raise TypeError("argument 1 must be a string")
    if "\x00" in name:
        raise ValueError("A string literal cannot contain NUL (0x00) characters.")
    return '"' + name.replace('"', '""') + '"'


_KEY = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*")


def _parse_keywords(dsn: str) -> dict[str, str]:
    out: dict[str, str] = {}
    i = 0
    n = len(dsn)
    while True:
        while i < n and dsn[i].isspace():
            i += 1
        if i >= n:
            return out
        m = _KEY.match(dsn, i)
        if m is None:
            rest = dsn[i:].split("=", 1)[0].strip()
            raise ProgrammingError(
                'invalid dsn: missing "=" after "%s" in connection info string' % rest
            )
        key = m.group(1)
        i = m.end()
        value: list[str] = []
        if i < n and dsn[i] == "'":
            i += 1
            while True:
                if i >= n:
                    raise ProgrammingError(
                        "invalid dsn: unterminated quoted string in connection info string"
                    )
                c = dsn[i]
                if c == "\\" and i + 1 < n:
                    value.append(dsn[i + 1])
                    i += 2
                    continue
                if c == "'":
                    i += 1
                    break
                value.append(c)
                i += 1
        else:
            while i < n and not dsn[i].isspace():
                if dsn[i] == "\\" and i + 1 < n:
                    value.append(dsn[i + 1])
                    i += 2
                    continue
                value.append(dsn[i])
                i += 1
        out[key] = "".join(value)


def _split_hostport(part: str) -> tuple[str, str]:
    if part.startswith("["):
        end = part.find("]")
        if end < 0:
            raise ProgrammingError('invalid dsn: missing "]" in IPv6 host address')
        host = part[1:end]
        rest = part[end + 1 :]
        return host, rest[1:] if rest.startswith(":") else ""
    if ":" in part:
        host, port = part.rsplit(":", 1)
        return host, port
    return part, ""


def _parse_uri(dsn: str) -> dict[str, str]:
    out: dict[str, str] = {}
    rest = dsn.split("://", 1)[1]
    query = ""
    if "?" in rest:
        rest, query = rest.split("?", 1)
    netloc, _, path = rest.partition("/")
    if "@" in netloc:
        userinfo, netloc = netloc.rsplit("@", 1)
        user, sep, password = userinfo.partition(":")
        if user:
            out["user"] = unquote(user)
        if sep:
            out["password"] = unquote(password)
    if netloc:
        hosts = []
        ports = []
        for part in netloc.split(","):
            host, port = _split_hostport(part)
            hosts.append(unquote(host))
            ports.append(port)
        if any(hosts):
            out["host"] = ",".join(hosts)
        if any(ports):
            out["port"] = ",".join(ports)
    if path:
        out["dbname"] = unquote(path)
    if query:
        for item in query.split("&"):
            if not item:
                continue
            key, sep, value = item.partition("=")
            if not sep:
                raise ProgrammingError(
                    'invalid dsn: missing key/value separator "=" in URI query parameter: "%s"'
                    % item
                )
            out[unquote(key)] = unquote(value)
    return out


def parse_dsn(dsn: Any) -> dict[str, str]:
    """The keywords of a connection string (``key=value`` pairs or a ``postgresql://`` URI)."""
    if isinstance(dsn, bytes):
        dsn = dsn.decode("utf-8")
    if not isinstance(dsn, str):
        raise TypeError("parse_dsn() argument 1 must be str, not %s" % type(dsn).__name__)
    if dsn.startswith(("postgresql://", "postgres://")):
        return _parse_uri(dsn)
    return _parse_keywords(dsn)


def _param_escape(s: str) -> str:
    """libpq's keyword/value quoting, as psycopg2's ``make_dsn`` writes it."""
    if not s:
        return "''"
    s = re.sub(r"([\\'])", r"\\\1", s)
    if re.search(r"\s", s):
        s = "'" + s + "'"
    return s


def make_dsn(dsn: Optional[str] = None, **kwargs: Any) -> str:
    """A connection string from a DSN and keywords (the keywords win; None values are
    dropped; ``database`` is ``dbname``), psycopg2's ``make_dsn``."""
    if dsn is None and not kwargs:
        return ""
    if not kwargs:
        assert dsn is not None
        parse_dsn(dsn)
        return dsn
    if "database" in kwargs:
        if "dbname" in kwargs:
            raise TypeError("you can't specify both 'database' and 'dbname' arguments")
        kwargs["dbname"] = kwargs.pop("database")
    params = {k: v for k, v in kwargs.items() if v is not None}
    if dsn is not None:
        merged: dict[str, Any] = dict(parse_dsn(dsn))
        merged.update(params)
        params = merged
    out = " ".join("%s=%s" % (k, _param_escape(str(v))) for k, v in params.items())
    parse_dsn(out)
    return out


def obscure(dsn: str) -> str:
    """The DSN with its password replaced by ``xxx`` (psycopg2's ``connection.dsn``)."""
    try:
        params = parse_dsn(dsn)
    except ProgrammingError:
        return dsn
    if "password" not in params:
        return dsn
    params["password"] = "xxx"
    return " ".join("%s=%s" % (k, _param_escape(v)) for k, v in params.items())
