#!/usr/bin/env python3
"""Render each role's README variable tables from its meta/argument_specs.yml.

    scripts/role_docs.py            rewrite the generated part of every roles/*/README.md
    scripts/role_docs.py --check    exit 1 and name the stale READMEs instead

Only the text between the BEGIN/END GENERATED VARIABLES comments is written; the prose around it
is the README author's. The specs are the one place a variable is documented (tests/collection/
test_role_docs.py also checks them against defaults/main.yml).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
BEGIN = "<!-- BEGIN GENERATED VARIABLES -->"
END = "<!-- END GENERATED VARIABLES -->"
# A longer default is left to defaults/main.yml: a table cell is no place for a 40-line dict.
MAX_DEFAULT = 120

Spec = Mapping[str, Any]


def load_specs(role: Path) -> dict[str, Spec]:
    return yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]


def code(text: str) -> str:
    fence = "``" if "`" in text else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def text_cell(text: str) -> str:
    """Prose in a cell: a `<version>` would otherwise be taken for an HTML tag and vanish."""
    return cell(text).replace("<", "&lt;")


def prose(value: str | list[str] | None) -> str:
    if value is None:
        return ""
    return " ".join(value) if isinstance(value, list) else value


def show(value: Any) -> str:
    if isinstance(value, str):
        return value if value else '""'
    if isinstance(value, bool) or value is None:
        return "null" if value is None else str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    return yaml.safe_dump(value, default_flow_style=True, width=10**6, sort_keys=False).strip()


def default_cell(option: Spec) -> str:
    if option.get("required"):
        return "**required**"
    if "default" not in option:
        return ""
    shown = " ".join(show(option["default"]).split())
    if len(shown) > MAX_DEFAULT:
        return "see `defaults/main.yml`"
    return code(shown)


def type_cell(option: Spec) -> str:
    kind = option.get("type", "str")
    return f"{kind} of {option['elements']}" if "elements" in option else kind


def description_cell(option: Spec) -> str:
    text = prose(option.get("description"))
    if "choices" in option:
        text += " One of " + ", ".join(code(str(c)) for c in option["choices"]) + "."
    if option.get("options"):
        text += " Keys below."
    return text_cell(text)


def table(options: Mapping[str, Spec], title: str = "variable") -> Iterator[str]:
    yield f"| {title} | type | default | description |"
    yield "|---|---|---|---|"
    for name, option in options.items():
        yield (
            f"| {code(name)} | {type_cell(option)} | {cell(default_cell(option))} "
            f"| {description_cell(option)} |"
        )
    for name, option in options.items():
        if option.get("options"):
            yield ""
            yield f"Keys of {code(name)}:"
            yield ""
            yield from table(option["options"], "key")


def render(specs: Mapping[str, Spec]) -> str:
    lines = [
        BEGIN,
        "<!-- written by scripts/role_docs.py from meta/argument_specs.yml: edit the specs -->",
        "",
    ]
    main_options = specs.get("main", {}).get("options") or {}
    for entry_point, spec in specs.items():
        options = spec.get("options") or {}
        if entry_point != "main":
            title = text_cell(spec["short_description"])
            lines += [f"### Entry point `{entry_point}`", "", title, ""]
            if not options:
                lines += ["No options.", ""]
                continue
            if options == main_options:
                lines += ["The same options as `main`.", ""]
                continue
        lines += [*table(options), ""]
    lines.append(END)
    return "\n".join(lines)


def updated(readme: str, specs: Mapping[str, Spec]) -> str:
    if readme.count(BEGIN) != 1 or readme.count(END) != 1:
        raise ValueError(f"needs exactly one {BEGIN} and one {END}")
    head, rest = readme.split(BEGIN)
    _, tail = rest.split(END)
    return head + render(specs) + tail


def roles() -> list[Path]:
    return sorted(p.parent.parent for p in ROOT.glob("roles/*/meta/argument_specs.yml"))


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale, broken = [], False
    for role in roles():
        path = role / "README.md"
        current = path.read_text() if path.exists() else ""
        try:
            text = updated(current, load_specs(role))
        except ValueError as error:
            print(f"{path.relative_to(ROOT)}: {error}", file=sys.stderr)
            broken = True
            continue
        if text != current:
            stale.append(path)
            if not check:
                path.write_text(text)
                print(f"wrote {path.relative_to(ROOT)}")
    if check and stale:
        names = ", ".join(str(p.relative_to(ROOT)) for p in stale)
        print(f"stale: {names}; run scripts/role_docs.py", file=sys.stderr)
        return 1
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
