"""The validator's rules one by one: option allow-lists, fixed words, redirections, cd, git, reach."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from claude_proxy.tools.guard import Guard, judge_command
from tests.tools.guard.conftest import tool


def behavior(command: str, context) -> str:
    return judge_command(command, context).behavior


@pytest.mark.parametrize(("command", "expected"), [
    ("ls --zzz", "ask"),
    ("sort --out=/var/tmp/x a.txt", "ask"),
    ("ls -la --color=never src", "allow"),
    ("ls --color /etc", "ask"),
    ("head -n5 a.txt", "allow"),
    ("cut -d: -f1 a.txt", "allow"),
    ("grep -A2 -n b a.txt", "allow"),
    ("head -5 a.txt", "allow"),
    ("head -Q a.txt", "ask"),
    ("cat -- -n", "allow"),
    ("rg -n -- --pre=sh", "allow"),
    ("git log --stat=80 -3", "allow"),
    ("git log --stat 80", "allow"),
    ("git log --no-walk --output-indicator-new=+ -1", "allow"),
])
def test_options_are_judged_against_the_allow_list(command, expected, context):
    assert behavior(command, context) == expected, judge_command(command, context)


def test_an_abbreviated_long_option_asks_even_when_it_looks_harmless(context):
    verdict = judge_command("ls --hyp", context)
    assert verdict.behavior == "ask" and "spelled out" in verdict.reason
    assert behavior("ls --hyperlink=never", context) == "allow"


def test_a_glob_that_could_become_an_option(context, workspace):
    assert behavior("wc -l *", context) == "allow"
    (workspace / "--files0-from=.env").write_text("")
    assert behavior("wc -l *", context) == "ask"
    assert behavior("wc -l -- *", context) == "allow"
    assert behavior("cd src && rg TODO *", context) == "ask"


@pytest.mark.parametrize("command", [
    "rg $NOPE--pre=sh TODO", 'rg "$EMPTY" --pre ./x', "cat ${F:-/etc/passwd}", "ls ~root", "cat {a,b}.txt",
    "git log $OPTS", "head $N a.txt",
])
def test_words_only_known_at_run_time_ask(command, context):
    assert behavior(command, context) == "ask"


@pytest.mark.parametrize(("command", "expected"), [
    ("ls > /dev/null", "allow"), ("ls 2> /dev/stderr", "allow"), ("ls > /dev/fd/1", "allow"),
    ("ls > /dev/fd/3", "ask"), ("echo x > /dev/fd/../../../var/tmp/x", "ask"), ("ls > /dev/tty", "ask"),
    ("cat < /dev/fd/0", "allow"), ("ls > /dev/sda", "deny"),
])
def test_only_fixed_devices_are_safe_redirection_targets(command, expected, context):
    assert behavior(command, context) == expected


@pytest.mark.parametrize(("command", "expected"), [
    ("echo hi > notes.txt", "allow"),
    ("echo hi >> src/notes.txt", "allow"),
    ("echo '{}' > .vscode/tasks.json", "ask"),
    ("echo 'x: 1' > claude-proxy.yaml", "deny"),  # a settings file the project loads: never written by tools
    ("echo '{}' > .mcp.json", "ask"),
    ("echo x > .gitmodules", "ask"),
    ('echo hi > "$OUT"', "ask"),
    ("echo hi > *.txt", "ask"),
    ("wc -l < .env", "ask"),
    ("echo hi > .git/config", "deny"),
])
def test_accept_edits_runs_plain_workspace_redirections_only(command, expected, context):
    decision = Guard(context.settings, "acceptEdits").decide(tool("Bash"), {"command": command}, context)
    assert decision.behavior == expected, decision
    if expected == "allow":
        default = Guard(context.settings, "default").decide(tool("Bash"), {"command": command}, context)
        assert default.behavior == "ask"


@pytest.mark.parametrize(("command", "expected"), [
    ("cd src && cat app.py", "allow"),
    ("cd src; cd ..; cat README.md", "allow"),
    ("(cd src) && cat app.py", "ask"),
    ("cd src | cat app.py", "ask"),
    ("cd src & cat app.py", "ask"),
    ("cd missing; cat README.md", "ask"),
    ("cd src; cat ../../outside.txt", "ask"),
])
def test_the_directory_is_unknown_after_a_cd_that_may_fail_or_is_scoped(command, expected, context):
    assert behavior(command, context) == expected, judge_command(command, context)


def test_a_repository_config_that_names_a_program_makes_git_reads_ask(context, workspace):
    config = workspace / ".git" / "config"
    original = config.read_text()
    assert behavior("git status", context) == "allow"
    config.write_text(original + "[core]\n\tfsmonitor = touch pwned\n")
    verdict = judge_command("git status", context)
    assert verdict.behavior == "ask" and "fsmonitor" in verdict.reason
    config.write_text(original + "[core]\n\tfsmonitor = false\n")
    assert behavior("git status", context) == "allow"
    for extra in ('[diff "x"]\n\ttextconv = sh\n', "[include]\n\tpath = ../x\n", "[pager]\n\tlog = sh\n"):
        config.write_text(original + extra)
        assert behavior("git log -p", context) == "ask", extra
    subprocess.run(["git", "status"], cwd=workspace, capture_output=True, check=True)
    assert not (workspace / "pwned").exists()


def test_git_reaches_history_only_through_checked_paths(context, workspace):
    def rev(spec: str) -> str:
        return subprocess.run(["git", "rev-parse", spec], cwd=workspace, capture_output=True, text=True,
                              check=True).stdout.strip()

    assert behavior(f"git show {rev('HEAD~1:.env')}", context) == "ask"
    assert behavior(f"git show {rev('HEAD')[:12]}", context) == "allow"
    for command in ("git show HEAD:.env", "git show :0:.env", "git log -p -- '*.env'", "git grep KEY HEAD",
                    "git diff /etc/hostname README.md", "git log -S KEY", "git cat-file -p HEAD:./.env"):
        assert behavior(command, context) == "ask", command
    assert behavior("git show HEAD:README.md", context) == "allow"
    assert behavior("git log -p -- '*.md'", context) == "allow"


def test_reads_that_follow_symlinks_are_judged_on_what_they_reach(context, workspace):
    os.symlink("/etc", workspace / "docs" / "etc-link")
    for command in ("grep -R root docs", "rg -L root docs", "find -L docs -name x", "find docs -follow",
                    "tree -l docs", "du -L docs", "diff -r docs src"):
        assert behavior(command, context) == "ask", command
    for command in ("grep -r root docs", "rg root docs", "find docs -name x", "tree docs", "du docs",
                    "diff -r --no-dereference docs src"):
        assert behavior(command, context) == "allow", command
    (workspace / "docs" / "etc-link").unlink()
    os.symlink("../.env", workspace / "docs" / "notes.txt")
    assert behavior("grep -R KEY docs", context) == "ask"


def test_globs_that_select_files_are_checked_against_secrets(context):
    assert behavior("rg -g '*.py' TODO", context) == "allow"
    assert behavior("rg -g '.env' TODO", context) == "ask"
    assert behavior("grep -rn TODO --include='*.py' .", context) == "allow"
    assert behavior("grep -rn TODO --include='*' .", context) == "ask"


@pytest.mark.parametrize(("command", "expected"), [
    ("printenv PATH", "allow"), ("printenv HOME PATH", "allow"), ("echo $HOME", "allow"), ('echo "$PWD"', "allow"),
    ("printenv", "ask"), ("printenv ANTHROPIC_API_KEY", "ask"), ("echo $ANTHROPIC_API_KEY", "ask"), ("env", "ask"),
    ("export -p", "ask"), ("declare -p", "ask"), ("set", "ask"), ("compgen -e", "ask"), ("ps eww", "ask"),
    ("cat /proc/self/environ", "ask"), ("cat <<< $GITHUB_TOKEN", "ask"), ("basename $AWS_SECRET_ACCESS_KEY", "ask"),
])
def test_environment_dumps_ask_and_known_variables_do_not(command, expected, context):
    assert behavior(command, context) == expected


def _fake_program(directory: Path, name: str, content: bytes) -> None:
    path = directory / name
    path.write_bytes(content)
    path.chmod(0o755)


def test_version_queries_are_safe_only_for_real_binaries(context, workspace, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shutil.copy(shutil.which("true") or "/bin/true", bin_dir / "node")
    _fake_program(bin_dir, "python3", b'#!/usr/bin/env bash\nexec "/x/.pyenv/libexec/pyenv" exec "$@"\n')
    _fake_program(bin_dir, "perl", b"#!/bin/sh\nexec real-perl \"$@\"\n")
    monkeypatch.setenv("PATH", str(bin_dir))
    assert behavior("node -v", context) == "allow"
    assert behavior("python3 -V", context) == "allow"
    (workspace / ".python-version").write_text("3.12.1\n")
    assert behavior("python3 --version", context) == "allow"
    (workspace / ".python-version").write_text("../../../tmp/evil\n")
    assert behavior("python3 -V", context) == "ask"
    assert behavior("perl -v", context) == "ask"
    assert behavior("node -v -r ./x.js", context) == "ask"
    for name in ("cargo", "rustc", "yarn", "pnpm", "npx", "pytest", "go"):
        assert behavior(f"{name} --version", context) == "ask", name


def test_a_failure_inside_the_validator_is_a_verdict(context):
    assert judge_command(None, context).behavior == "ask"  # type: ignore[arg-type]
    assert judge_command("ls " * 100_000, context).behavior == "ask"
    assert judge_command("echo " + "$(" * 3000 + ")" * 3000, context).behavior == "ask"


def test_a_program_path_finds_inside_the_workspace_is_not_the_system_one(context, workspace, monkeypatch):
    (workspace / "bin").mkdir()
    _fake_program(workspace / "bin", "cat", b"#!/bin/sh\nid\n")
    assert behavior("cat README.md", context) == "allow"
    monkeypatch.setenv("PATH", f"{workspace / 'bin'}:{os.environ['PATH']}")
    assert behavior("cat README.md", context) == "ask"
    assert behavior("echo hi", context) == "allow"


def test_cd_through_cdpath_lands_somewhere_unknown(context, monkeypatch):
    assert behavior("cd src && cat app.py", context) == "allow"
    monkeypatch.setenv("CDPATH", "/etc")
    assert behavior("cd src && cat app.py", context) == "ask"
    assert behavior("cd ./src && cat app.py", context) == "allow"


@pytest.mark.parametrize(("command", "expected"), [
    ("awk '{print $1}' a.txt", "allow"), ("awk -F: '/b/ {n++} END {print n}' a.txt", "allow"),
    ("awk '{print \"a>b\"}' a.txt", "allow"), ("awk '{print > \"/var/tmp/x\"}' a.txt", "ask"),
    ("awk '{print | \"sh\"}' a.txt", "ask"), ("awk 'BEGIN{system(\"id\")}'", "ask"),
    ("awk 'BEGIN{print ENVIRON[\"HOME\"]}'", "ask"), ("awk -f prog.awk a.txt", "ask"),
    ("awk '{print}' .env", "ask"), ("awk \"$P\" a.txt", "ask"),
])
def test_awk_programs_that_only_read_and_print_are_safe(command, expected, context):
    assert behavior(command, context) == expected


def test_an_input_process_substitution_is_judged_by_its_commands(context):
    assert behavior("diff <(sort a.txt) <(sort README.md)", context) == "allow"
    assert behavior("diff <(cat .env) a.txt", context) == "ask"
    assert behavior("cat <(rm -rf /var/tmp/x)", context) == "deny"
    assert behavior("tee >(sh) < a.txt", context) == "ask"
    assert behavior("ps aux", context) == "allow"
    assert behavior("ps auxe", context) == "ask"
