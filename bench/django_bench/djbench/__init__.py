"""The Django app of the ORM benchmark (bench/django_bench/bench.py): models only."""
