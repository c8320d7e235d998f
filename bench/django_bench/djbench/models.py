"""The benchmark's two models: ``Author`` (the "User" of chtd/psycopg2-benchmarks'
django_bench) and ``Post``, a foreign key to it. The tables are created and dropped by the
bench itself (schema_editor), not by migrations."""

from django.db import models


class Author(models.Model):
    name = models.CharField(max_length=100)
    email = models.CharField(max_length=254)
    joined = models.DateTimeField()
    karma = models.IntegerField(default=0)

    class Meta:
        app_label = "djbench"
        db_table = "djbench_author"


class Post(models.Model):
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="posts")
    title = models.CharField(max_length=200)
    body = models.TextField()
    created = models.DateTimeField()
    score = models.IntegerField()
    published = models.BooleanField(default=False)

    class Meta:
        app_label = "djbench"
        db_table = "djbench_post"
