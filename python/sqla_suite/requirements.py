"""What PostgreSQL (15, the test cluster's) supports, for SQLAlchemy's compliance suite.

`SuiteRequirements` leaves many features closed by default; this opens the ones PostgreSQL has,
so that the suite exercises them. The same class serves every driver (wasmpg and pg8000 are
compared on equal terms); a few are closed for one driver where SQLAlchemy's own test
requirements say that driver cannot do it.
"""

from __future__ import annotations

from sqlalchemy.testing import exclusions
from sqlalchemy.testing.requirements import SuiteRequirements

_open = exclusions.open


def _not_pg8000(reason: str) -> exclusions.compound:
    return exclusions.skip_if("+pg8000", reason)


class Requirements(SuiteRequirements):
    # -- DDL --

    @property
    def table_ddl_if_exists(self) -> exclusions.compound:
        return _open()

    @property
    def index_ddl_if_exists(self) -> exclusions.compound:
        return _open()

    @property
    def deferrable_fks(self) -> exclusions.compound:
        return _open()

    @property
    def repeated_column_foreign_keys(self) -> exclusions.compound:
        return _open()

    @property
    def views(self) -> exclusions.compound:
        return _open()

    @property
    def materialized_views(self) -> exclusions.compound:
        return _open()

    @property
    def temporary_views(self) -> exclusions.compound:
        return _open()

    @property
    def schema_create_delete(self) -> exclusions.compound:
        return _open()

    @property
    def server_defaults(self) -> exclusions.compound:
        return _open()

    @property
    def expression_server_defaults(self) -> exclusions.compound:
        return _open()

    @property
    def computed_columns(self) -> exclusions.compound:
        return _open()

    @property
    def computed_columns_stored(self) -> exclusions.compound:
        return _open()

    @property
    def computed_columns_default_persisted(self) -> exclusions.compound:
        return _open()

    @property
    def computed_columns_reflect_persisted(self) -> exclusions.compound:
        return _open()

    @property
    def identity_columns(self) -> exclusions.compound:
        return _open()

    @property
    def identity_columns_standard(self) -> exclusions.compound:
        return _open()

    @property
    def indexes_with_expressions(self) -> exclusions.compound:
        return _open()

    @property
    def indexes_check_column_order(self) -> exclusions.compound:
        return _open()

    # -- reflection --

    @property
    def cross_schema_fk_reflection(self) -> exclusions.compound:
        return _open()

    @property
    def foreign_key_constraint_name_reflection(self) -> exclusions.compound:
        return _open()

    @property
    def implicit_default_schema(self) -> exclusions.compound:
        return _open()

    @property
    def default_schema_name_switch(self) -> exclusions.compound:
        return _open()

    @property
    def reflects_pk_names(self) -> exclusions.compound:
        return _open()

    @property
    def reflect_tables_no_columns(self) -> exclusions.compound:
        return _open()

    @property
    def temp_table_comment_reflection(self) -> exclusions.compound:
        return _open()

    @property
    def comment_reflection(self) -> exclusions.compound:
        return _open()

    @property
    def comment_reflection_full_unicode(self) -> exclusions.compound:
        return _open()

    @property
    def constraint_comment_reflection(self) -> exclusions.compound:
        return _open()

    @property
    def column_collation_reflection(self) -> exclusions.compound:
        return _open()

    @property
    def unique_constraints_reflect_as_index(self) -> exclusions.compound:
        return _open()

    @property
    def foreign_key_constraint_option_reflection_ondelete(self) -> exclusions.compound:
        return _open()

    @property
    def fk_constraint_option_reflection_ondelete_restrict(self) -> exclusions.compound:
        return _open()

    @property
    def fk_constraint_option_reflection_ondelete_noaction(self) -> exclusions.compound:
        return _open()

    @property
    def foreign_key_constraint_option_reflection_onupdate(self) -> exclusions.compound:
        return _open()

    @property
    def fk_constraint_option_reflection_onupdate_restrict(self) -> exclusions.compound:
        return _open()

    @property
    def temp_table_names(self) -> exclusions.compound:
        return _open()

    @property
    def has_temp_table(self) -> exclusions.compound:
        return _open()

    @property
    def index_reflects_included_columns(self) -> exclusions.compound:
        return _open()

    @property
    def reflect_indexes_with_expressions(self) -> exclusions.compound:
        return _open()

    @property
    def inline_check_constraint_reflection(self) -> exclusions.compound:
        return _open()

    @property
    def check_constraint_reflection(self) -> exclusions.compound:
        return _open()

    @property
    def materialized_views_reflect_pk(self) -> exclusions.compound:
        return exclusions.closed()  # PostgreSQL materialized views have no primary key

    @property
    def reflect_table_options(self) -> exclusions.compound:
        # the suite's expectations are MySQL's and Oracle's (SQLAlchemy's own requirements)
        return exclusions.closed()

    # -- SQL --

    @property
    def table_value_constructor(self) -> exclusions.compound:
        return _open()

    @property
    def boolean_col_expressions(self) -> exclusions.compound:
        return _open()

    @property
    def nullsordering(self) -> exclusions.compound:
        return _open()

    @property
    def intersect(self) -> exclusions.compound:
        return _open()

    @property
    def except_(self) -> exclusions.compound:
        return _open()

    @property
    def window_functions(self) -> exclusions.compound:
        return _open()

    @property
    def ctes(self) -> exclusions.compound:
        return _open()

    @property
    def ctes_with_update_delete(self) -> exclusions.compound:
        return _open()

    @property
    def ctes_with_values(self) -> exclusions.compound:
        return _open()

    @property
    def ctes_on_dml(self) -> exclusions.compound:
        return _open()

    @property
    def tuple_in(self) -> exclusions.compound:
        return _open()

    @property
    def update_from(self) -> exclusions.compound:
        return _open()

    @property
    def delete_from(self) -> exclusions.compound:
        return _open()

    @property
    def percent_schema_names(self) -> exclusions.compound:
        return _open()

    @property
    def supports_distinct_on(self) -> exclusions.compound:
        return _open()

    @property
    def regexp_match(self) -> exclusions.compound:
        return _open()

    @property
    def regexp_replace(self) -> exclusions.compound:
        return _open()

    @property
    def fetch_first(self) -> exclusions.compound:
        return _open()

    @property
    def fetch_ties(self) -> exclusions.compound:
        return _open()

    @property
    def fetch_no_order_by(self) -> exclusions.compound:
        return _open()

    @property
    def fetch_offset_with_options(self) -> exclusions.compound:
        return _open()

    @property
    def fetch_expression(self) -> exclusions.compound:
        return _open()

    @property
    def supports_bitwise_or(self) -> exclusions.compound:
        return _open()

    @property
    def supports_bitwise_and(self) -> exclusions.compound:
        return _open()

    @property
    def supports_bitwise_not(self) -> exclusions.compound:
        return _open()

    @property
    def supports_bitwise_xor(self) -> exclusions.compound:
        return _open()

    @property
    def supports_bitwise_shift(self) -> exclusions.compound:
        return _open()

    # -- types --

    @property
    def uuid_data_type(self) -> exclusions.compound:
        return _open()

    @property
    def unicode_ddl(self) -> exclusions.compound:
        return _open()

    @property
    def datetime_interval(self) -> exclusions.compound:
        return _open()

    @property
    def datetime_literals(self) -> exclusions.compound:
        return _open()

    @property
    def datetime_timezone(self) -> exclusions.compound:
        return _open()

    @property
    def time_timezone(self) -> exclusions.compound:
        return _not_pg8000("pg8000 returns time with time zone as a naive time")

    @property
    def timestamp_microseconds(self) -> exclusions.compound:
        return _open()

    @property
    def datetime_historic(self) -> exclusions.compound:
        return _open()

    @property
    def date_historic(self) -> exclusions.compound:
        return _open()

    @property
    def datetime_timezone_historic(self) -> exclusions.compound:
        return _not_pg8000("pg8000 returns a string for UTC offsets with seconds (local mean time)")

    @property
    def array_type(self) -> exclusions.compound:
        return _open()

    @property
    def json_type(self) -> exclusions.compound:
        return _open()

    @property
    def legacy_unconditional_json_extract(self) -> exclusions.compound:
        return _open()

    @property
    def precision_numerics_enotation_small(self) -> exclusions.compound:
        return _open()

    @property
    def precision_numerics_many_significant_digits(self) -> exclusions.compound:
        return _open()

    @property
    def precision_numerics_retains_significant_digits(self) -> exclusions.compound:
        return _open()

    @property
    def float_or_double_precision_behaves_generically(self) -> exclusions.compound:
        return _open()

    @property
    def infinity_floats(self) -> exclusions.compound:
        return _not_pg8000("SQLAlchemy's own requirements skip pg8000 here")

    # -- transactions --

    @property
    def autocommit(self) -> exclusions.compound:
        return _open()

    @property
    def isolation_level(self) -> exclusions.compound:
        return _open()

    @property
    def savepoints(self) -> exclusions.compound:
        return _open()

    @property
    def async_dialect(self) -> exclusions.compound:
        return exclusions.only_if(lambda config: config.db.dialect.is_async, "an async dialect")
