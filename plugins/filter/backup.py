"""The name of a data host's own SFTP account on the backup remote (roles/backup)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

DOCUMENTATION = """
name: backup_account
short_description: SFTP account of one data host on the backup remote
description:
  - C(rb-) followed by the inventory host name. A name that is not already a valid
    user name part (anything but C(a-z), C(0-9), C(-)), or that would exceed useradd's 32
    characters, gets its invalid characters replaced by C(-), is cut to 20 characters and gets the
    first 8 hex digits of the SHA-1 of the original name appended, so that two hosts never share
    an account (C(vdb1.example.com) -> C(rb-vdb1-example-com-5f2c...)).
options:
  _input:
    description: An inventory host name.
    type: str
    required: true
  prefix:
    description: Prefix of every account.
    type: str
    default: rb-
"""

EXAMPLES = """
backup_remote_user: "{{ inventory_hostname | ragstack.platform.backup_account }}"
"""

RETURN = """
_value:
  description: A user name of at most 32 characters, unique per host name.
  type: str
"""

MAX_USER_NAME = 32  # useradd's limit on Debian


def backup_account(host: str, prefix: str = "rb-") -> str:
    name = str(host)
    if re.fullmatch(r"[a-z0-9-]+", name) and len(prefix) + len(name) <= MAX_USER_NAME:
        return prefix + name
    digest = hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:8]
    cleaned = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    cut = cleaned[: MAX_USER_NAME - len(prefix) - len(digest) - 1]
    return f"{prefix}{cut}-{digest}" if cut else f"{prefix}{digest}"


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"backup_account": backup_account}
