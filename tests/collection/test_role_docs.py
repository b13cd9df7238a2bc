"""meta/argument_specs.yml is the one source of variable docs: defaults agree with it, READMEs
are generated from it (scripts/role_docs.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("role_docs", ROOT / "scripts" / "role_docs.py")
assert _spec is not None and _spec.loader is not None
role_docs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(role_docs)

ROLES = role_docs.roles()


def defaults_of(role: Path) -> dict[str, Any]:
    path = role / "defaults" / "main.yml"
    return (yaml.safe_load(path.read_text()) if path.exists() else None) or {}


def comparable(value: Any) -> Any:
    """Jinja expressions compare with their whitespace collapsed (a folded `>-` in defaults)."""
    return " ".join(value.split()) if isinstance(value, str) and "{{" in value else value


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.name)
def test_readme_tables_are_generated_from_the_specs(role):
    readme = role / "README.md"
    assert readme.exists(), f"{role.name} has no README.md"
    current = readme.read_text()
    assert role_docs.updated(current, role_docs.load_specs(role)) == current, (
        f"{readme.relative_to(ROOT)} is stale: run scripts/role_docs.py"
    )


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.name)
def test_every_default_is_in_the_specs_with_the_same_value(role):
    specs = role_docs.load_specs(role)
    documented = {name for spec in specs.values() for name in spec.get("options") or {}}
    defaults = defaults_of(role)
    missing = sorted(set(defaults) - documented)
    assert not missing, f"{role.name}: defaults/main.yml variables not in the specs: {missing}"
    wrong = [
        f"{entry_point}.{name}: spec {option.get('default', '<no default>')!r} "
        f"!= defaults {defaults[name]!r}"
        for entry_point, spec in specs.items()
        for name, option in (spec.get("options") or {}).items()
        if name in defaults
        and ("default" not in option or comparable(option["default"]) != comparable(defaults[name]))
    ]
    assert not wrong, f"{role.name}: spec defaults disagree with defaults/main.yml:\n" + "\n".join(
        wrong
    )


def description(option: dict[str, Any]) -> str:
    text = option.get("description") or ""
    return " ".join(text) if isinstance(text, list) else str(text)


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.name)
def test_every_option_is_described(role):
    """A description that is empty, only the variable's name or "NAME Default: ..." (what a
    generator writes when nobody documented the variable) documents nothing."""
    undocumented = [
        f"{entry_point}.{name}"
        for entry_point, spec in role_docs.load_specs(role).items()
        for name, option in (spec.get("options") or {}).items()
        if description(option).strip() in ("", name)
        or description(option).startswith(f"{name} Default:")
    ]
    assert not undocumented, f"{role.name}: options without a description: {undocumented}"


def test_a_readme_without_markers_is_refused():
    with pytest.raises(ValueError, match="GENERATED VARIABLES"):
        role_docs.updated("# a role\n\n| variable | default |\n", {"main": {"options": {}}})


def test_entry_points_sharing_main_options_say_so_once():
    rendered = role_docs.render(
        {
            "main": {"options": {"x_port": {"type": "int", "default": 1, "description": "Port."}}},
            "again": {
                "short_description": "Same again",
                "options": {"x_port": {"type": "int", "default": 1, "description": "Port."}},
            },
        }
    )
    assert rendered.count("`x_port`") == 1
    assert "The same options as `main`." in rendered
