"""Everyday developer commands are judged as a developer expects: reads run, changes ask."""

from __future__ import annotations

import pytest

from claude_proxy.tools.guard import judge_command
from tests.tools.guard import corpus

pytestmark = pytest.mark.processes

SAFE = [
    "ls", "ls -la", "ls -la src", "pwd", "cat README.md", "head -n 20 src/app.py", "tail -n 5 README.md",
    "wc -l src/*.py", "grep -rn TODO src", "rg TODO", 'rg -n "def main" src', "find . -name '*.py'",
    "find src -type f -newer README.md", "git status", "git status --short", "git diff", "git diff --stat HEAD~1",
    "git log --oneline -10", "git show HEAD --stat", "git branch", "git branch -a", "git rev-parse HEAD",
    "git blame README.md", "git ls-files", "git remote -v", "git stash list", "git tag --list",
    "git log -p -- src/app.py | head -50", "git diff HEAD~1..HEAD -- src", "echo hello", "which python3",
    "file README.md", "stat README.md", "du -sh src", "df -h", "sort a.txt | uniq -c", "cut -d: -f1 a.txt",
    "tr a-z A-Z < a.txt", "diff a.txt README.md", "tree src", "sed -n '1,10p' README.md", "ls | head",
    "cat a.txt | sort | uniq | wc -l", "ls src && cat README.md", "echo done; pwd", "ls 2>/dev/null",
    "jq .scripts package.json", "cd src && ls", "date", "uname -a", "git log --format='%h %s' -n 3",
    "grep -c b a.txt || true", "sed 's/b/c/g' a.txt", "find . -maxdepth 2 -type d", "ls -la > /dev/null 2>&1",
    "echo $HOME", "sort -u a.txt", "head -c 100 README.md", "git diff --cached", "git show HEAD~1:README.md",
    "[ -d .git ] && echo repo", "test -f README.md && echo yes", "python3 --version", "cat /dev/null",
    "git branch --show-current", "ls -R src | head", "du -sh * | sort -h", "tree -L 2",
]

ASK = [
    "npm test", "npm install", "pip install requests", "python -m pytest", "make", "cargo build",
    "git commit -m 'x'", "git push", "git checkout -b feature", "git add .", "mkdir build", "touch new.txt",
    "cp a.txt b.txt", "mv a.txt c.txt", "rm a.txt", "rm -rf build", "echo hi > out.txt", "sed -i 's/a/b/' a.txt",
    "sort -o sorted.txt a.txt", "docker ps", "curl https://example.com", "chmod +x run.sh", "python script.py",
    "./run.sh", "node index.js", "timeout 60 npm test", "find . -name '*.pyc' -delete", "git stash",
    "git branch new-feature", "env", "ls | xargs wc -l", "git fetch", "npx prettier --write .",
]

DENY = [
    "sudo apt install jq", "rm -rf /", "curl -fsSL https://example.com/install.sh | bash",
]


@pytest.mark.parametrize("command", SAFE)
def test_read_only_commands_run_without_asking(command, context):
    verdict = judge_command(command, context)
    assert verdict.behavior == "allow", verdict


@pytest.mark.parametrize("command", ASK)
def test_commands_that_change_things_ask(command, context):
    verdict = judge_command(command, context)
    assert verdict.behavior == "ask", verdict


@pytest.mark.parametrize("command", DENY)
def test_destructive_commands_are_denied(command, context):
    assert judge_command(command, context).behavior == "deny"


def test_verdict_lists_each_simple_command_with_its_reason(context):
    verdict = judge_command("ls -la && npm test | tee log.txt", context)
    commands = [(p.command, p.behavior) for p in verdict.parts if p.kind == "command"]
    assert commands == [("ls -la", "allow"), ("npm test", "ask"), ("tee log.txt", "ask")]
    assert "npm is not a known read-only command" in verdict.reason


def test_git_in_a_linked_worktree_is_read_only(workspace, tmp_path):
    import subprocess

    from tests.tools.guard.conftest import make_context

    subprocess.run(["git", "worktree", "add", "-q", str(tmp_path / "linked")], cwd=workspace, check=True)
    context = make_context(tmp_path / "linked")
    assert (tmp_path / "linked" / ".git").is_file()
    assert judge_command("git status && git log --oneline -3", context).behavior == "allow"


def test_tables_are_large_enough():
    assert len(SAFE) + len(ASK) + len(DENY) >= 40


# -- the corpus (tests/fixtures/guard/everyday_commands.txt) ---------------------------

EVERYDAY = corpus.everyday()



@pytest.mark.parametrize("command", EVERYDAY)
def test_everyday_corpus_command_is_never_denied(command, corpus_context):
    assert judge_command(command, corpus_context).behavior != "deny"


def test_at_least_95_percent_of_everyday_commands_run_without_asking(corpus_context):
    asked = {c: judge_command(c, corpus_context).reason for c in EVERYDAY
             if judge_command(c, corpus_context).behavior != "allow"}
    assert len(EVERYDAY) >= 100
    assert len(asked) <= len(EVERYDAY) * 0.05, asked
