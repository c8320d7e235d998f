"""Runs Django's ``tests/runtests.py`` with ``wasmpg.compat.register()`` done first, so that
Django's postgresql backend imports wasmpg's psycopg2 layer: ``boot.py runtests.py ARGS...``
(from Django's ``tests/`` directory). On PyPy it adds the ``gc.set_threshold`` that Django 4.2's
runner calls."""

from __future__ import annotations

import gc
import os
import runpy
import sys

from wasmpg import compat

compat.register()
if not hasattr(gc, "set_threshold"):
    # PyPy has no gc.set_threshold, which Django 4.2's runtests.py calls (5.x checks first).
    gc.set_threshold = lambda *args: None  # type: ignore[attr-defined]
script = os.path.abspath(sys.argv[1])
sys.argv = [script, *sys.argv[2:]]
sys.path.insert(0, os.path.dirname(script))
runpy.run_path(script, run_name="__main__")
