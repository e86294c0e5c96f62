"""The path validator with real files, real symlinks and a real FIFO."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from claude_proxy.tools.base import ToolContext
from claude_proxy.tools.guard import PathDenied, check_path
from tests.tools.guard.conftest import make_context


def test_relative_paths_resolve_inside_the_workspace(context, workspace):
    assert check_path("src/app.py", context) == workspace / "src" / "app.py"
    assert check_path("./src/../README.md", context) == workspace / "README.md"
    assert check_path(str(workspace / "a.txt"), context) == workspace / "a.txt"


def test_new_file_in_new_directories_is_allowed_for_writing(context, workspace):
    assert check_path("build/out/x.txt", context, write=True) == workspace / "build" / "out" / "x.txt"


@pytest.mark.parametrize("path", ["../outside.txt", "../../etc/passwd", "/etc/passwd", "~/.bashrc",
                                  "src/../../x", "/", "~"])
def test_traversal_and_absolute_paths_outside_are_refused(context, path):
    with pytest.raises(PathDenied, match="outside the workspace"):
        check_path(path, context)


def test_nul_byte_and_empty_path_are_refused(context):
    with pytest.raises(PathDenied, match="NUL"):
        check_path("a.txt\x00.png", context)
    with pytest.raises(PathDenied, match="empty"):
        check_path("  ", context)


def test_symlink_to_a_file_outside_is_refused(context, workspace, outside):
    os.symlink(outside / "canary", workspace / "link")
    with pytest.raises(PathDenied, match="outside the workspace"):
        check_path("link", context)
    with pytest.raises(PathDenied, match="outside the workspace"):
        check_path("link", context, write=True)


def test_symlinked_directory_escape_is_refused_for_existing_and_new_files(context, workspace, outside):
    os.symlink(outside, workspace / "dir")
    with pytest.raises(PathDenied):
        check_path("dir/canary", context)
    with pytest.raises(PathDenied):
        check_path("dir/new.txt", context, write=True)


def test_dangling_symlink_pointing_outside_cannot_be_written(context, workspace, outside):
    os.symlink(outside / "not-yet", workspace / "dangling")
    with pytest.raises(PathDenied, match="outside the workspace"):
        check_path("dangling", context, write=True)
    assert not (outside / "not-yet").exists()


def test_symlink_inside_the_workspace_is_fine(context, workspace):
    os.symlink(workspace / "src" / "app.py", workspace / "alias.py")
    assert check_path("alias.py", context) == workspace / "src" / "app.py"


def test_link_outside_pointing_into_the_workspace_is_refused(context, workspace, outside):
    os.symlink(workspace / "a.txt", outside / "into-ws")
    with pytest.raises(PathDenied, match="outside the workspace"):
        check_path(str(outside / "into-ws"), context)


def test_symlink_to_a_secret_is_refused(context, workspace):
    os.symlink(workspace / ".env", workspace / "innocent.txt")
    with pytest.raises(PathDenied, match="secret"):
        check_path("innocent.txt", context)


def test_symlink_named_like_a_startup_file_is_refused_for_writing(context, workspace):
    os.symlink(workspace / "a.txt", workspace / ".bashrc")
    with pytest.raises(PathDenied, match="start-up file"):
        check_path(".bashrc", context, write=True)


def test_symlink_loop_is_refused(context, workspace):
    os.symlink(workspace / "loop-b", workspace / "loop-a")
    os.symlink(workspace / "loop-a", workspace / "loop-b")
    with pytest.raises(PathDenied, match="loop"):
        check_path("loop-a", context)


def test_fifo_is_refused(context, workspace):
    os.mkfifo(workspace / "pipe")
    with pytest.raises(PathDenied, match="FIFO"):
        check_path("pipe", context)


def test_device_files_are_refused_even_with_the_root_as_workspace(tmp_path):
    context = ToolContext(cwd=Path("/"))
    with pytest.raises(PathDenied):
        check_path("/dev/null", context)
    with pytest.raises(PathDenied):
        check_path("/proc/self/environ", context)


def test_git_internals_can_be_read_but_not_written(context):
    assert check_path(".git/config", context).name == "config"
    for target in (".git/config", ".git/hooks/pre-commit", ".git/HEAD", ".git"):
        with pytest.raises(PathDenied, match=".git"):
            check_path(target, context, write=True)


@pytest.mark.parametrize("name", [".bashrc", ".profile", ".zshrc", ".bash_profile", ".zshenv", ".gitconfig",
                                  ".config/fish/config.fish"])
def test_shell_startup_files_cannot_be_written(context, name):
    with pytest.raises(PathDenied, match="start-up"):
        check_path(name, context, write=True)


def test_ssh_directory_is_off_limits_for_reading_and_writing(context, workspace):
    (workspace / ".ssh").mkdir()
    (workspace / ".ssh" / "id_rsa").write_text("key")
    for write in (False, True):
        with pytest.raises(PathDenied, match="ssh"):
            check_path(".ssh/id_rsa", context, write=write)


@pytest.mark.parametrize("name", [".env", ".env.local", ".env.production", ".npmrc", ".netrc", "id_rsa",
                                  "server.pem", ".aws/credentials"])
def test_secrets_are_refused_without_a_rule(context, name):
    with pytest.raises(PathDenied, match="secret"):
        check_path(name, context)


def test_env_templates_are_not_secrets(context):
    assert check_path(".env.example", context).name == ".env.example"


def test_an_allow_rule_unlocks_a_secret(workspace):
    context = make_context(workspace, permissions={"allow": ["Read(./.env)"]})
    assert check_path(".env", context) == workspace / ".env"
    with pytest.raises(PathDenied, match="secret"):
        check_path(".env", context, write=True)
    context.session.session_allow.append("Edit(./.env)")
    assert check_path(".env", context, write=True) == workspace / ".env"


def test_deny_rules_close_paths(workspace):
    context = make_context(workspace, permissions={"deny": ["Read(./docs/**)", "Edit(src/**)"]})
    with pytest.raises(PathDenied, match="denied by the permission rule Read"):
        check_path("docs/guide.md", context)
    with pytest.raises(PathDenied, match="denied by the permission rule Edit"):
        check_path("src/app.py", context, write=True)
    assert check_path("src/app.py", context) == workspace / "src" / "app.py"


def test_extra_roots_from_context_and_settings(workspace, outside):
    context = ToolContext(cwd=workspace, extra_roots=[outside])
    assert check_path(str(outside / "canary"), context) == outside / "canary"
    configured = make_context(workspace, tools={"extra_roots": [str(outside)]})
    assert check_path(str(outside / "new"), configured, write=True) == outside / "new"


def test_a_hard_linked_file_is_refused_unless_a_rule_names_it(workspace, outside):
    os.link(outside / "canary", workspace / "looks-harmless.txt")
    for write in (False, True):
        with pytest.raises(PathDenied, match="2 hard links"):
            check_path("looks-harmless.txt", make_context(workspace), write=write)
    allowed = make_context(workspace, permissions={"allow": ["Read(./looks-harmless.txt)"]})
    assert check_path("looks-harmless.txt", allowed) == workspace / "looks-harmless.txt"


def test_over_long_paths_are_refused_with_the_reason(context):
    with pytest.raises(PathDenied, match="longer than 255 bytes"):
        check_path("a/" + "x" * 300 + "/b.txt", context, write=True)
    with pytest.raises(PathDenied, match="PATH_MAX"):
        check_path("d/" * 2100, context)


@pytest.mark.parametrize("name", ["claude-proxy.yaml", "sub/claude-proxy.yaml"])
def test_the_settings_files_the_project_loads_cannot_be_written(context, name):
    with pytest.raises(PathDenied, match="settings file"):
        check_path(name, context, write=True)
    assert check_path(name, context).name == "claude-proxy.yaml"


def test_the_user_settings_file_cannot_be_written_when_it_is_in_the_workspace(workspace, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(workspace / "cfg"))
    for name in ("cfg/claude-proxy/settings.yaml", "cfg/claude-proxy/trusted.json"):
        with pytest.raises(PathDenied, match="settings file"):
            check_path(name, make_context(workspace), write=True)


def test_a_failure_inside_the_guard_is_a_refusal_not_an_exception(workspace):
    broken = ToolContext(cwd=workspace, settings=None)  # type: ignore[arg-type]
    with pytest.raises(PathDenied, match="path check failed"):
        check_path("a.txt", broken)
    gone = ToolContext(cwd=workspace / "no-such-dir")
    with pytest.raises(PathDenied):
        check_path("a.txt", gone)


def test_a_deep_path_outside_is_refused_quickly(context):
    import time

    started = time.monotonic()
    with pytest.raises(PathDenied, match="outside the workspace"):
        check_path("/nonexistent" + "/x" * 2000, context)
    with pytest.raises(PathDenied, match="outside the workspace"):
        check_path("/nonexistent/../" + str(context.cwd).lstrip("/") + "/a.txt", context)
    assert time.monotonic() - started < 2
