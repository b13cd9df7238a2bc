"""No secret in any output, checked statically over every task of the roles and playbooks: a secret
variable never reaches a command's argv or environment (ps, -vvv), and a task whose arguments,
result or diff carry one has no_log (or, for files, diff: false). The stack scenario runs site.yml
for real; this catches the patterns before a host is involved."""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from test_collection import ROOT

# Variables holding secrets: passwords, tokens, keys (not the paths of files holding them).
SECRET = re.compile(r"\b(\w*(?:password|token|secret|api_keys?|slack_api_url)\w*)\b")
NOT_SECRET = re.compile(
    r"_(file|dir|path|user|username|header|users|authentication|days|age|problems)$"
    r"|^ansible_|^validate_secrets$"
)
BLOCKS = ("block", "rescue", "always")
COMMANDS = ("command", "shell", "raw", "script")
FILE_MODULES = ("template", "copy")


def secrets_in(value: object) -> set[str]:
    text = yaml.safe_dump(value) if not isinstance(value, str) else value
    names = set()
    for expression in re.findall(r"\{\{(.*?)\}\}|\{%(.*?)%\}", text, re.S):
        for name in SECRET.findall(" ".join(expression)):
            if not NOT_SECRET.search(name):
                names.add(name)
    return names


def module_of(task: dict) -> tuple[str, object]:
    for key, value in task.items():
        short = key.removeprefix("ansible.builtin.").removeprefix("ansible.legacy.")
        if short in (*COMMANDS, *FILE_MODULES, "uri", "set_fact", "debug", "assert", "lineinfile"):
            return short, value
    return "", None


def tasks_of(items: list, where: str) -> Iterator[tuple[str, dict]]:
    for task in items or []:
        if not isinstance(task, dict):
            continue
        yield where, task
        for block in BLOCKS:
            yield from tasks_of(task.get(block), where)


def all_tasks() -> Iterator[tuple[str, dict]]:
    for path in sorted([*ROOT.glob("roles/*/tasks/*.yml"), *ROOT.glob("roles/*/handlers/*.yml")]):
        yield from tasks_of(yaml.safe_load(path.read_text()), str(path.relative_to(ROOT)))
    for path in sorted([ROOT / "site.yml", *ROOT.glob("playbooks/*.yml")]):
        for play in yaml.safe_load(path.read_text()) or []:
            for section in ("pre_tasks", "tasks", "post_tasks", "handlers"):
                yield from tasks_of(play.get(section), str(path.relative_to(ROOT)))


def template_secrets(role_file: str, src: str) -> set[str]:
    if "{{" in src:
        return set()  # a computed template name: not resolvable here
    role_dir = ROOT / Path(role_file).parts[0] / Path(role_file).parts[1]
    path = role_dir / "templates" / src
    return secrets_in(path.read_text()) if path.is_file() else set()


def problems(where: str, task: dict) -> list[str]:
    name = f"{where}: {task.get('name', '?')}"
    hidden = task.get("no_log") not in (None, False, "false")
    module, args = module_of(task)
    found = []
    if env := secrets_in(task.get("environment", {})):
        found.append(f"{name}: secret in the environment of a task {sorted(env)}")
    if module in COMMANDS:
        argv = dict(args) if isinstance(args, dict) else {"cmd": args}
        stdin = argv.pop("stdin", None)
        if in_argv := secrets_in(argv):
            found.append(f"{name}: secret in a command line {sorted(in_argv)}")
        if secrets_in(stdin or "") and not hidden:
            found.append(f"{name}: secret on stdin without no_log (module arguments are logged)")
    if (
        module in FILE_MODULES
        and isinstance(args, dict)
        and not hidden
        and task.get("diff") is not False
    ):
        carried = secrets_in(args.get("content", "")) | template_secrets(
            where, str(args.get("src", ""))
        )
        if (module == "template" or "content" in args) and carried:
            found.append(
                f"{name}: file with secrets {sorted(carried)} without diff: false or no_log"
            )
    if module in ("uri", "set_fact", "debug", "lineinfile") and secrets_in(args) and not hidden:
        found.append(f"{name}: {module} with secrets {sorted(secrets_in(args))} without no_log")
    loop = task.get("loop", task.get("with_items"))
    if (
        loop
        and not hidden
        and secrets_in(loop)
        and not str(loop).replace(" ", "").startswith("{{range(")
    ):
        found.append(f"{name}: loop over secrets {sorted(secrets_in(loop))} (items print at -v)")
    return found


def secret_results(tasks: list[tuple[str, dict]]) -> set[str]:
    """Registered results that hold a secret (a command's stdin, a module's arguments): hidden
    when their own task has no_log, printed again by any task that loops over them."""
    names = set()
    for _, task in tasks:
        _, args = module_of(task)
        if "register" in task and secrets_in(args or {}):
            names.add(task["register"])
    return names


def loops_over_secret_results(tasks: list[tuple[str, dict]]) -> list[str]:
    registered = secret_results(tasks)
    found = []
    for where, task in tasks:
        loop = str(task.get("loop", task.get("with_items", "")))
        hidden = task.get("no_log") not in (None, False, "false")
        used = {name for name in registered if re.search(rf"\b{name}\b", loop)}
        if used and not hidden:
            found.append(
                f"{where}: {task.get('name', '?')}: loop over the results of {sorted(used)}, "
                "which hold a secret (items print at -v)"
            )
    return found


def test_a_loop_over_results_holding_a_secret_is_a_leak():
    tasks = [
        (
            "roles/x/tasks/t.yml",
            {
                "name": "rekey",
                "ansible.builtin.command": {"cmd": "restic key add", "stdin": "{{ x_password }}"},
                "register": "rekeyed",
                "no_log": True,
            },
        ),
        (
            "roles/x/tasks/t.yml",
            {"name": "init", "ansible.builtin.command": "x", "loop": "{{ rekeyed.results }}"},
        ),
        (
            "roles/x/tasks/t.yml",
            {"name": "names", "ansible.builtin.command": "x", "loop": "{{ other.results }}"},
        ),
    ]
    assert len(loops_over_secret_results(tasks)) == 1


def test_the_scan_sees_every_kind_of_leak():
    leaks = [
        {
            "name": "env",
            "ansible.builtin.command": "redis-cli ping",
            "environment": {"A": "{{ redis_password }}"},
        },
        {
            "name": "argv",
            "ansible.builtin.shell": "restic -p {{ backup_restic_password }} snapshots",
        },
        {"name": "stdin", "ansible.builtin.command": {"cmd": "x", "stdin": "{{ redis_password }}"}},
        {
            "name": "uri",
            "ansible.builtin.uri": {
                "url": "u",
                "headers": {"A": "Bearer {{ rolling_smoke_api_key }}"},
            },
        },
        {"name": "copy", "ansible.builtin.copy": {"dest": "/x", "content": "{{ chromadb_token }}"}},
        {
            "name": "loop",
            "ansible.builtin.assert": {"that": "item"},
            "loop": "{{ backend_api_keys }}",
        },
    ]
    assert [len(problems("roles/x/tasks/t.yml", task)) for task in leaks] == [1] * len(leaks)
    safe = [
        {**leaks[2], "no_log": True},
        {**leaks[4], "diff": False},
        {
            "name": "file",
            "ansible.builtin.command": "x",
            "environment": {"F": "{{ backup_password_file }}"},
        },
        {
            "name": "idx",
            "ansible.builtin.assert": {"that": "x"},
            "loop": "{{ range(backend_api_keys | length) }}",
        },
    ]
    assert [problems("roles/x/tasks/t.yml", task) for task in safe] == [[]] * len(safe)


def test_templates_with_secrets_are_recognised():
    assert "chromadb_token" in template_secrets(
        "roles/chromadb/tasks/configure.yml", "chromadb.env.j2"
    )


@pytest.mark.parametrize("where", ["roles", "playbooks"])
def test_no_task_puts_a_secret_in_output(where):
    tasks = [
        (w, t)
        for w, t in all_tasks()
        if w.startswith(where) or (where == "playbooks" and w == "site.yml")
    ]
    assert len(tasks) > (300 if where == "roles" else 20), len(tasks)
    found = [p for w, t in tasks for p in problems(w, t)] + loops_over_secret_results(tasks)
    assert not found, "\n".join(found)
