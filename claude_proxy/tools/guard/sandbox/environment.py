"""The environment a shell command gets: built from an allow-list, never copied from the agent.

A name-based filter misses secrets with innocent names (``DATABASE_URL`` with a
password in it, a cloud session variable); an allow-list cannot. Passed through:
the locale, the terminal's name, the time zone, who the user is, ``PATH``, and git's
author identity. ``HOME`` is the sandbox's private home. git is made safe whatever
the repository says: ``core.fsmonitor`` off and hooks pointed at ``/dev/null``
through ``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_n``/``GIT_CONFIG_VALUE_n`` (which win
over every config file), no system config, no pager, no credential prompt.
``tools.bash.pass_secret_env: true`` passes the agent's whole environment instead
(the git and pager settings still apply).
"""

from __future__ import annotations

import os
import subprocess
from functools import lru_cache

PASSED = frozenset({
    "PATH", "LANG", "LANGUAGE", "TZ", "USER", "LOGNAME", "SHELL", "NO_COLOR",
    "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL",
})
PASSED_PREFIXES = ("LC_",)
GIT_FORCED = (("core.fsmonitor", "false"), ("core.hooksPath", "/dev/null"), ("core.pager", "cat"))
FIXED = {
    "TERM": "dumb", "PAGER": "cat", "GIT_PAGER": "cat", "GIT_TERMINAL_PROMPT": "0",
    "GIT_CONFIG_NOSYSTEM": "1", "TMPDIR": "/tmp",
}


@lru_cache(maxsize=1)
def _git_identity() -> dict[str, str]:
    """The user's git name and e-mail from their global config, which the sandbox hides."""
    found: dict[str, str] = {}
    for key, names in (("user.name", ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME")),
                       ("user.email", ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"))):
        try:
            done = subprocess.run(["git", "config", "--global", "--get", key], capture_output=True,
                                  text=True, timeout=5, check=False, env={**os.environ, "GIT_CONFIG_NOSYSTEM": "1"})
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0 and done.stdout.strip():
            found.update(dict.fromkeys(names, done.stdout.strip()))
    return found


def command_env(*, pass_all: bool, home: str | None, sandboxed: bool) -> dict[str, str]:
    """The environment for one command; ``home`` replaces HOME when the sandbox gives one."""
    if pass_all:
        env = dict(os.environ)
    else:
        env = {k: v for k, v in os.environ.items() if k in PASSED or k.startswith(PASSED_PREFIXES)}
        env.setdefault("PATH", os.defpath)
        if not sandboxed and "HOME" in os.environ:
            env["HOME"] = os.environ["HOME"]
    if sandboxed:
        for name, value in _git_identity().items():
            env.setdefault(name, value)
    if home is not None:
        env["HOME"] = home
    env.update(FIXED)
    env["GIT_CONFIG_COUNT"] = str(len(GIT_FORCED))
    for index, (key, value) in enumerate(GIT_FORCED):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    return env
