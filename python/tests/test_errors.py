"""Exception classes by SQLSTATE, every diagnostic field, client-side errors, notices."""

import threading

import pytest

import wasmpg
from wasmpg import errors


def test_hierarchy_and_connection_attributes(conn):
    assert issubclass(wasmpg.DataError, wasmpg.DatabaseError)
    assert issubclass(wasmpg.DatabaseError, wasmpg.Error)
    assert issubclass(wasmpg.InterfaceError, wasmpg.Error)
    assert issubclass(wasmpg.TransactionRollbackError, wasmpg.OperationalError)
    assert issubclass(wasmpg.Warning, Exception)
    for name in (
        "Warning",
        "Error",
        "InterfaceError",
        "DatabaseError",
        "DataError",
        "OperationalError",
        "IntegrityError",
        "InternalError",
        "ProgrammingError",
        "NotSupportedError",
    ):
        assert getattr(conn, name) is getattr(wasmpg, name)


@pytest.mark.parametrize(
    "sqlstate, cls",
    [
        ("08006", wasmpg.OperationalError),
        ("22012", wasmpg.DataError),
        ("23505", wasmpg.IntegrityError),
        ("25P02", wasmpg.InternalError),
        ("28P01", wasmpg.OperationalError),
        ("40001", wasmpg.TransactionRollbackError),
        ("40P01", wasmpg.TransactionRollbackError),
        ("42P01", wasmpg.ProgrammingError),
        ("53100", wasmpg.OperationalError),
        ("57014", wasmpg.QueryCanceledError),
        ("57P01", wasmpg.OperationalError),
        ("0A000", wasmpg.NotSupportedError),
        ("XX000", wasmpg.InternalError),
        ("P0001", wasmpg.ProgrammingError),
        ("2F002", wasmpg.OperationalError),
        ("38002", wasmpg.OperationalError),
        ("72000", wasmpg.DatabaseError),
        ("02000", wasmpg.DatabaseError),
        ("22ZZZ", wasmpg.DataError),  # a code newer than the table: its SQLSTATE class decides
        ("ZZZZZ", wasmpg.DatabaseError),
    ],
)
def test_class_by_sqlstate(sqlstate, cls):
    """The class of a code derives from the PEP 249 class of its SQLSTATE class (psycopg's
    mapping); a known code has its own class, found by lookup()."""
    found = errors.class_for_sqlstate(sqlstate)
    assert issubclass(found, cls)
    if sqlstate in ("02000", "22ZZZ", "ZZZZZ"):  # not an error condition, or unknown
        assert found is cls
    else:
        assert found is not cls and found is errors.lookup(sqlstate)


def test_sqlstate_classes_and_lookup():
    """One class per error condition, psycopg's names; lookup() by code or constant name."""
    assert errors.lookup("23505") is errors.UniqueViolation
    assert errors.lookup("unique_violation") is errors.UniqueViolation
    assert errors.lookup("UNIQUE_VIOLATION") is errors.UniqueViolation
    assert issubclass(errors.UniqueViolation, wasmpg.IntegrityError)
    assert issubclass(errors.DuplicateDatabase, wasmpg.ProgrammingError)
    assert issubclass(errors.SerializationFailure, wasmpg.TransactionRollbackError)
    assert issubclass(errors.QueryCanceled, wasmpg.QueryCanceledError)
    assert issubclass(errors.InternalError_, wasmpg.InternalError)
    assert errors.lookup("XX000") is errors.InternalError_
    # Class 38 repeats class 2F's condition names: the later ones end in Ext.
    assert errors.lookup("2F002") is errors.ModifyingSqlDataNotPermitted
    assert errors.lookup("38002") is errors.ModifyingSqlDataNotPermittedExt
    assert errors.lookup("MODIFYING_SQL_DATA_NOT_PERMITTED_EXT") is errors.lookup("38002")
    for bad in ("00000", "01000", "nope", "2350"):
        with pytest.raises(KeyError):
            errors.lookup(bad)
    assert len(errors.SQLSTATE_CLASSES) > 200
    for name in errors.SQLSTATE_CLASSES:
        assert name in errors.__all__ and issubclass(getattr(errors, name), wasmpg.DatabaseError)


def test_generated_classes_match_the_servers_errcodes(cluster):
    """errors.py's classes are what tools/gen_errcodes.py makes of the test server's own
    errcodes.txt (the server's share directory)."""
    import os
    import subprocess
    import sys

    share = os.path.join(os.path.dirname(cluster.bindir.rstrip("/")), "errcodes.txt")
    candidates = [share, share.replace("/lib/postgresql/", "/share/postgresql/")]
    source = next((p for p in candidates if os.path.isfile(p)), None)
    if source is None:
        pytest.skip("the server's errcodes.txt is not installed (looked at %s)" % candidates)
    tool = os.path.join(os.path.dirname(__file__), "..", "tools", "gen_errcodes.py")
    out = subprocess.run(
        [sys.executable, tool, "--check", source], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr


def test_raised_class_matches_any_sqlstate(aconn):
    """A server error raised with a chosen SQLSTATE maps to the class of the table."""
    cur = aconn.cursor()
    for code, cls in [
        ("22023", wasmpg.DataError),
        ("23514", wasmpg.IntegrityError),
        ("42501", wasmpg.ProgrammingError),
        ("0A000", wasmpg.NotSupportedError),
        ("XX001", wasmpg.InternalError),
        ("40P01", wasmpg.TransactionRollbackError),
        ("P0001", wasmpg.ProgrammingError),
    ]:
        with pytest.raises(cls) as e:
            cur.execute("DO $$ BEGIN RAISE EXCEPTION 'boom' USING ERRCODE = '%s'; END $$" % code)
        assert e.value.sqlstate == code and e.value.pgcode == code
        assert type(e.value) is errors.lookup(code)
    with pytest.raises(errors.DuplicateDatabase):
        cur.execute("CREATE DATABASE wasmpg_test")


def test_unique_violation(conn, table):
    cur = conn.cursor()
    cur.execute("CREATE TABLE %s (id int CONSTRAINT %s_pk PRIMARY KEY)" % (table, table))
    cur.execute("INSERT INTO %s VALUES (1)" % table)
    with pytest.raises(wasmpg.IntegrityError) as e:
        cur.execute("INSERT INTO %s VALUES (%%s)" % table, (1,))
    d = e.value.diag
    assert e.value.sqlstate == "23505"
    assert d.constraint_name == table + "_pk"
    assert d.table_name == table
    assert d.schema_name == "public"
    assert d.severity == "ERROR" and d.severity_nonlocalized == "ERROR"
    assert d.message_detail == "Key (id)=(1) already exists."
    assert "duplicate key" in str(e.value) and "DETAIL:  Key (id)=(1)" in str(e.value)
    assert d.source_file and d.source_line and d.source_function


def test_undefined_table_has_position(aconn):
    cur = aconn.cursor()
    with pytest.raises(wasmpg.ProgrammingError) as e:
        cur.execute("SELECT 1 FROM no_such_table_xyz")
    assert e.value.sqlstate == "42P01"
    assert e.value.diag.statement_position == 15
    cur.execute("SELECT 1")  # the connection is still usable
    assert cur.fetchone() == (1,)


def test_division_by_zero(aconn):
    cur = aconn.cursor()
    with pytest.raises(wasmpg.DataError) as e:
        cur.execute("SELECT 1 / %s", (0,))
    assert e.value.sqlstate == "22012"
    assert e.value.diag.message_primary == "division by zero"


def test_in_failed_transaction(conn):
    cur = conn.cursor()
    with pytest.raises(wasmpg.DataError):
        cur.execute("SELECT 1 / 0")
    assert conn.transaction_status == "failed"
    with pytest.raises(wasmpg.InternalError) as e:
        cur.execute("SELECT 1")
    assert e.value.sqlstate == "25P02"
    conn.rollback()
    cur.execute("SELECT 1")
    assert cur.fetchone() == (1,)


def test_serialization_failure(cluster, table):
    cluster.psql(
        "CREATE TABLE %s (id int PRIMARY KEY, v int); INSERT INTO %s VALUES (1, 0)" % (table, table)
    )
    a = wasmpg.connect(cluster.dsn())
    b = wasmpg.connect(cluster.dsn(), autocommit=True)
    try:
        ca = a.cursor()
        ca.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        ca.execute("SELECT v FROM %s WHERE id = 1" % table)
        assert ca.fetchone() == (0,)
        b.cursor().execute("UPDATE %s SET v = 1 WHERE id = 1" % table)
        with pytest.raises(wasmpg.TransactionRollbackError) as e:
            ca.execute("UPDATE %s SET v = 2 WHERE id = 1" % table)
        assert e.value.sqlstate == "40001"
        assert isinstance(e.value, wasmpg.OperationalError)
        a.rollback()
    finally:
        a.close()
        b.close()


def test_feature_not_supported(aconn, table):
    cur = aconn.cursor()
    cur.execute("CREATE TABLE %s (x int)" % table)
    with pytest.raises(wasmpg.NotSupportedError) as e:
        cur.execute("SELECT count(*) FROM %s FOR UPDATE" % table)
    assert e.value.sqlstate == "0A000"


def test_statement_timeout(aconn):
    cur = aconn.cursor()
    cur.execute("SET statement_timeout = '50ms'")
    with pytest.raises(wasmpg.QueryCanceledError) as e:
        cur.execute("SELECT pg_sleep(2)")
    assert e.value.sqlstate == "57014"
    assert isinstance(e.value, wasmpg.OperationalError)


def test_every_diagnostic_field(aconn):
    cur = aconn.cursor()
    with pytest.raises(wasmpg.DatabaseError) as e:
        cur.execute(
            """DO $$ BEGIN RAISE EXCEPTION USING
                 MESSAGE = 'primary', DETAIL = 'detail', HINT = 'hint', ERRCODE = 'P0001',
                 COLUMN = 'col', CONSTRAINT = 'con', DATATYPE = 'typ', TABLE = 'tab',
                 SCHEMA = 'sch';
               END $$"""
        )
    d = e.value.diag
    assert (d.message_primary, d.message_detail, d.message_hint) == ("primary", "detail", "hint")
    assert (d.column_name, d.constraint_name, d.datatype_name, d.table_name, d.schema_name) == (
        "col",
        "con",
        "typ",
        "tab",
        "sch",
    )
    assert d.sqlstate == "P0001" and d.severity == "ERROR"
    assert "PL/pgSQL function inline_code_block" in d.context
    assert str(e.value) == "primary\nDETAIL:  detail\nHINT:  hint"
    assert set(d.as_dict()) >= {
        "severity",
        "sqlstate",
        "message_primary",
        "context",
        "source_file",
        "source_line",
        "source_function",
    }


def test_internal_query_fields(aconn):
    cur = aconn.cursor()
    with pytest.raises(wasmpg.ProgrammingError) as e:
        cur.execute("DO $$ BEGIN EXECUTE 'SELECT * FROM nope_nope'; END $$")
    d = e.value.diag
    assert d.internal_query == "SELECT * FROM nope_nope"
    assert d.internal_position == 15


def test_notices(conn):
    cur = conn.cursor()
    seen = []
    conn.add_notice_handler(seen.append)
    cur.execute("DO $$ BEGIN RAISE NOTICE 'hello %', 42; RAISE WARNING 'careful'; END $$")
    assert conn.notices[-2:] == ["NOTICE:  hello 42\n", "WARNING:  careful\n"]
    assert [d.message_primary for d in seen] == ["hello 42", "careful"]
    assert seen[0].severity_nonlocalized == "NOTICE"
    for _ in range(60):
        cur.execute("DO $$ BEGIN RAISE NOTICE 'n'; END $$")
    assert len(conn.notices) == 50


def test_client_side_errors(cluster, aconn):
    cur = aconn.cursor()
    with pytest.raises(wasmpg.ProgrammingError, match="placeholder"):
        cur.execute("SELECT %d", (1,))
    with pytest.raises(wasmpg.ProgrammingError, match="1 placeholder but 2"):
        cur.execute("SELECT %s", (1, 2))
    with pytest.raises(wasmpg.ProgrammingError, match="mapping"):
        cur.execute("SELECT %(a)s", (1,))
    with pytest.raises(wasmpg.ProgrammingError, match="'b'"):
        cur.execute("SELECT %(a)s, %(b)s", {"a": 1})
    with pytest.raises(wasmpg.ProgrammingError, match="must be a str"):
        cur.execute(b"SELECT 1")
    with pytest.raises(wasmpg.ProgrammingError):
        wasmpg.connect("host=x port=notaport")
    with pytest.raises(wasmpg.ProgrammingError, match="invalid connection option"):
        wasmpg.connect("nosuchoption=1")
    with pytest.raises(wasmpg.ProgrammingError):
        wasmpg.connect(cluster.dsn(), sslmode="require", ssl_min_protocol_version="TLSv9")
    with pytest.raises(wasmpg.ProgrammingError):
        wasmpg.connect(cluster.dsn(), port=object())
    cur.execute("SELECT 1")
    assert cur.fetchone() == (1,)


def test_closed_objects(cluster):
    c = wasmpg.connect(cluster.dsn())
    cur = c.cursor()
    c.close()
    c.close()  # twice is fine
    assert c.closed
    with pytest.raises(wasmpg.InterfaceError):
        cur.execute("SELECT 1")
    with pytest.raises(wasmpg.InterfaceError):
        c.commit()
    with pytest.raises(wasmpg.InterfaceError):
        c.cursor()
    c2 = wasmpg.connect(cluster.dsn())
    cur2 = c2.cursor()
    cur2.close()
    with pytest.raises(wasmpg.InterfaceError):
        cur2.execute("SELECT 1")
    with pytest.raises(wasmpg.InterfaceError):
        cur2.fetchone()
    c2.close()


def test_server_terminates_backend(cluster):
    c = wasmpg.connect(cluster.dsn(), autocommit=True)
    cur = c.cursor()
    cur.execute("SELECT pg_backend_pid()")
    (pid,) = cur.fetchone()
    assert pid == c.backend_pid
    cluster.psql("SELECT pg_terminate_backend(%d)" % pid)
    with pytest.raises(wasmpg.OperationalError) as e:
        cur.execute("SELECT 1")
        cur.execute("SELECT 1")
    assert e.value.sqlstate in (None, "57P01")
    assert c.closed
    with pytest.raises(wasmpg.InterfaceError):
        cur.execute("SELECT 1")


def test_errors_from_threads_stay_per_connection(cluster):
    failures = []

    def work(n):
        try:
            with wasmpg.connect(cluster.dsn(), autocommit=True) as c:
                cur = c.cursor()
                for i in range(50):
                    if i % 7 == 0:
                        with pytest.raises(wasmpg.DataError):
                            cur.execute("SELECT 1/0")
                    cur.execute("SELECT %s::int * 2", (n * 1000 + i,))
                    assert cur.fetchone() == ((n * 1000 + i) * 2,)
                c.close()
        except BaseException as e:  # noqa: BLE001 - collected for the assertion below
            failures.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures


def test_message_too_large_ends_the_connection(cluster):
    c = wasmpg.connect(cluster.dsn(), max_message_size=1 << 20, autocommit=True)
    cur = c.cursor()
    cur.execute("SELECT repeat('x', 1000)")
    with pytest.raises(wasmpg.OperationalError) as e:
        cur.execute("SELECT repeat('x', 2000000)")
    assert e.value.kind == "message-too-large"
    assert c.closed
    c.close()


def test_guest_trap_is_contained(cluster):
    """The guest exceeding its memory bound traps; that connection is over, others are not."""
    other = wasmpg.connect(cluster.dsn(), autocommit=True)
    c = wasmpg.connect(cluster.dsn(), memory_limit=8 << 20, autocommit=True)
    cur = c.cursor()
    cur.execute("SELECT 1")
    with pytest.raises(wasmpg.OperationalError) as e:
        cur.execute("SELECT repeat('x', 30000000)")
    assert e.value.kind == "trap"
    assert c.closed
    with pytest.raises(wasmpg.InterfaceError):
        cur.execute("SELECT 1")
    c.close()
    ocur = other.cursor()
    ocur.execute("SELECT 2")
    assert ocur.fetchone() == (2,)
    other.close()


def test_bad_arguments_are_clear_errors(cluster, aconn):
    cur = aconn.cursor()
    for call in (
        lambda: cur.executemany("SELECT %s", 5),
        lambda: cur.executemany("SELECT %s", "ab"),
        lambda: cur.execute("SELECT %s", 5),
        lambda: cur.callproc(5),
        lambda: aconn.cursor(name=5),
    ):
        with pytest.raises(wasmpg.ProgrammingError):
            call()
    cur.execute("SELECT 1")
    for call in (lambda: cur.fetchmany("3"), lambda: cur.scroll("x")):
        with pytest.raises(wasmpg.ProgrammingError):
            call()
    for allow in (5, "127.0.0.1:5432", [5]):
        with pytest.raises(wasmpg.InterfaceError):
            wasmpg.connect(cluster.dsn(), allow=allow)
    for kwargs in (
        {"read_timeout": "x"},
        {"statement_cache": "x"},
        {"memory_limit": 0},
        {"max_message_size": 2**40},
        {"dsn": 5},
        {"cpu_limit": 0},
        {"cpu_limit": True},
        {"cpu_limit": "1"},
        {"cpu_limit": 1e9},
    ):
        with pytest.raises(wasmpg.ProgrammingError):
            wasmpg.connect(**dict({"dsn": cluster.dsn()}, **kwargs))
