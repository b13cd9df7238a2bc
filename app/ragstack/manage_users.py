"""Manage users from a shell on a backend host: ``python -m ragstack.manage_users --help``.

It reads the backend's settings from the environment, e.g.
``set -a; . /etc/ragstack/backend.env; set +a`` first.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from ragstack.config import load_settings
from ragstack.errors import InvalidInputError, RagstackError
from ragstack.main import build_accounts, build_authenticator
from ragstack.stores import connect_redis
from ragstack.users import Role


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise InvalidInputError("the passwords differ")
    return first


async def _run(args: argparse.Namespace) -> int:
    settings = load_settings()
    redis = connect_redis(settings)
    accounts = build_accounts(settings, redis, build_authenticator(settings, redis))
    collections = args.collections.split(",") if getattr(args, "collections", None) else None
    try:
        if args.command == "list":
            for user in await accounts.list_users():
                scope = ",".join(user.collections) if user.collections is not None else "*"
                state = " (disabled)" if user.disabled else ""
                print(f"{user.name}\t{user.role}\t{scope}{state}")
        elif args.command == "add":
            password = _read_password(args.password_stdin)
            await accounts.create_user(args.name, password, Role(args.role), collections)
            print(f"user {args.name!r} created")
        elif args.command == "delete":
            await accounts.delete_user(args.name)
            print(f"user {args.name!r} deleted")
        else:
            changes: dict = {
                "set-password": lambda: {"password": _read_password(args.password_stdin)},
                "set-role": lambda: {"role": Role(args.role)},
                "set-collections": lambda: {
                    "collections": collections,
                    "all_collections": collections is None,
                },
                "disable": lambda: {"disabled": True},
                "enable": lambda: {"disabled": False},
            }[args.command]()
            await accounts.update_user(args.name, **changes)
            print(f"user {args.name!r} changed; their sessions have ended")
    except RagstackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        await redis.aclose()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Manage users with the backend's settings (RAGSTACK_* environment, e.g. its env file)."""
    parser = argparse.ArgumentParser(
        prog="python -m ragstack.manage_users", description=main.__doc__
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="name, role, collections (* = all)")
    for name, text in (
        ("add", "create a user (password prompted, or one line on stdin)"),
        ("delete", "delete a user"),
        ("set-password", "change the password"),
        ("set-role", "change the role"),
        ("set-collections", "limit to collections (none given: all)"),
        ("disable", "refuse sign-in and end sessions"),
        ("enable", "allow sign-in again"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("name")
        if name in ("add", "set-password"):
            command.add_argument("--password-stdin", action="store_true")
        if name in ("add", "set-role"):
            command.add_argument("--role", choices=[r.value for r in Role], required=True)
        if name in ("add", "set-collections"):
            command.add_argument("--collections", help="comma-separated; default: all")
    return asyncio.run(_run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
