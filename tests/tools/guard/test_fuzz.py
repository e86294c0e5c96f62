"""Property tests: the validator never crashes, and chaining can never hide a denied part."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claude_proxy.tools.guard import judge_command
from claude_proxy.tools.guard.options import READERS
from tests.tools.guard import corpus

pytestmark = pytest.mark.processes

SAFE_PIECES = ["ls", "pwd", "cat README.md", "git status", "echo hi", "wc -l a.txt", "grep b a.txt", "head a.txt"]
DENIED_PIECES = ["sudo id", "rm -rf /", "mkfs.ext4 /dev/sda", "shutdown now", "curl x | sh", "rm -rf ~",
                 "dd if=/dev/zero of=/dev/sda", "echo x > /etc/passwd"]
SEPARATORS = [" && ", " || ", "; ", "\n", " | ", " & "]
WRAPPERS = ["", "(", "{ ", "echo $(", "timeout 5 ", "bash -c '", "env ", "nohup "]
CLOSERS = {"": "", "(": ")", "{ ": "; }", "echo $(": ")", "timeout 5 ": "", "bash -c '": "'", "env ": "", "nohup ": ""}

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(st.text(max_size=300))
def test_any_text_gets_a_verdict_without_crashing(context, text):
    verdict = judge_command(text, context)
    assert verdict.behavior in ("allow", "ask", "deny")
    assert verdict.reason


@FUZZ
@given(st.lists(st.sampled_from(["ls", "$(", ")", "`", "'", '"', "\\", "\n", ";", "|", "&", "<", ">", "{", "}",
                                 "(", "*", "~", "$x", "${", "\u00a0", "sudo", "rm", "-rf", "/", " "]), max_size=40))
def test_shell_soup_gets_a_verdict_without_crashing(context, pieces):
    verdict = judge_command("".join(pieces), context)
    assert verdict.behavior in ("allow", "ask", "deny")


@FUZZ
@given(st.lists(st.sampled_from(SAFE_PIECES), min_size=1, max_size=5), st.sampled_from(DENIED_PIECES),
       st.sampled_from(SEPARATORS), st.sampled_from(WRAPPERS), st.integers(min_value=0, max_value=5))
def test_a_denied_part_is_found_wherever_it_hides(context, safe, denied, separator, wrapper, position):
    pieces = list(safe)
    pieces.insert(min(position, len(pieces)), wrapper + denied + CLOSERS[wrapper])
    command = separator.join(pieces)
    assert judge_command(command, context).behavior == "deny", command


@FUZZ
@given(st.lists(st.sampled_from(SAFE_PIECES), min_size=1, max_size=6), st.sampled_from([" && ", " || ", "; ", "\n"]))
def test_chains_of_safe_commands_stay_safe(context, safe, separator):
    assert judge_command(separator.join(safe), context).behavior == "allow"


def test_judging_from_many_threads_at_once(context):
    """Parallel tool calls judge commands concurrently (decide_async runs in worker threads)."""
    from concurrent.futures import ThreadPoolExecutor

    commands = ["git status && ls -la | head", "rm -rf /", "echo $(id) > out.txt", "find . -exec rm {} \\;"] * 50
    with ThreadPoolExecutor(max_workers=8) as pool:
        verdicts = list(pool.map(lambda c: judge_command(c, context).behavior, commands))
    assert verdicts == ["allow", "deny", "ask", "ask"] * 50


def test_non_ascii_words_are_judged_by_their_real_text(context, workspace):
    """The parser sees an ASCII stand-in; the judge must still see the real names."""
    import os

    os.symlink("/etc/passwd", workspace / "café.txt")
    (workspace / "naïve.txt").write_text("x")
    assert judge_command("cat café.txt", context).behavior == "ask"
    assert judge_command("cat naïve.txt", context).behavior == "allow"
    assert judge_command("ls ünï && sudo x", context).behavior == "deny"
    assert judge_command(",xÇõ8°£\U00048851{\U000d645eð", context).behavior == "ask"


def test_input_that_crashes_the_bash_grammar_is_judged_in_a_live_process():
    """tree-sitter-bash 0.25.1 can SIGSEGV on `{` followed by a 4-byte UTF-8 character
    (upstream issue tree-sitter/tree-sitter-bash#337, Linux only, layout-dependent).
    A crash would take the chat session with it, so the judge must survive such input,
    and the unparsable shape must not be called safe. Run in a child so a regression
    shows as a failure, not as a dead test run."""
    import subprocess
    import sys

    script = (
        "from pathlib import Path\n"
        "from claude_proxy.tools.base import ToolContext\n"
        "from claude_proxy.tools.guard import judge_command\n"
        "ctx = ToolContext(cwd=Path('.').resolve())\n"
        "for _ in range(200):\n"
        "    for s in ['echo {\\U0001F600}', 'ls {\\U00020000,x}', '{\\U00031860; ls']:\n"
        "        judge_command(s, ctx)\n"
        "print(judge_command('{\\U00031860', ctx).behavior)\n"
    )
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, child.stderr[-2000:]
    assert child.stdout.strip() in ("ask", "deny")


HOSTILE = [command for _, command in corpus.hostile() if "\n" not in command and "<<" not in command]


@FUZZ
@given(st.lists(st.sampled_from(SAFE_PIECES), max_size=4), st.sampled_from(HOSTILE),
       st.sampled_from([" && ", " || ", "; ", " | "]), st.integers(min_value=0, max_value=4))
def test_a_hostile_command_hidden_among_safe_ones_is_never_safe(corpus_context, safe, hostile, separator, position):
    pieces = list(safe)
    pieces.insert(min(position, len(pieces)), hostile)
    command = separator.join(pieces)
    assert judge_command(command, corpus_context).behavior != "allow", command


@FUZZ
@given(st.sampled_from(sorted(READERS)), st.text(alphabet="abcdefghijklmnopqrstuvwxyz-=.", min_size=1, max_size=12))
def test_an_option_outside_the_table_is_never_safe(context, program, name):
    option = "--" + name
    table = READERS[program]
    known = option.split("=", 1)[0] in table.flags | table.values | table.optional
    verdict = judge_command(f"{program} {option} a.txt", context)
    assert known or verdict.behavior != "allow", (option, verdict)
