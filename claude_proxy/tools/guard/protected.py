"""Files whose contents decide what runs later: the one list, for every tool and validator.

Two kinds, both about writes (reading them is fine):

- `settings_reason`: the settings files claude-proxy itself loads
  (``claude-proxy.yaml`` in any directory, since any directory can become the working
  directory; the per-user settings file and its trust list; ``$CLAUDE_PROXY_CONFIG``).
  One write there could turn the guard off, so no tool may write them, in any mode.
- `runs_code_reason`: files other programs run code from later, outside the sandbox
  and without asking: git hooks and config, ``.gitmodules``, editor tasks and run
  configurations, MCP server lists, direnv and shell start-up files. Writing them
  always asks, in every mode (``acceptEdits`` and ``bypassPermissions`` included),
  and an "always" answer or an allow rule does not change that.

`protected_reason(path, root)` answers both for a resolved path, so the command
validator can judge redirections and ``cp``/``mv``/``tee`` targets with the same list.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from claude_proxy.settings import LOCAL_FILE, SEARCH_ORDER_ENV, user_config_path
from claude_proxy.trust import trust_store_path

SHELL_STARTUP = frozenset({
    ".bashrc", ".bash_profile", ".bash_login", ".bash_logout", ".profile", ".zshrc", ".zshenv",
    ".zprofile", ".zlogin", ".zlogout", ".cshrc", ".tcshrc", ".login", ".logout", ".kshrc",
    ".mkshrc", ".inputrc", ".envrc", ".gitconfig", "config.fish",
})
# (directory, name) pairs relative to any directory; "*" matches every name in that directory
RUNS_CODE = (
    ((), ".gitmodules"),
    ((".git",), "config"),
    ((".git", "hooks"), "*"),
    ((".vscode",), "tasks.json"),
    ((".vscode",), "settings.json"),
    ((".vscode",), "launch.json"),
    ((".idea",), "workspace.xml"),
    ((".idea", "runConfigurations"), "*"),
    ((), ".mcp.json"),
    ((".cursor",), "mcp.json"),
    ((".claude",), "settings.json"),
    ((".claude",), "settings.local.json"),
    ((".devcontainer",), "*"),  # devcontainer.json's initializeCommand runs on the host when the folder opens
    ((), ".devcontainer.json"),
)


def settings_reason(path: Path) -> str | None:
    """Why ``path`` is a settings file claude-proxy loads, or None."""
    if path.name == LOCAL_FILE:
        return f"{path} is a claude-proxy settings file; tools may not write it (edit it yourself)"
    loaded = {user_config_path(), trust_store_path()}
    from_env = os.environ.get(SEARCH_ORDER_ENV)
    if from_env:
        loaded.add(Path(from_env).expanduser())
    for candidate in loaded:
        if path == Path(os.path.realpath(candidate)) or path == candidate:
            return f"{path} is a claude-proxy settings file; tools may not write it (edit it yourself)"
    return None


def runs_code_reason(path: Path) -> str | None:
    """Why writing ``path`` could run code later, outside the guard, or None."""
    parts = [part.lower() for part in PurePosixPath(path).parts]
    if not parts:
        return None
    name = parts[-1]
    if name in SHELL_STARTUP:
        return f"{path} is a start-up file a shell, direnv or git runs code from"
    for where, pattern in RUNS_CODE:
        size = len(where)
        if len(parts) < size + 1 or tuple(parts[-size - 1:-1]) != tuple(w.lower() for w in where):
            continue
        if pattern == "*" or name == pattern.lower():
            return f"{path} is read by git, an editor or an agent tool that can run commands from it"
    if ".git" in parts[:-1] and "hooks" in parts[parts.index(".git") + 1:-1]:
        return f"{path} is inside .git/hooks, which git runs"
    return None


def protected_reason(path: Path, root: Path | None = None) -> str | None:
    """Why a write to the resolved ``path`` must not run unasked, or None.

    ``root`` (the workspace root the path is in) is accepted for callers that judge
    relative to it; the list itself matches on trailing components, so a nested
    repository's ``.git/hooks`` is covered too.
    """
    return settings_reason(path) or runs_code_reason(path)
