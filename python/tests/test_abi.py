"""The packed layout (docs/abi.md): request encoders and the step decoder, against the reference
encoder's vectors (wire/src/tests.rs), and malformed steps that must be InterfaceErrors.

No server and no guest needed. Steps are built here by a small encoder written from the layout
(the reference encoder's rules), so every shape round-trips through `decode_step`.
"""

import json
import os
import random

import pytest

import wasmpg
from wasmpg import _abi as A

GS, RS, US, ESC, NUL = "\x1d", "\x1e", "\x1f", "\x1b", "\x00"


# -- a test-side step encoder (the reference encoder's rules) --


def rec(tag, *fields):
    out = tag
    for f in fields:
        out += US + (NUL if f is None else A.escape(str(f)))
    return out


def target_fields(t):
    kind, value = t
    return ("t", value[0], value[1]) if kind == "tcp" else ("u", value, "")


def keepalive_text(keepalive):
    """The keepalive field of an ``o`` action, from its decoded form."""
    on, idle, interval, count = keepalive
    if not on:
        return "0"
    return "1,%s,%s,%s" % tuple("" if v is None else str(v) for v in (idle, interval, count))


def column_fields(cols):
    out = [len(cols)]
    for c in cols:
        out.extend(c)
    return out


def encode_step(send, action, arg, events):
    if action in ("r", "c", "i"):
        meta = rec(action)
    elif action == "d":
        meta = rec("d", {"idle": "I", "in-transaction": "T", "failed": "E"}[arg])
    elif action == "o":
        (target, timeout, addr, keepalive) = arg
        meta = rec("o", *target_fields(target), timeout, addr)
        if keepalive is not None:
            meta += US + keepalive_text(keepalive)
    elif action == "p":
        meta = rec("p", *arg)
    else:
        meta = rec("f", *arg)
    batches = []
    for tag, p in events:
        if tag == "R":
            meta += RS + rec("R", p[0], "1" if p[1] else "0")
            batches.append(p[2])
        elif tag == "D":
            meta += RS + rec("D", p[0], "1" if p[1] else "0")
            batches.append(p[2])
        elif tag in ("G", "H"):
            meta += RS + rec(tag, "1" if p[0] else "0", p[1])
        elif tag == "C":
            meta += RS + rec("C", *column_fields(p))
        elif tag == "K":
            meta += RS + rec("K", p[0], p[1])
        elif tag == "Q":
            meta += RS + "Q"
        elif tag == "P":
            name, oids, cols = p
            meta += RS + rec("P", name, len(oids), *oids, *column_fields(cols))
        elif tag in ("E", "N"):
            if tag == "E":
                kind, message, db = p
                head = [kind, message]
            else:
                db, head = p, []
            codes = {v: k for k, v in A.DB_FIELD_NAMES.items()}
            fields = [codes[k] + str(v) for k, v in (db or {}).items()]
            meta += RS + rec(tag, *head, *fields)
        elif tag == "A":
            meta += RS + rec("A", *p)
        elif tag == "S":
            meta += RS + rec("S", *p)
        elif tag == "B":
            meta += RS + rec("B", p)
        elif tag == "T":
            meta += RS + rec("T", p)
        elif tag == "I":
            ts = []
            for t in p["targets"]:
                ts.extend(target_fields(t))
            meta += RS + rec(
                "I",
                p["user"],
                p["dbname"],
                p["connect_timeout"],
                "1" if p["has_password"] else "0",
                p["passfile"],
                p["sslmode"],
                len(p["targets"]),
                *ts,
            )
    s = "%d:%s%s" % (len(send), send.decode("latin-1"), meta)
    for b in batches:
        s += GS + b
    return s


def col(name, oid):
    return (name, oid, -1, 0, 0, -1)


DB = {
    "severity": "ERROR",
    "code": "42P01",
    "message": 'relation "x\x1e" does not exist',
    "position": 15,
}

EVERY_STEP = [
    (b"", "r", None, []),
    (b"\x00\x00\x00\x08\x04\xd2\x16/\xff\x1d", "c", None, []),
    (b"", "o", (("tcp", ("db.example", 5432)), 2000, None, None), []),
    (b"", "o", (("tcp", ("db.example", 5432)), None, "[::1]:5432", None), []),
    (b"", "o", (("unix", "/run/postgresql/.s.PGSQL.5432"), None, None, None), []),
    (b"", "o", (("tcp", ("db.example", 5432)), None, None, (True, 30, None, 3)), []),
    (b"", "o", (("tcp", ("h", 1)), 5, "10.0.0.1:1", (True, None, None, None)), []),
    (b"", "o", (("tcp", ("h", 1)), None, None, (True, 0, 4294967295, 1)), []),
    (b"", "o", (("tcp", ("h", 1)), None, None, (False, None, None, None)), []),
    (b"", "p", ("h", 1, "d", "u"), []),
    (b"", "f", ("passfile", "/home/u/.pgpass"), []),
    (
        b"",
        "d",
        "idle",
        [
            ("S", ("TimeZone", "UTC")),
            ("B", 4242),
            ("C", [col("a", 23), col("b\x1f", 25)]),
            ("R", (2, False, "1\x1fx\x1f\x1e2\x1f\x00\x1f\x1e")),
            ("R", (1, True, "3\x1f\x1b]\x1f\x1e")),
            ("K", ("SELECT 3", 3)),
            ("C", []),
            ("R", (1, False, "\x1e")),
            ("K", ("CREATE TABLE", None)),
            ("Q", None),
            ("P", ("s1", [23, 25], [col("x", 16)])),
            ("P", ("", [], [])),
            ("E", ("db", "relation does not exist", DB)),
            ("E", ("timeout", "timed out", None)),
            ("N", DB),
            ("A", (-1, "ch", "")),
            ("T", "opaque\x1dtoken"),
            (
                "I",
                {
                    "targets": [("tcp", ("a", 1)), ("unix", "/tmp/.s.PGSQL.5")],
                    "user": "u",
                    "dbname": "d",
                    "connect_timeout": 2000,
                    "has_password": True,
                    "passfile": None,
                    "sslmode": "prefer",
                },
            ),
        ],
    ),
    (b"Q\x00\x00\x00\x0dselect 1\x00", "r", None, []),
    (b"", "d", "in-transaction", []),
    (b"", "d", "failed", [("E", ("usage", "x\x00y", None))]),
    (b"", "i", None, [("G", (False, 2))]),
    (
        b"",
        "d",
        "idle",
        [
            ("H", (True, 1)),
            ("D", ("l", True, "PGCOPY\n\xff\x1b@")),
            ("R", (1, False, "7\x1f\x1e")),
            ("D", ("t", False, "1\t\xe9\n")),
            ("K", ("COPY 1", 1)),
        ],
    ),
    (b"d\x00\x00\x00\x05x", "i", None, []),
]


@pytest.mark.parametrize("step", EVERY_STEP, ids=range(len(EVERY_STEP)))
def test_steps_round_trip(step):
    assert A.decode_step(encode_step(*step)) == step


def test_step_example():
    s = (
        "0:d\x1fI\x1eC\x1f1\x1fn\x1f23\x1f-1\x1f0\x1f0\x1f4\x1eR\x1f1\x1f0\x1eK\x1fSELECT 1"
        "\x1f1\x1d42\x1f\x1e"
    )
    send, action, arg, events = A.decode_step(s)
    assert (send, action, arg) == (b"", "d", "idle")
    assert events == [
        ("C", [("n", 23, -1, 0, 0, 4)]),
        ("R", (1, False, "42\x1f\x1e")),
        ("K", ("SELECT 1", 1)),
    ]
    assert encode_step(send, action, arg, events) == s


def test_repeated_metadata_decodes_the_same_with_its_own_batches():
    """A statement run again returns the same metadata with other rows: the decoder remembers
    the metadata, and must still pair each rows event with this step's batch, check the number
    of batches, and hand out a list the caller may keep."""
    meta = "0:d\x1fI\x1eC\x1f1\x1fn\x1f23\x1f-1\x1f0\x1f0\x1f4\x1eR\x1f1\x1f0\x1eK\x1fSELECT 1\x1f1"
    first = A.decode_step(meta + "\x1d42\x1f\x1e")
    again = A.decode_step(meta + "\x1d43\x1f\x1e")
    assert first[3][1] == ("R", (1, False, "42\x1f\x1e"))
    assert again[3][1] == ("R", (1, False, "43\x1f\x1e"))
    assert again[3] is not first[3]
    again[3].clear()
    assert A.decode_step(meta + "\x1d44\x1f\x1e")[3][2] == ("K", ("SELECT 1", 1))
    for bad in (meta, meta + "\x1d42\x1f\x1e\x1d43\x1f\x1e"):
        with pytest.raises(wasmpg.InterfaceError):
            A.decode_step(bad)
    # Metadata holding an error is decoded afresh every time (its fields are a dict).
    err = "0:d\x1fE\x1eE\x1fdb\x1fboom\x1fC42P01"
    one, two = A.decode_step(err)[3][0], A.decode_step(err)[3][0]
    assert one == two and one[1][2] is not two[1][2]


def test_open_action_has_five_fields_and_an_optional_keepalive():
    step = A.decode_step("0:o\x1ft\x1fh\x1f5432\x1f2000\x1f\x00")
    assert step[1:3] == ("o", (("tcp", ("h", 5432)), 2000, None, None))
    # The address field is always there (U+0000 when absent): four fields are malformed.
    with pytest.raises(wasmpg.InterfaceError):
        A.decode_step("0:o\x1ft\x1fh\x1f5432\x1f2000")
    step = A.decode_step("0:o\x1ft\x1fh\x1f5432\x1f\x00\x1f127.0.0.1:5432")
    assert step[2] == (("tcp", ("h", 5432)), None, "127.0.0.1:5432", None)
    # The sixth: TCP keepalives, off or on with each setting given or the system's.
    head = "0:o\x1ft\x1fh\x1f5432\x1f\x00\x1f\x00\x1f"
    for text, decoded in (
        ("0", (False, None, None, None)),
        ("1,,,", (True, None, None, None)),
        ("1,7,3,4", (True, 7, 3, 4)),
        ("1,30,,3", (True, 30, None, 3)),
        ("1,0,0,0", (True, 0, 0, 0)),
        ("1,,4294967295,", (True, None, 4294967295, None)),
    ):
        assert A.decode_step(head + text)[2][3] == decoded, text
        assert keepalive_text(decoded) == text
    # Anything else is a malformed step: numbers have one spelling, items are exactly four.
    for bad in (
        "\x00",
        "",
        "1",
        "2",
        "00",
        "0,",
        "1,",
        "1,,",
        "1,,,,",
        "1,1,1,1,1",
        "0,1,2,3",
        "1,x,,",
        "1,01,,",
        "1,+1,,",
        "1,-1,,",
        "1, 1,,",
        "1,4294967296,,",
        "1,\u0661,,",
        "on",
        "1,1,1,1\x1fx",
    ):
        with pytest.raises(wasmpg.InterfaceError):
            A.decode_step(head + bad)


def test_latin1_send_bytes():
    s = encode_step(b"\xff\x00a", "r", None, [])
    assert s.startswith("3:\xff\x00a")
    assert A.decode_step(s)[0] == b"\xff\x00a"


MALFORMED = [
    "",
    "x",
    "1:",
    "2:a",
    "0:",
    "0:z",
    "0:d",
    "0:d\x1fQ",
    "0:r\x1fextra",
    "0:r\x1d",
    "0:r\x1eR\x1f1\x1f0",
    "0:r\x1eR\x1f1",
    "0:r\x1eC\x1f99999999999",
    "0:r\x1eC\x1f1\x1fa",
    "0:r\x1eE\x1fweird\x1fm",
    "0:r\x1eN\x1f",
    "0:r\x1e",
    "1:\u0100r",
    "0:o\x1ft\x1fh\x1f99999\x1f\x00",
    "0:rx",
    # and a few more of this decoder's own paths
    "-1:r",
    "a:r",
    "0:r\x1eS\x1fa\x1b",
    "0:r\x1eS\x1fa\x1bx\x1fb",
    "0:r\x1eK\x1f\x00\x1f1",
    "0:r\x1eP\x1fs\x1f3\x1f23",
    "0:r\x1eI\x1fu",
    "0:o\x1fq\x1fh\x1f1\x1f\x00",
    "0:r\x1eB\x1f99999999999",
    "0:o\x1ft\x1fh\x1f1\x1f\x00\x1fa\x1fb",
    "0:r\x1eA\x1fx\x1fc\x1fp",
    "0:r\x1eT",
    "0:r\x1eQ\x1fx",
    "0:o\x1ft\x1fh\x1f1\x1f\x00\x1f\x00\x1f1,x,,",
    "0:o\x1ft\x1fh\x1f1\x1f\x00\x1f\x00\x1f\x00",
    "0:o\x1fu\x1f/s\x1f\x1f\x00\x1f\x00\x1f1,1,1,1,1",
    # COPY: the action has no fields; the events their exact fields; data needs its part
    "0:i\x1f1",
    "0:i\x1eG\x1f0",
    "0:i\x1eG\x1f2\x1f1",
    "0:r\x1eH\x1f0\x1f99999",
    "0:r\x1eD\x1ft\x1f0",
    "0:r\x1eD\x1fx\x1f0\x1dabc",
    "0:r\x1eD\x1ft\x1dabc",
    "0:r\x1eD\x1ft\x1f0\x1da\x1db",
]


@pytest.mark.parametrize("bad", MALFORMED)
def test_malformed_steps_are_interface_errors(bad):
    with pytest.raises(wasmpg.InterfaceError):
        A.decode_step(bad)


def test_mutations_never_raise_anything_else():
    """Random mutations of valid steps: each decodes, or raises InterfaceError; whatever
    decodes re-encodes to something that decodes the same."""
    rng = random.Random(0x2545F4914F6CDD1D)
    alphabet = [NUL, ESC, GS, RS, US, ":", "1", "R", "x", "\xe9", "@", "]"]
    samples = [encode_step(*s) for s in EVERY_STEP]
    for _ in range(20000):
        chars = list(rng.choice(samples))
        for _ in range(rng.randint(1, 3)):
            pos = rng.randint(0, len(chars))
            op = rng.randint(0, 2)
            if op == 0 and pos < len(chars):
                del chars[pos]
            elif op == 1 and pos < len(chars):
                chars[pos] = rng.choice(alphabet)
            else:
                chars.insert(pos, rng.choice(alphabet))
        s = "".join(chars)
        try:
            step = A.decode_step(s)
        except wasmpg.InterfaceError:
            continue
        assert A.decode_step(encode_step(*step)) == step


def test_escaping():
    value = "a\x00b\x1bc\x1dd\x1ee\x1ff \xe9"
    escaped = A.escape(value)
    assert not any(c in escaped for c in (NUL, GS, RS, US))
    assert A.unescape(escaped) == value
    assert A.escape("plain \u2713") == "plain \u2713"
    for bad in ("a\x1b", "a\x1bx", "\x1b\x1b["):
        with pytest.raises(wasmpg.InterfaceError):
            A.unescape(bad)


def test_requests():
    pairs = [("PGHOST", "db\x1eodd"), ("PGAPPNAME", ""), ("x\x1fy", "\x00")]
    assert A.req_init([("batch_bytes", "65536")]) == "n\x1dbatch_bytes\x1f65536\x1f\x1e"
    assert A.req_init([]) == "n\x1d"
    assert A.req_connect([("PGUSER", "me")], "host=x") == "c\x1dPGUSER\x1fme\x1f\x1e\x1dhost=x"
    assert A.req_connect(pairs, "host=a") == (
        "c\x1dPGHOST\x1fdb\x1b^odd\x1f\x1ePGAPPNAME\x1f\x1f\x1ex\x1b_y\x1f\x1b@\x1f\x1e\x1dhost=a"
    )
    assert A.req_parse_conninfo([], "") == "i\x1d\x1d"
    assert A.REQ_OPENED == "o" and A.REQ_EOF == "e" and A.REQ_TERMINATE == "t"
    assert A.req_opened(None) == "o" and A.req_opened("[::1]:5432") == "o\x1d[::1]:5432"
    assert A.req_opened_at(None, 1790000000) == "o\x1d\x1d1790000000"
    assert A.req_opened_at("127.0.0.1:5432", 7) == "o\x1d127.0.0.1:5432\x1d7"
    assert A.REQ_CANCEL_TOKEN == "K"
    assert A.req_open_failed("policy-denied", "no\x1dpe") == "x\x1dpolicy-denied\x1dno\x1dpe"
    assert A.req_password(None) == "w"
    assert A.req_password("") == "w\x1d"
    assert A.req_password("p\x1dw") == "w\x1dp\x1dw"
    assert A.req_file("ok", "*:*:*:*:pw\n") == "y\x1dok\x1d*:*:*:*:pw\n"
    assert A.req_file("too-open", "") == "y\x1dtoo-open\x1d"
    assert A.req_file_bytes(b"0\x82\x00\x1d\xff") == "Y0\x82\x00\x1d\xff"
    assert A.req_file_bytes(b"") == "Y"
    assert A.req_data(b"\xe9\x00") == "d\xe9\x00"
    assert A.req_data(b"") == "d"
    assert A.req_simple_query("select 1") == "s\x1dselect 1"
    assert A.req_query([23, 25], "1\x1fa\x1f\x1e", "select $1, $2") == (
        "q\x1d23,25\x1d1\x1fa\x1f\x1e\x1dselect $1, $2"
    )
    assert A.req_query([], "", "select 1") == "q\x1d\x1d\x1dselect 1"
    assert A.req_prepare([25], "s1", "select $1") == "P\x1d25\x1ds1\x1dselect $1"
    assert A.req_execute("a\x1f\x1e", "s1") == "X\x1da\x1f\x1e\x1ds1"
    assert A.req_close_statement("s1") == "L\x1ds1"
    assert A.req_cancel("t\x1f127.0.0.1") == "k\x1dt\x1f127.0.0.1"
    assert A.req_copy_data(b"1\t\xe9\n\x00\x1d") == "D1\t\xe9\n\x00\x1d"
    assert A.req_copy_data(b"") == "D"
    assert A.REQ_COPY_DONE == "F"
    assert A.req_copy_fail("stop\x1dhere") == "f\x1dstop\x1dhere"


def _conformance_file():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(here, "..", "..", "conformance", "packed.json")


def _vectors():
    with open(_conformance_file(), encoding="utf-8") as f:
        return json.load(f)


# -- the decoded forms of this module, in the vectors' shapes --

_STATUS_CODES = {"idle": "I", "in-transaction": "T", "failed": "E"}


def _vector_target(target):
    kind, value = target
    if kind == "tcp":
        return {"kind": "t", "host": value[0], "port": value[1]}
    return {"kind": "u", "host": value, "port": None}


def _vector_action(tag, arg):
    if tag in ("r", "c", "i"):
        return {"action": tag}
    if tag == "d":
        return {"action": "d", "status": _STATUS_CODES[arg]}
    if tag == "o":
        target, timeout, addr, keepalive = arg
        return {
            "action": "o",
            **_vector_target(target),
            "timeout_ms": timeout,
            "address": addr,
            "keepalive": None if keepalive is None else keepalive_text(keepalive),
        }
    if tag == "p":
        host, port, dbname, user = arg
        return {"action": "p", "host": host, "port": port, "dbname": dbname, "user": user}
    purpose, path = arg
    return {"action": "f", "purpose": purpose, "path": path}


def _vector_columns(cols):
    names = ("name", "type_oid", "type_modifier", "table_oid", "column_number", "type_size")
    return [dict(zip(names, c)) for c in cols]


def _db_fields(fields):
    """The vector's server fields as this decoder keeps them: by name, the codes it knows
    (the others are dropped), positions and line numbers as numbers."""
    out = {}
    for f in fields:
        name = A.DB_FIELD_NAMES.get(f["code"])
        if name is None:
            continue
        value = f["value"]
        if f["code"] in "PpL":
            value = int(value) if value.isdigit() else None
        out[name] = value
    return out


def _decoded_event(want):
    """The form `decode_step` gives the vector's event."""
    tag = want["event"]
    if tag == "C":
        return ("C", [tuple(c.values()) for c in want["columns"]])
    if tag == "R":
        return ("R", (want["row_count"], want["escaped"], want["batch"]))
    if tag == "K":
        return ("K", (want["tag"], want["row_count"]))
    if tag == "Q":
        return ("Q", None)
    if tag == "P":
        return (
            "P",
            (want["name"], want["param_types"], [tuple(c.values()) for c in want["columns"]]),
        )
    if tag == "E":
        return ("E", (want["kind"], want["message"], _db_fields(want["fields"]) or None))
    if tag == "N":
        return ("N", _db_fields(want["fields"]))
    if tag == "A":
        return ("A", (want["process_id"], want["channel"], want["payload"]))
    if tag == "S":
        return ("S", (want["name"], want["value"]))
    if tag == "B":
        return ("B", want["process_id"])
    if tag == "T":
        return ("T", want["token"])
    if tag in ("G", "H"):
        return (tag, (want["binary"], want["columns"]))
    if tag == "D":
        return ("D", (want["encoding"], want["escaped"], want["data"]))
    assert tag == "I", tag
    targets = [
        ("tcp", (t["host"], t["port"])) if t["kind"] == "t" else ("unix", t["host"])
        for t in want["targets"]
    ]
    return (
        "I",
        {
            "user": want["user"],
            "dbname": want["dbname"],
            "connect_timeout": want["connect_timeout_ms"],
            "has_password": want["has_password"],
            "passfile": want["passfile"],
            "sslmode": want["sslmode"],
            "targets": targets,
        },
    )


@pytest.mark.skipif(
    not os.path.exists(_conformance_file()),
    reason="conformance/packed.json is not in this checkout",
)
def test_conformance_steps_decode_as_the_vectors_say():
    """The shared vectors (the Rust reference decoder passes the same file): every valid step
    decodes to its send bytes, its action with every field (the ``o`` action's keepalive
    included) and its events with every field, in order; rows keep their batch."""
    vectors = _vectors()
    assert len(vectors["steps"]) >= 25
    for vector in vectors["steps"]:
        expected = vector["expected"]
        send, action, payload, events = A.decode_step(vector["input"])
        assert list(send) == expected["send"], vector["name"]
        assert _vector_action(action, payload) == expected["action"], vector["name"]
        assert events == [_decoded_event(e) for e in expected["events"]], vector["name"]
        # and back: the test-side encoder writes what decodes the same
        again = A.decode_step(encode_step(send, action, payload, events))
        assert again == (send, action, payload, events), vector["name"]


@pytest.mark.skipif(
    not os.path.exists(_conformance_file()),
    reason="conformance/packed.json is not in this checkout",
)
def test_conformance_keepalive_and_tls_vectors_are_there():
    """The vectors this package's TLS and keepalive support rely on are in the file."""
    vectors = _vectors()
    keepalives = {
        v["expected"]["action"].get("keepalive")
        for v in vectors["steps"]
        if v["expected"]["action"]["action"] == "o"
    }
    assert {None, "0", "1,30,,3"} <= keepalives
    kinds = {
        e["kind"] for v in vectors["steps"] for e in v["expected"]["events"] if e["event"] == "E"
    }
    assert kinds == A.ERROR_KINDS
    assert any(v["expected"]["request"] == "Y" for v in vectors["requests"])


def _encode_request(want):
    """This module's encoder for the vector's request."""
    tag = want["request"]
    pairs = lambda key: [(p["name"], p["value"]) for p in want[key]]  # noqa: E731
    if tag == "n":
        return A.req_init(pairs("options"))
    if tag == "c":
        return A.req_connect(pairs("defaults"), want["conninfo"])
    if tag == "i":
        return A.req_parse_conninfo(pairs("defaults"), want["conninfo"])
    if tag == "o":
        if "time" in want:
            return A.req_opened_at(want["address"], want["time"])
        return A.req_opened(want["address"])
    if tag == "x":
        return A.req_open_failed(want["kind"], want["reason"])
    if tag == "w":
        return A.req_password(want["password"])
    if tag == "y":
        return A.req_file(want["status"], want["text"])
    if tag == "Y":
        return A.req_file_bytes(bytes(want["bytes"]))
    if tag == "d":
        return A.req_data(bytes(want["bytes"]))
    if tag == "s":
        return A.req_simple_query(want["sql"])
    if tag == "q":
        return A.req_query(want["param_types"], want["params"], want["sql"])
    if tag == "P":
        return A.req_prepare(want["param_types"], want["name"], want["sql"])
    if tag == "X":
        return A.req_execute(want["params"], want["name"])
    if tag == "L":
        return A.req_close_statement(want["name"])
    if tag == "k":
        return A.req_cancel(want["token"])
    if tag == "D":
        return A.req_copy_data(bytes(want["bytes"]))
    if tag == "f":
        return A.req_copy_fail(want["reason"])
    return {"F": A.REQ_COPY_DONE, "e": A.REQ_EOF, "t": A.REQ_TERMINATE, "K": A.REQ_CANCEL_TOKEN}[
        tag
    ]


@pytest.mark.skipif(
    not os.path.exists(_conformance_file()),
    reason="conformance/packed.json is not in this checkout",
)
def test_conformance_requests_encode_as_the_vectors_say():
    """Every valid request vector: this module's encoder, given the decoded form, writes the
    string form exactly (the vectors are canonical), the byte-exact file answer ``Y`` too.
    (The malformed requests are for decoders; this package only encodes requests.)"""
    vectors = _vectors()
    assert len(vectors["requests"]) >= 30
    for vector in vectors["requests"]:
        assert _encode_request(vector["expected"]) == vector["input"]["string"], vector["name"]


@pytest.mark.skipif(
    not os.path.exists(_conformance_file()),
    reason="conformance/packed.json is not in this checkout",
)
def test_conformance_malformed_steps_are_interface_errors():
    """Every malformed step the vectors list is an InterfaceError, never another exception."""
    vectors = _vectors()
    assert len(vectors["malformed_steps"]) >= 15
    for vector in vectors["malformed_steps"]:
        with pytest.raises(wasmpg.InterfaceError):
            A.decode_step(vector["input"])
