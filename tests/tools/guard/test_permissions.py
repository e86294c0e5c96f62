"""Permission rules in Claude Code's syntax and the four modes, through `Guard.decide`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from claude_proxy.permission_rules import RuleError, match_bash, match_domain, match_path, parse_rule
from claude_proxy.settings import SettingsError, parse_settings
from claude_proxy.tools.guard import Guard
from tests.tools.guard.conftest import make_context, tool

READ, WRITE, EDIT, BASH = tool("Read", True), tool("Write"), tool("Edit"), tool("Bash")


def decide(guard, name, tool_input, context, read_only=False):
    return guard.decide(tool(name, read_only), tool_input, context)


@pytest.mark.parametrize(("text", "tool_name", "spec"), [
    ("Bash", "Bash", None), ("Bash(git status)", "Bash", "git status"), ("Bash(*)", "Bash", None),
    ("Read(./src/**)", "Read", "./src/**"), ("WebFetch(domain:example.com)", "WebFetch", "domain:example.com"),
    ("mcp__github", "mcp__github", None),
])
def test_rules_parse(text, tool_name, spec):
    rule = parse_rule(text)
    assert (rule.tool, rule.specifier) == (tool_name, spec)


@pytest.mark.parametrize("text", ["", "Bash(", "two words", "Bash(npm:* x)", "WebFetch(example.com)", "(x)"])
def test_malformed_rules_are_rejected(text):
    with pytest.raises(RuleError):
        parse_rule(text)


def test_malformed_rule_in_settings_names_the_key():
    with pytest.raises(SettingsError, match=r"permissions\.deny\.0.*Bash\("):
        parse_settings({"permissions": {"deny": ["Bash("]}})


@pytest.mark.parametrize(("spec", "command", "expected"), [
    ("git status", "git status", True), ("git status", "git  status", True), ("git status", "git status -s", False),
    ("npm run test:*", "npm run test", True), ("npm run test:*", "npm run test -- --watch", True),
    ("npm run test:*", "npm run testing", False), ("npm run test:*", "npm run build", False),
])
def test_bash_rule_matching(spec, command, expected):
    assert match_bash(spec, command) is expected


@pytest.mark.parametrize(("spec", "rel", "expected"), [
    ("./src/**", "src/app.py", True), ("./src/**", "src/a/b.py", True), ("./src/**", "docs/x.md", False),
    ("docs/**", "docs/guide/x.md", True), ("*.md", "docs/guide/x.md", True), ("*.md", "a.txt", False),
    ("/README.md", "README.md", True), ("/README.md", "docs/README.md", False),
])
def test_path_rule_matching_relative_to_cwd(workspace, spec, rel, expected):
    assert match_path(spec, workspace / rel, workspace) is expected


def test_absolute_and_home_path_rules(workspace):
    assert match_path(f"/{workspace}/src/**", workspace / "src" / "app.py", Path("/"))
    assert match_path("~/notes/**", Path.home() / "notes" / "a.md", workspace)
    assert not match_path("~/notes/**", workspace / "notes" / "a.md", workspace)


def test_domain_rules_match_host_and_subdomains():
    assert match_domain("domain:example.com", "example.com")
    assert match_domain("domain:example.com", "docs.example.com")
    assert not match_domain("domain:example.com", "example.com.evil.net")
    assert not match_domain("domain:example.com", "notexample.com")


def test_default_mode(context):
    guard = Guard(context.settings)
    assert guard.decide(READ, {"file_path": "README.md"}, context).behavior == "allow"
    assert guard.decide(EDIT, {"file_path": "README.md", "old_string": "a", "new_string": "b"},
                        context).behavior == "ask"
    assert guard.decide(BASH, {"command": "git status && ls"}, context).behavior == "allow"
    decision = guard.decide(BASH, {"command": "npm test"}, context)
    assert decision.behavior == "ask" and "npm" in decision.reason
    assert decide(guard, "TodoWrite", {"todos": []}, context).behavior == "allow"
    assert decide(guard, "WebFetch", {"url": "https://example.com", "prompt": "x"}, context).behavior == "ask"


def test_unknown_tools_ask(context):
    decision = decide(Guard(), "FrobnicateEverything", {}, context, read_only=True)
    assert decision.behavior == "ask"


@pytest.mark.parametrize("tool_input", [["ls"], "ls", None])
def test_input_that_is_not_an_object_is_denied_in_every_mode(context, tool_input):
    decision = Guard(context.settings, mode="bypassPermissions").decide(BASH, tool_input, context)
    assert decision.behavior == "deny" and "JSON object" in decision.reason


def test_accept_edits_mode(context):
    guard = Guard(context.settings, mode="acceptEdits")
    assert guard.decide(WRITE, {"file_path": "new.txt", "content": "x"}, context).behavior == "allow"
    assert guard.decide(BASH, {"command": "ls > listing.txt"}, context).behavior == "allow"
    assert guard.decide(BASH, {"command": "npm test"}, context).behavior == "ask"
    assert guard.decide(WRITE, {"file_path": "../x.txt", "content": "x"}, context).behavior == "deny"
    assert guard.decide(WRITE, {"file_path": ".git/config", "content": "x"}, context).behavior == "deny"


def test_plan_mode_denies_everything_but_reading(context):
    guard = Guard(context.settings, mode="plan")
    assert guard.decide(READ, {"file_path": "README.md"}, context).behavior == "allow"
    assert guard.decide(BASH, {"command": "git log --oneline | head"}, context).behavior == "allow"
    for tool_obj, tool_input in ((WRITE, {"file_path": "x", "content": ""}), (BASH, {"command": "npm test"})):
        decision = guard.decide(tool_obj, tool_input, context)
        assert decision.behavior == "deny" and "plan mode" in decision.reason


def test_plan_mode_ignores_allow_rules_for_changes(workspace):
    context = make_context(workspace, permissions={"allow": ["Bash(npm test:*)", "Edit"]})
    guard = Guard(context.settings, mode="plan")
    assert guard.decide(BASH, {"command": "npm test"}, context).behavior == "deny"
    assert guard.decide(EDIT, {"file_path": "a.txt", "old_string": "a", "new_string": "c"}, context).behavior == "deny"


def test_bypass_mode_allows_all_but_deny_rules_and_validator_denials(workspace):
    context = make_context(workspace, permissions={"deny": ["Bash(npm publish:*)", "Write(./docs/**)"],
                                                   "ask": ["Bash(npm test:*)"]})
    guard = Guard(context.settings, mode="bypassPermissions")
    assert guard.decide(BASH, {"command": "npm test"}, context).behavior == "allow"
    assert guard.decide(WRITE, {"file_path": "src/new.py", "content": ""}, context).behavior == "allow"
    assert guard.decide(BASH, {"command": "npm publish"}, context).behavior == "deny"
    assert guard.decide(BASH, {"command": "timeout 9 npm publish --tag x"}, context).behavior == "deny"
    assert guard.decide(WRITE, {"file_path": "docs/a.md", "content": ""}, context).behavior == "deny"
    assert guard.decide(BASH, {"command": "rm -rf ~"}, context).behavior == "deny"
    assert guard.decide(READ, {"file_path": "/etc/passwd"}, context).behavior == "deny"


def test_default_mode_comes_from_settings(workspace):
    context = make_context(workspace, permissions={"default_mode": "plan"})
    assert Guard(context.settings).mode == "plan"
    assert Guard(context.settings, mode="default").mode == "default"
    with pytest.raises(ValueError, match="unknown permission mode"):
        Guard(context.settings, mode="yolo")
    guard = Guard(context.settings)
    guard.set_mode("acceptEdits")
    assert guard.decide(WRITE, {"file_path": "x.txt", "content": ""}, context).behavior == "allow"
    with pytest.raises(ValueError):
        guard.set_mode("nope")


def test_deny_wins_over_ask_over_allow(workspace):
    context = make_context(workspace, permissions={
        "allow": ["Bash(npm test:*)", "Bash(make:*)", "Read"], "ask": ["Bash(make:*)", "Read(./docs/**)"],
        "deny": ["Bash(npm test:*)"]})
    guard = Guard(context.settings)
    assert guard.decide(BASH, {"command": "npm test"}, context).behavior == "deny"
    decision = guard.decide(BASH, {"command": "make all"}, context)
    assert decision.behavior == "ask" and "Bash(make:*)" in decision.reason
    assert guard.decide(READ, {"file_path": "docs/x.md"}, context).behavior == "ask"


def test_every_part_of_a_compound_command_must_be_allowed(workspace):
    context = make_context(workspace, permissions={"allow": ["Bash(npm test:*)"]})
    guard = Guard(context.settings)
    assert guard.decide(BASH, {"command": "npm test"}, context).behavior == "allow"
    assert guard.decide(BASH, {"command": "npm test && git status"}, context).behavior == "allow"
    assert guard.decide(BASH, {"command": "npm test && npm publish"}, context).behavior == "ask"
    assert guard.decide(BASH, {"command": "npm test $(curl x)"}, context).behavior == "ask"
    assert guard.decide(BASH, {"command": "npm test; curl x | sh"}, context).behavior == "deny"
    assert guard.decide(BASH, {"command": "npm test > /etc/x"}, context).behavior == "deny"


def test_path_rules_allow_edits_in_a_folder(workspace):
    context = make_context(workspace, permissions={"allow": ["Edit(docs/**)"]})
    guard = Guard(context.settings)
    assert guard.decide(WRITE, {"file_path": "docs/new.md", "content": ""}, context).behavior == "allow"
    assert guard.decide(WRITE, {"file_path": "src/new.py", "content": ""}, context).behavior == "ask"


def test_webfetch_domain_rules(workspace):
    context = make_context(workspace, permissions={"allow": ["WebFetch(domain:docs.python.org)"],
                                                   "deny": ["WebFetch(domain:evil.example)"]})
    guard = Guard(context.settings)
    assert decide(guard, "WebFetch", {"url": "https://docs.python.org/3/", "prompt": ""}, context).behavior == "allow"
    assert decide(guard, "WebFetch", {"url": "https://a.evil.example/", "prompt": ""}, context).behavior == "deny"
    assert decide(guard, "WebFetch", {"url": "https://other.org/", "prompt": ""}, context).behavior == "ask"


def test_mcp_server_rules(workspace):
    context = make_context(workspace, permissions={"allow": ["mcp__github"]})
    guard = Guard(context.settings)
    assert decide(guard, "mcp__github__list_issues", {}, context).behavior == "allow"
    assert decide(guard, "mcp__gitlab__list_issues", {}, context).behavior == "ask"
    one = make_context(workspace, permissions={"allow": ["mcp__db__query"], "deny": ["mcp__db__drop"]})
    guard = Guard(one.settings, "bypassPermissions")
    assert decide(guard, "mcp__db__query", {}, one).behavior == "allow"
    assert decide(guard, "mcp__db__drop", {}, one).behavior == "deny"
    assert decide(guard, "mcp__db__drop__all", {}, one).behavior == "allow", "a tool rule names one tool only"


def test_file_tools_outside_the_workspace_are_denied_with_the_reason(context):
    guard = Guard(context.settings)
    decision = guard.decide(READ, {"file_path": "../../etc/passwd"}, context)
    assert decision.behavior == "deny" and "outside the workspace" in decision.reason
    decision = guard.decide(READ, {"file_path": ".env"}, context)
    assert decision.behavior == "deny" and "Read(./.env)" in decision.reason
    glob = decide(guard, "Glob", {"pattern": "../*"}, context, read_only=True)
    assert glob.behavior == "deny"
    glob = decide(guard, "Glob", {"pattern": "/etc/*"}, context, read_only=True)
    assert glob.behavior == "deny"
    assert decide(guard, "Grep", {"pattern": "x"}, context, read_only=True).behavior == "allow"


def test_always_answers_are_remembered_for_the_session(context):
    guard = Guard(context.settings)
    call = {"command": "npm run test -- --watch"}
    assert guard.decide(BASH, call, context).behavior == "ask"
    rule = guard.suggest_rule(BASH, call, context)
    assert rule == "Bash(npm run test:*)"
    guard.remember(rule, context)
    assert guard.decide(BASH, call, context).behavior == "allow"
    assert guard.decide(BASH, {"command": "npm run build"}, context).behavior == "ask"
    with pytest.raises(RuleError):
        guard.remember("Bash(", context)


@pytest.mark.parametrize(("name", "tool_input", "expected"), [
    ("Bash", {"command": "git push origin main"}, "Bash(git push:*)"),
    ("Bash", {"command": "python script.py --x"}, "Bash(python script.py --x)"),
    ("Bash", {"command": "make"}, "Bash(make:*)"),
    ("Edit", {"file_path": "src/app.py", "old_string": "a", "new_string": "b"}, "Edit(./src/**)"),
    ("Write", {"file_path": "new.txt", "content": ""}, "Edit(./**)"),
    ("WebFetch", {"url": "https://docs.python.org/3/", "prompt": ""}, "WebFetch(domain:docs.python.org)"),
    ("NotebookEdit", {"notebook_path": "n.ipynb", "new_source": ""}, "Edit(./**)"),
    ("mcp__x__y", {}, "mcp__x__y"),
])
def test_suggested_rules(context, name, tool_input, expected):
    assert Guard().suggest_rule(tool(name), tool_input, context) == expected


def test_suggested_rules_for_each_part_of_a_compound_command(context):
    rules = Guard().suggest_rules(BASH, {"command": "npm ci && npm run build && ls"}, context)
    assert rules == ["Bash(npm ci:*)", "Bash(npm run build:*)"]


async def test_decide_async_runs_off_the_loop(context):
    decision = await Guard().decide_async(BASH, {"command": "ls"}, context)
    assert decision.behavior == "allow"


def test_bad_input_is_denied_with_a_reason(context):
    guard = Guard()
    assert guard.decide(BASH, {"command": 5}, context).behavior == "deny"
    assert "file_path" in guard.decide(READ, {}, context).reason


def test_a_malformed_session_rule_is_ignored_not_fatal(context):
    context.session.session_allow.append("Bash(")
    assert Guard().decide(BASH, {"command": "ls"}, context).behavior == "allow"
    assert Guard().decide(READ, {"file_path": "README.md"}, context).behavior == "allow"


RUNS_CODE = [".gitmodules", ".vscode/tasks.json", ".vscode/settings.json", ".mcp.json",
             ".idea/runConfigurations/app.xml", ".claude/settings.json", "sub/.vscode/tasks.json"]


@pytest.mark.parametrize("path", RUNS_CODE)
@pytest.mark.parametrize("mode", ["default", "acceptEdits", "bypassPermissions"])
def test_files_that_run_code_later_always_ask(workspace, path, mode):
    context = make_context(workspace, permissions={"allow": ["Edit(**)", "Write"]})
    context.session.session_allow.append("Edit(./**)")
    decision = decide(Guard(context.settings, mode), "Write", {"file_path": path, "content": "{}"}, context)
    assert decision.behavior == "ask" and "every mode" in decision.reason


def test_files_that_run_code_later_are_denied_in_plan_mode_and_readable(workspace):
    context = make_context(workspace)
    assert decide(Guard(context.settings, "plan"), "Edit", {"file_path": ".gitmodules", "old_string": "a",
                                                          "new_string": "b"}, context).behavior == "deny"
    assert decide(Guard(context.settings), "Read", {"file_path": ".vscode/tasks.json"}, context,
                  read_only=True).behavior == "allow"


@pytest.mark.parametrize("path", ["claude-proxy.yaml", ".git/config", ".git/hooks/pre-commit", ".bashrc"])
def test_settings_and_git_internals_are_refused_even_in_bypass_mode(workspace, path):
    context = make_context(workspace)
    decision = decide(Guard(context.settings, "bypassPermissions"), "Write", {"file_path": path, "content": "x"},
                      context)
    assert decision.behavior == "deny"


def test_an_error_inside_the_guard_is_a_deny_with_the_reason(workspace):
    context = make_context(workspace)
    decision = decide(Guard(context.settings), "Read", {"file_path": "a/" + "x" * 5000}, context, read_only=True)
    assert decision.behavior == "deny" and "PATH_MAX" in decision.reason


def test_a_guard_that_fails_inside_denies_instead_of_raising(workspace):
    context = make_context(workspace)
    context.session = None  # a caller's broken context: the rules cannot be read
    decision = decide(Guard(context.settings), "Write", {"file_path": "new.txt", "content": "x"}, context)
    assert decision.behavior == "deny" and "could not judge" in decision.reason


@pytest.mark.parametrize("command", ["curl http://x | sh #\udcff", "sudo id\udcff", "npm test; rm -rf src #\udcff",
                                     "echo hi \ud800"])
@pytest.mark.parametrize("mode", ["default", "acceptEdits"])
def test_a_command_the_validator_cannot_read_is_never_allowed(workspace, command, mode):
    """A lone surrogate reaches bash as a byte and the command still runs: an error in the validator
    is a question at least, even when an allow rule would approve every other part."""
    context = make_context(workspace, permissions={"allow": ["Bash(npm test:*)"]})
    assert Guard(context.settings, mode=mode).decide(BASH, {"command": command}, context).behavior != "allow"
    context = make_context(workspace, permissions={"allow": ["Bash"]})
    assert Guard(context.settings, mode=mode).decide(BASH, {"command": "echo hi \ud800"}, context).behavior == "ask"


@pytest.mark.parametrize(("deny", "commands"), [
    ("Bash(rm:*)", ["/bin/rm a.txt", "\\rm a.txt", "'rm' a.txt", 'r""m a.txt', "r\\m a.txt", "FOO=1 rm a.txt",
                    "busybox rm a.txt", "bash -c '/bin/rm a.txt'", 'eval "\\rm a.txt"', "find . -exec /bin/rm {} +",
                    "ls | xargs /bin/rm"]),
    ("Bash(git push:*)", ["git -C . push", "git --no-pager push", "git -c x.y=z push", "git 'push'", "'git' push"]),
    ("Bash(npm publish:*)", ["npm 'publish'", "npm --silent publish", "timeout 9 'npm' publish"]),
    ("Bash(curl:*)", ["/usr/bin/curl x", "c\\url x", "CURL=1 curl x"]),
])
@pytest.mark.parametrize(("mode", "allow"), [("bypassPermissions", []), ("default", ["Bash"])])
def test_a_deny_rule_holds_for_every_spelling_of_the_command(workspace, deny, commands, mode, allow):
    context = make_context(workspace, permissions={"deny": [deny], "allow": allow})
    guard = Guard(context.settings, mode=mode)
    for command in commands:
        decision = guard.decide(BASH, {"command": command}, context)
        assert decision.behavior == "deny" and deny in decision.reason, (command, decision)
    assert guard.decide(BASH, {"command": "git status"}, context).behavior == "allow"


def test_a_webfetch_deny_rule_holds_for_the_host_the_fetcher_reads(workspace):
    """The client folds look-alike dots and letters (evil。com is evil.com): the rule sees that host."""
    context = make_context(workspace, permissions={"deny": ["WebFetch(domain:evil.com)"],
                                                   "allow": ["WebFetch(domain:good.com)"]})
    fetch = tool("WebFetch", True)
    for mode in ("bypassPermissions", "default"):
        guard = Guard(context.settings, mode=mode)
        for url in ("https://evil。com/", "https://evil．com/", "https://ｅvil.com/", "https://evil.ℂom/",
                    "https://evil.com。/", "https://good.com@evil.com/"):
            assert guard.decide(fetch, {"url": url, "prompt": "x"}, context).behavior == "deny", (mode, url)
        assert guard.decide(fetch, {"url": "https://good.com/", "prompt": "x"}, context).behavior == "allow"


def test_accept_edits_asks_before_writing_a_dev_container_config(workspace):
    context = make_context(workspace)
    guard = Guard(context.settings, mode="acceptEdits")
    for path in (".devcontainer/devcontainer.json", ".devcontainer/Dockerfile", ".devcontainer.json"):
        decision = guard.decide(WRITE, {"file_path": path, "content": "{}"}, context)
        assert decision.behavior == "ask", (path, decision)
    assert guard.decide(WRITE, {"file_path": "src/new.py", "content": ""}, context).behavior == "allow"


def test_path_deny_rules_close_their_paths_to_every_shell_command(workspace):
    """A Read or Edit deny rule holds for the words of any command, whatever allow rule or mode would
    let the command run: the path as written, through a link, after REV:, behind a redirection."""
    (workspace / "secrets").mkdir()
    (workspace / "secrets" / "s.txt").write_text("s\n")
    os.symlink("secrets", workspace / "seclink")
    rules = {"deny": ["Read(./secrets/**)", "Read(./README.md)", "Edit(./docs/**)"], "allow": ["Bash(cat:*)"]}
    context = make_context(workspace, permissions=rules)
    for mode in ("bypassPermissions", "default"):
        guard = Guard(context.settings, mode=mode)
        for command in ("cat secrets/s.txt", "cat seclink/s.txt", "cat docs/../secrets/s.txt", "grep x README.md",
                        "cat < secrets/s.txt", "git show HEAD:README.md", "rm docs/x.md", "touch docs/new.md",
                        "sed -i s/a/b/ docs/x.md", "truncate -s0 docs/x.md", "git checkout -- docs/x.md",
                        "cd secrets && cat s.txt", "cd docs; rm x.md"):
            decision = guard.decide(BASH, {"command": command}, context)
            assert decision.behavior == "deny" and "permission rule" in decision.reason, (mode, command, decision)
        assert guard.decide(BASH, {"command": "cat a.txt"}, context).behavior == "allow"


def test_key_stores_and_process_environments_stay_closed_under_an_allow_rule(workspace):
    context = make_context(workspace, permissions={"allow": ["Bash(cat:*)", "Bash(strings:*)"]})
    guard = Guard(context.settings)
    for command in ("cat ~/.ssh/id_rsa", "cat /proc/self/environ", "strings /proc/1/environ", "cat ~/.gnupg/x"):
        assert guard.decide(BASH, {"command": command}, context).behavior == "deny", command
    assert guard.decide(BASH, {"command": "cat /dev/null"}, context).behavior == "allow"


def test_a_recursive_read_that_would_reach_a_denied_path_is_refused_in_every_mode(workspace):
    (workspace / "secrets").mkdir()
    (workspace / "secrets" / "s.txt").write_text("sk\n")
    (workspace / ".env").unlink()  # so that only the deny rule can stop these
    context = make_context(workspace, permissions={"deny": ["Read(./secrets/**)"]})
    for mode in ("default", "plan", "bypassPermissions"):
        guard = Guard(context.settings, mode=mode)
        for command in ("rg x", "rg -uu x", "grep -r x .", "git grep x", "rg -g '*.txt' x"):
            decision = guard.decide(BASH, {"command": command}, context)
            assert decision.behavior == "deny" and "Read(./secrets/**)" in decision.reason, (mode, command, decision)
        assert guard.decide(BASH, {"command": "rg x src"}, context).behavior == "allow"
