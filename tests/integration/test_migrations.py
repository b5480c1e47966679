"""The schema the migrations build is the schema the models describe."""

from civicgrid.bootstrap import Platform
from civicgrid.core.migrate import schema_differences, upgrade


def test_models_and_migrations_agree(scratch: Platform) -> None:
    assert schema_differences(scratch.engine) == []


def test_upgrading_twice_changes_nothing(scratch: Platform) -> None:
    upgrade(scratch.engine)
    assert schema_differences(scratch.engine) == []
