"""The curated mutation run (scripts/mutants.py) keeps measuring something: every mutant still
applies to exactly one place of the code it names, and every group has its tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "mutants.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mutants", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["mutants"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_every_mutant_applies_to_exactly_one_place_and_changes_it() -> None:
    mutants = load()
    assert len(mutants.MUTANTS) >= 60
    for mutant in mutants.MUTANTS:
        mutated = mutants.check_applies(mutant)
        assert mutated != (mutants.ROOT / mutant.path).read_text(), mutant.what
        compile(mutated, mutant.path, "exec")  # a mutant is a change in behaviour, not syntax
    for group in {mu.group for mu in mutants.MUTANTS}:
        assert mutants.TESTS[group], group
        assert all((mutants.ROOT / f).exists() for f in mutants.TESTS[group])
