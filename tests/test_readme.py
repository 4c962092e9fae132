"""The README's tables of learners and systems are written by hand: they must name exactly the
registries' members, so a new member without its row (or a row left behind) fails here."""

import re
from pathlib import Path

import pytest

README = (Path(__file__).parent.parent / "README.md").read_text()


def first_column_names(header: str) -> set[str]:
    """The backticked names in the first column of the README table whose header row starts with ``header``."""
    table = README[README.index(f"| {header} |"):].split("\n\n")[0].splitlines()[2:]
    return {name for row in table for name in re.findall(r"`([^`]+)`", row.split("|")[1])}


@pytest.mark.parametrize("header, registry", [("learner", "tradeoff.models.learners.base:LEARNERS"),
                                              ("system", "systems:SYSTEMS")])
def test_readme_tables_name_every_member(header, registry):
    import importlib
    module, name = registry.split(":")
    assert first_column_names(header) - {"spec.yaml"} == set(getattr(importlib.import_module(module), name).names())
