"""The option allow-lists of git's read-only subcommands.

git's parse-options accepts ``--opt=VAL`` and ``--opt VAL`` for required values and
only the attached form for optional ones (``--stat=80``, ``-M90%``), as `judgement.scan`
does. Left out on purpose: options that write (``--output``), run programs
(``--ext-diff``, ``--textconv``, ``--show-signature``, ``grep -O``, ``cat-file
--filters``), read files named on the command line (``blame --contents``,
``--ignore-revs-file``, ``diff -O``, ``ls-files -X``), search history content
(pickaxe ``-S``/``-G``, ``-L`` line logs), and ``--help`` (it starts a pager or browser).
"""

from __future__ import annotations

from claude_proxy.tools.guard.judgement import Spec, merge
from claude_proxy.tools.guard.judgement import spec as _spec

DIFF = _spec(
    "-p -u --patch -s --no-patch --raw --patch-with-raw --patch-with-stat --numstat --shortstat --summary "
    "--name-only --name-status --no-renames --full-index --binary --check --exit-code --quiet --no-ext-diff "
    "--no-textconv -R -a --text -w -b --ignore-all-space --ignore-space-change --ignore-space-at-eol "
    "--ignore-blank-lines --ignore-cr-at-eol --minimal --patience --histogram --no-color --no-prefix "
    "--default-prefix --cumulative --compact-summary --irreversible-delete -D -z --find-copies-harder "
    "--function-context -W --indent-heuristic --no-indent-heuristic --no-color-moved --ita-invisible-in-index "
    "--ita-visible-in-index --cached --staged --merge-base --no-relative --pickaxe-all",
    "--diff-filter --inter-hunk-context --stat-width --stat-name-width --stat-count --stat-graph-width "
    "--output-indicator-new --output-indicator-old --output-indicator-context --src-prefix --dst-prefix "
    "--line-prefix --ws-error-highlight --anchored --diff-algorithm --color-moved-ws --unified -l --find-object "
    "--skip-to --rotate-to",
    "-U -M -C -B --stat --dirstat --color --color-moved --word-diff --word-diff-regex --color-words "
    "--find-renames --find-copies --break-rewrites --relative --submodule --ignore-submodules --abbrev",
    numeric=True)
LOG = merge(DIFF, _spec(
    "--oneline --graph --all --branches --tags --reverse --first-parent --merges --no-merges --date-order "
    "--topo-order --author-date-order --abbrev-commit --no-abbrev-commit --relative-date --left-right --boundary "
    "--cherry-pick --cherry-mark --cherry --source --use-mailmap --mailmap --no-mailmap --full-diff --log-size "
    "--parents --children --follow --no-decorate --no-notes --regexp-ignore-case -i --basic-regexp -E "
    "--extended-regexp -F --fixed-strings --invert-grep --all-match --full-history --simplify-merges "
    "--simplify-by-decoration --dense --sparse --show-pulls -m -c --cc --combined-all-paths --no-diff-merges "
    "--single-worktree --exclude-first-parent-only --no-walk --do-walk -t --root -r --no-commit-id --always "
    "--remotes --no-expand-tabs --remerge-diff -v",
    "--format --date --since --after --until --before --author --committer --grep -n --max-count --skip "
    "--min-parents --max-parents --diff-merges --encoding --exclude --since-as-filter",
    "--pretty --decorate --notes --expand-tabs --ancestry-path --show-linear-break --decorate-refs "
    "--decorate-refs-exclude"))
STATUS = _spec("-s --short -b --branch --long -v --verbose -z --no-column --show-stash --ahead-behind "
               "--no-ahead-behind --renames --no-renames",
               optional="--porcelain -u --untracked-files --ignored --ignore-submodules --column --find-renames")
REV_PARSE = _spec(
    "--show-toplevel --is-inside-work-tree --is-inside-git-dir --is-bare-repository --is-shallow-repository "
    "--git-dir --git-common-dir --absolute-git-dir --show-prefix --show-cdup --show-superproject-working-tree "
    "--verify -q --quiet --symbolic --symbolic-full-name --all --branches --tags --remotes --local-env-vars "
    "--shared-index-path --sq --not --revs-only --no-revs --flags --no-flags",
    "--path-format --since --after --until --before --default --prefix --git-path",
    "--short --abbrev-ref --show-object-format --disambiguate")
BLAME = _spec("-b --root --show-stats -l -t -s -e --show-email -w -f --show-name -n --show-number -p --porcelain "
              "--line-porcelain --incremental -c --score-debug --color-lines --color-by-age --minimal "
              "--progress --no-progress", "-L --date --ignore-rev", "-M -C --abbrev")
GREP = _spec(
    "--cached -a --text -i --ignore-case -I -w --word-regexp -v --invert-match -h -H --full-name -E "
    "--extended-regexp -G --basic-regexp -P --perl-regexp -F --fixed-strings -n --line-number --column -l "
    "--files-with-matches --name-only -L --files-without-match -z --null -o --only-matching -c --count --break "
    "--heading -p --show-function -W --function-context --and --or --not --all-match -q --quiet -r --recursive "
    "--no-recursive --recurse-submodules --no-color",
    "-e -A -B -C --after-context --before-context --context --max-depth -m --max-count --threads", "--color",
    numeric=True)

SUBCOMMANDS: dict[str, Spec] = {
    "status": STATUS,
    "diff": DIFF, "diff-files": DIFF, "diff-index": DIFF, "diff-tree": merge(DIFF, LOG),
    "log": LOG, "show": LOG, "whatchanged": LOG, "reflog": LOG, "rev-list": merge(LOG, _spec(
        "--count --objects --objects-edge --timestamp --header --no-object-names")),
    "shortlog": merge(LOG, _spec("-n --numbered -s --summary -e --email -c --committer", "--group", "-w")),
    "range-diff": merge(LOG, _spec("--no-dual-color --left-only --right-only", "--creation-factor")),
    "cherry": _spec("-v", optional="--abbrev"),
    "rev-parse": REV_PARSE,
    "ls-files": _spec("-c --cached -d --deleted -m --modified -o --others -i --ignored -s --stage -k --killed -u "
                      "--unmerged -z -t -v -f --full-name --directory --no-empty-directory --eol --deduplicate "
                      "--exclude-standard --error-unmatch --sparse --recurse-submodules",
                      "-x --exclude --exclude-per-directory --format --with-tree", "--abbrev"),
    "ls-tree": _spec("-d -r -t -l --long -z --name-only --name-status --object-only --full-name --full-tree",
                     "--format", "--abbrev"),
    "blame": BLAME, "annotate": BLAME,
    "describe": _spec("--all --tags --long --always --exact-match --first-parent --contains --debug",
                      "--match --exclude --candidates", "--abbrev --dirty --broken"),
    "grep": GREP,
    "cat-file": _spec("-t -s -e -p"),
    "count-objects": _spec("-v --verbose -H --human-readable"),
    "name-rev": _spec("--tags --all --name-only --no-undefined --always --annotate-stdin", "--refs --exclude"),
    "merge-base": _spec("-a --all --octopus --independent --is-ancestor --fork-point"),
    "show-ref": _spec("--head --heads --tags --branches -d --dereference -q --quiet --verify --exists",
                      optional="-s --hash --abbrev"),
    "for-each-ref": _spec("--shell --perl --python --tcl --ignore-case --omit-empty",
                          "--format --sort --count --points-at --exclude",
                          "--merged --no-merged --contains --no-contains --color"),
    "version": _spec("--build-options"),
    "check-ignore": _spec("-q --quiet -v --verbose -n --non-matching --stdin -z --no-index"),
    "check-attr": _spec("-a --all --cached --stdin -z", "--source"),
    "worktree": _spec("--porcelain -v --verbose -z", optional="--expire"),
    "stash": LOG,
}
