"""Django's stock ``django.db.backends.postgresql`` backend on wasmpg through ``wasmpg.compat``
(psycopg2's API): migrations, CRUD, relations, transactions, server-side iteration, JSON and
UUID fields, with USE_TZ on and off.

Skipped when Django is not installed, unless WASMPG_REQUIRE_DJANGO is set (run-tests.sh sets
it), in which case a missing Django fails the run.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import textwrap
import uuid
from decimal import Decimal

import pytest

from wasmpg import compat

compat.register()  # before django.db is imported

if not os.environ.get("WASMPG_REQUIRE_DJANGO"):
    pytest.importorskip("django")

import django  # noqa: E402
from django.conf import settings  # noqa: E402

DBNAME = "wasmpg_django"

APP_MODELS = """
import uuid

from django.contrib.auth.models import User
from django.db import models
from django.utils import timezone


class Post(models.Model):
    author = models.ForeignKey(User, on_delete=models.CASCADE, related_name="posts")
    title = models.CharField(max_length=100)
    data = models.JSONField(default=dict, null=True)
    uid = models.UUIDField(default=uuid.uuid4, unique=True)
    created = models.DateTimeField(default=timezone.now)
    score = models.DecimalField(max_digits=8, decimal_places=2, default=0)
    blob = models.BinaryField(null=True)
    ip = models.GenericIPAddressField(null=True)

    class Meta:
        app_label = "wasmpg_djapp"
        ordering = ["id"]
"""


@pytest.fixture(scope="module")
def django_db(cluster, tmp_path_factory):  # type: ignore[no-untyped-def]
    """Django configured on the test cluster (database ``wasmpg_django``), the test app's
    migration made, everything migrated."""
    app = tmp_path_factory.mktemp("djapp")
    pkg = app / "wasmpg_djapp"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "models.py").write_text(textwrap.dedent(APP_MODELS))
    (pkg / "migrations").mkdir()
    (pkg / "migrations" / "__init__.py").write_text("")
    sys.path.insert(0, str(app))
    cluster.psql("DROP DATABASE IF EXISTS %s" % DBNAME, db="postgres")
    cluster.psql("CREATE DATABASE %s" % DBNAME, db="postgres")
    if not settings.configured:
        settings.configure(
            DATABASES={
                "default": {
                    "ENGINE": "django.db.backends.postgresql",
                    "HOST": cluster.host,
                    "PORT": cluster.port,
                    "USER": "postgres",
                    "NAME": DBNAME,
                }
            },
            INSTALLED_APPS=[
                "django.contrib.auth",
                "django.contrib.contenttypes",
                "wasmpg_djapp",
            ],
            USE_TZ=True,
            TIME_ZONE="UTC",
            DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
            SECRET_KEY="wasmpg-test",
        )
        django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("makemigrations", "wasmpg_djapp", verbosity=0)
    call_command("migrate", verbosity=0)
    try:
        yield connection
    finally:
        connection.close()
        sys.path.remove(str(app))
        cluster.psql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % DBNAME, db="postgres")


@pytest.fixture(params=[True, False], ids=["USE_TZ", "no_TZ"])
def use_tz(request, django_db):  # type: ignore[no-untyped-def]
    from django.test.utils import override_settings
    from wasmpg_djapp.models import Post  # type: ignore[import-not-found]

    tz = "UTC" if request.param else "Europe/Paris"
    with override_settings(USE_TZ=request.param, TIME_ZONE=tz):
        yield request.param
        Post.objects.all().delete()
        from django.contrib.auth.models import User

        User.objects.all().delete()


def test_backend_is_psycopg2_compat(django_db):
    from django.db.backends.postgresql import psycopg_any

    assert psycopg_any.is_psycopg3 is False
    assert django_db.Database is compat.psycopg2
    assert django_db.pg_version >= 100000
    with django_db.cursor() as cur:
        cur.execute("SELECT current_database(), %s", ["x"])
        assert cur.fetchone() == (DBNAME, "x")
    tables = django_db.introspection.table_names()
    assert {"auth_user", "django_content_type", "wasmpg_djapp_post"} <= set(tables)


def test_crud(use_tz):
    from django.contrib.auth.models import User
    from django.db.models import Count, Max, Sum
    from wasmpg_djapp.models import Post

    alice = User.objects.create_user("alice", "a@example.com", "pw")
    bob = User.objects.create(username="bob")
    assert User.objects.get(pk=alice.pk).check_password("pw")
    Post.objects.create(author=alice, title="first", score=Decimal("1.50"), blob=b"\x00\x01")
    Post.objects.bulk_create(
        [Post(author=bob, title="b%d" % i, score=Decimal(i)) for i in range(5)]
    )
    assert Post.objects.count() == 6
    assert list(Post.objects.filter(title__startswith="b").values_list("title", flat=True)) == [
        "b0",
        "b1",
        "b2",
        "b3",
        "b4",
    ]
    assert Post.objects.filter(title__contains="%").count() == 0
    assert Post.objects.filter(title__in=["b1", "b3"]).count() == 2
    assert Post.objects.filter(author__username="bob", score__gte=3).count() == 2
    first = Post.objects.get(title="first")
    assert first.score == Decimal("1.50")
    assert bytes(first.blob) == b"\x00\x01"
    assert Post.objects.filter(title__startswith="b").update(title="bb") == 5
    assert Post.objects.filter(title="bb").count() == 5
    deleted, _ = Post.objects.filter(score__lt=2, author=bob).delete()
    assert deleted == 2
    # select_related: one query; prefetch_related: two.
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        names = [p.author.username for p in Post.objects.select_related("author")]
    assert names == ["alice", "bob", "bob", "bob"] and len(ctx.captured_queries) == 1
    with CaptureQueriesContext(connection) as ctx:
        counts = {u.username: len(u.posts.all()) for u in User.objects.prefetch_related("posts")}
    assert counts == {"alice": 1, "bob": 3} and len(ctx.captured_queries) == 2
    agg = Post.objects.aggregate(total=Sum("score"), top=Max("score"), n=Count("id"))
    assert agg == {"total": Decimal("10.50"), "top": Decimal("4.00"), "n": 4}
    by_author = dict(
        User.objects.annotate(n=Count("posts")).values_list("username", "n").order_by("username")
    )
    assert by_author == {"alice": 1, "bob": 3}
    assert "SELECT" in ctx.captured_queries[0]["sql"]  # last_executed_query: cursor.query


def test_transactions(use_tz):
    from django.contrib.auth.models import User
    from django.db import IntegrityError, transaction
    from wasmpg_djapp.models import Post

    user = User.objects.create(username="tx")
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            Post.objects.create(author=user, title="rolled back")
            raise RuntimeError("boom")
    assert Post.objects.count() == 0
    with transaction.atomic():
        Post.objects.create(author=user, title="kept")
        with pytest.raises(IntegrityError):
            with transaction.atomic():  # a savepoint
                User.objects.create(username="tx")
        Post.objects.create(author=user, title="kept too")
    assert sorted(Post.objects.values_list("title", flat=True)) == ["kept", "kept too"]
    from django.db import connection

    assert connection.get_autocommit() is True
    assert connection.connection.autocommit is True


def test_iterator_server_side_cursor(use_tz):
    from django.contrib.auth.models import User
    from django.db import connection, transaction
    from wasmpg_djapp.models import Post

    user = User.objects.create(username="it")
    Post.objects.bulk_create([Post(author=user, title="p%03d" % i) for i in range(120)])
    seen = []
    counts = set()
    for i, post in enumerate(Post.objects.order_by("title").iterator(chunk_size=25)):
        seen.append(post.title)
        if i % 40 == 0:  # another query while the named cursor is open
            counts.add(Post.objects.filter(author=user).count())
    assert seen == ["p%03d" % i for i in range(120)]
    assert counts == {120}
    with transaction.atomic():  # inside a transaction: a cursor without hold
        titles = [p.title for p in Post.objects.iterator(chunk_size=7)]
        assert len(titles) == 120
        assert connection.connection.info.transaction_status == 2
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_cursors")
        assert cur.fetchone() == (0,)


def test_json_uuid_datetime_fields(use_tz):
    from django.contrib.auth.models import User
    from django.utils import timezone
    from wasmpg_djapp.models import Post

    user = User.objects.create(username="types")
    uid = uuid.uuid4()
    data = {"a": [1, 2.5, None], "b": {"c": "é"}, "s": "100%"}
    when = dt.datetime(2021, 6, 1, 12, 30, 15, 123456)
    if use_tz:
        when = when.replace(tzinfo=dt.timezone.utc)
    post = Post.objects.create(
        author=user, title="t", data=data, uid=uid, created=when, ip="192.168.0.1"
    )
    got = Post.objects.get(pk=post.pk)
    assert got.data == data
    assert got.uid == uid and isinstance(got.uid, uuid.UUID)
    assert got.created == when
    assert (got.created.tzinfo is not None) is use_tz
    assert got.ip == "192.168.0.1"
    assert Post.objects.get(uid=uid).pk == post.pk
    assert Post.objects.filter(data__a__1=2.5).count() == 1
    assert Post.objects.filter(data__b__c="é").count() == 1
    assert Post.objects.filter(data__has_key="s").count() == 1
    assert list(Post.objects.values_list("data__b", flat=True)) == [{"c": "é"}]
    assert Post.objects.filter(created__year=2021, created__month=6).count() == 1
    assert Post.objects.filter(created__date=dt.date(2021, 6, 1)).count() == 1
    now = timezone.now()
    assert (now.tzinfo is not None) is use_tz
    assert Post.objects.filter(created__lt=now).count() == 1
    Post.objects.filter(pk=post.pk).update(data=None)
    assert Post.objects.get(pk=post.pk).data is None
    from django.db.models.functions import TruncDay

    day = Post.objects.annotate(d=TruncDay("created")).values_list("d", flat=True).get()
    expected = dt.datetime(2021, 6, 1)
    if use_tz:
        expected = expected.replace(tzinfo=dt.timezone.utc)
    assert day == expected
