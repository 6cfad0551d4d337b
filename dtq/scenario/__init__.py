"""Scenario files: the pydantic models, and loading a YAML file into them with located errors."""

from __future__ import annotations

from dtq.scenario.loader import (
    LoadedScenario,
    load_scenario,
    scenario_json_schema,
    validate_text,
)
from dtq.scenario.models import Scenario

__all__ = [
    "LoadedScenario",
    "Scenario",
    "load_scenario",
    "scenario_json_schema",
    "validate_text",
]
