"""Checks of the validate role (the first play of site.yml): role argument specs without their
defaults, and secrets that are unset, placeholders or weak. Messages never hold a secret's value."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Undefined

DOCUMENTATION = """
name: secret_problems
short_description: Short messages about the secrets a host's roles need that are unset or weak
description:
  - For each entry whose role the host gets (and whose groups, if given, meet the host's groups),
    the value the role will use is the host's role variable (C(var)) if it is set, else the
    inventory secret (C(source)). It is reported when
    it is undefined or empty, a placeholder (C(CHANGE-ME), C(changeme), C(<...>), ...), shorter than
    C(min) characters or made of fewer than 6 distinct characters.
  - For a list of API keys (C(field) set), each entry's C(field) is checked the same way.
  - With C(per_host) true, C(source) is a dict of inventory host name to secret and the host's
    own entry is checked (named C(source[HOST]) in the message).
  - Each message names the variable to fix, never its value.
options:
  _input:
    description: Entries {var, source, role, min, groups (optional), field (optional)}.
    type: list
    required: true
  host_vars:
    description: The host's variables (hostvars[inventory_hostname]).
    type: dict
    required: true
  groups:
    description: The host's groups (group_names).
    type: list
    required: true
  roles:
    description: The roles the host gets.
    type: list
    required: true
"""

EXAMPLES = """
validate_problems: >-
  {{ validate_secrets | ragstack.platform.secret_problems(hostvars[inventory_hostname], group_names,
     validate_host_roles) }}
"""

RETURN = """
_value:
  description: One message per bad secret (the variable, then the problem), each variable once.
  type: list
"""

PLACEHOLDER = re.compile(
    r"(?i)change[-_ ]?me|changeit|^(x+|todo|tbd|fixme|placeholder|secret|password|vault|none|null)$"
    r"|^<.*>$|^\{\{.*\}\}$"
)
MIN_DISTINCT = 6


def weakness(value: Any, min_length: int) -> str:
    """Why a secret value is unusable ('' when it is fine); never quotes the value."""
    if value is None or value == "":
        return "is not set (define it in the vault)"
    if not isinstance(value, str):
        return "must be a string"
    if PLACEHOLDER.search(value):
        return "is still a placeholder (define it in the vault)"
    if len(value) < min_length:
        return f"is shorter than {min_length} characters"
    if len(set(value)) < MIN_DISTINCT:
        return f"is too simple (fewer than {MIN_DISTINCT} distinct characters)"
    return ""


def _lookup(host_vars: Mapping[str, Any], name: str) -> tuple[bool, Any]:
    if name not in host_vars:
        return False, None
    value = host_vars[name]
    # An undefined reference (a vault variable not loaded, a failed lookup) counts as not set.
    return True, None if isinstance(value, Undefined) else value


def secret_problems(
    entries: list[Mapping[str, Any]],
    host_vars: Mapping[str, Any],
    groups: list[str],
    roles: list[str],
) -> list[str]:
    problems: dict[str, str] = {}
    for entry in entries:
        if entry["role"] not in roles:
            continue
        if "groups" in entry and not set(entry["groups"]) & set(groups):
            continue
        found, value = _lookup(host_vars, entry["var"])
        name = entry["var"]
        if not found:
            name = entry["source"]
            value = _lookup(host_vars, name)[1]
            if entry.get("per_host"):
                host = host_vars.get("inventory_hostname", "?")
                name = f"{name}[{host}]"
                value = value.get(host) if isinstance(value, Mapping) else None
                value = None if isinstance(value, Undefined) else value
        min_length = int(entry["min"])
        field = entry.get("field")
        if field is None:
            problem = weakness(value, min_length)
            if problem:
                problems.setdefault(name, f"{name} {problem}")
            continue
        for index, item in enumerate(value or []):
            if not isinstance(item, Mapping) or field not in item:
                continue  # entries holding only a hash (sha256) carry no secret
            label = f"{name}[{index}] ({item.get('name', '?')}).{field}"
            problem = weakness(item[field], min_length)
            if problem:
                problems.setdefault(label, f"{label} {problem}")
    return list(problems.values())


PINNED_SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")


def checksum_problems(
    entries: list[Mapping[str, Any]], host_vars: Mapping[str, Any], roles: list[str]
) -> list[str]:
    """One message per upstream release file of the host's roles whose checksum variable the
    inventory does not pin to sha256:<64 hex digits> (the role default fetches it from the site
    that serves the file)."""
    problems = []
    for entry in entries:
        if entry["role"] not in roles:
            continue
        name = entry["var"]
        found, value = _lookup(host_vars, name)
        if not found or value is None:
            problems.append(
                f"{name} is not pinned: set sha256:<hex> of the {entry['role']} release file "
                "(the default reads it from the download site), or "
                "ragstack_allow_fetched_checksums: true"
            )
        elif not isinstance(value, str) or not PINNED_SHA256.match(value):
            problems.append(f"{name} must be sha256:<64 lowercase hex digits>")
    return problems


def _without_defaults(options: Mapping[str, Any]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for name, option in options.items():
        option = {key: value for key, value in option.items() if key != "default"}
        if isinstance(option.get("options"), Mapping):
            option["options"] = _without_defaults(option["options"])
        cleaned[name] = option
    return cleaned


def role_arguments(
    roles: list[str], roles_dir: str, host_vars: Mapping[str, Any]
) -> dict[str, Any]:
    """The main argument specs of these roles merged, without their defaults (templates that need
    facts and other roles' variables: only what the inventory or -e sets is checked), and the
    values the host sets for them."""
    spec: dict[str, Any] = {}
    for role in roles:
        text = (Path(roles_dir) / role / "meta" / "argument_specs.yml").read_text()
        spec.update(_without_defaults(yaml.safe_load(text)["argument_specs"]["main"]["options"]))
    provided = {name: host_vars[name] for name in spec if name in host_vars}
    return {"spec": spec, "provided": provided}


# The validator's messages, shortened to name the variable first and never quote a value.
_ARGUMENT_MESSAGES = [
    (
        re.compile(
            r"argument '([\w.]+)' is of type (\w+) and we were unable to convert to (\w+).*"
        ),
        r"\1 must be of type \3 (got a \2 that does not convert)",
    ),
    (re.compile(r"value of ([\w.]+) must be one of: (.*), got: .*"), r"\1 must be one of: \2"),
]


def argument_problems(errors: list[str]) -> list[str]:
    problems = []
    for error in errors:
        for pattern, replacement in _ARGUMENT_MESSAGES:
            if pattern.match(error):
                error = pattern.sub(replacement, error)
                break
        problems.append(error)
    return problems


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "secret_problems": secret_problems,
            "checksum_problems": checksum_problems,
            "role_arguments": role_arguments,
            "argument_problems": argument_problems,
        }
