"""Bootstraps SQLAlchemy's pytest plugin for its dialect compliance suite (see setup.cfg).

The wasmpg dialects are found through the ``sqlalchemy.dialects`` entry points of the installed
package; registering them here too lets the suite run from a source checkout on ``PYTHONPATH``.
"""

import os
import sys

import pytest
from sqlalchemy.dialects import registry

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # requirements.py

registry.register("postgresql.wasmpg", "wasmpg.sqlalchemy_dialect", "WasmpgDialect")
registry.register("postgresql.wasmpg_async", "wasmpg.sqlalchemy_dialect", "WasmpgAsyncDialect")

pytest.register_assert_rewrite("sqlalchemy.testing.assertions")

from sqlalchemy.testing.plugin.pytestplugin import *  # noqa: E402, F403
