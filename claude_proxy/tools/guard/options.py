"""The option allow-lists of the read-only programs (GNU coreutils, grep, ripgrep, ...).

Each `Spec` lists the options a program may take while staying read-only, with the
argument shape GNU getopt gives them (see `judgement.Spec`). Left out on purpose:
options that write files (``sort -o``, ``tree -o``), run programs (``rg --pre``,
``rg -z``, ``sort --compress-program``, ``file -z``, ``diff -l``), read lists of
files or patterns from a file (``--files0-from``, ``-f``, ``--exclude-from``), or
change the clock or host name. Anything not listed asks; so does a long option
spelled as an abbreviation, because the real program's own table decides what it
means. ``REACH`` names the options that make a program follow symlinks or ignore
ignore-files, so the judge checks what the read can reach.
"""

from __future__ import annotations

from claude_proxy.tools.guard.judgement import Spec
from claude_proxy.tools.guard.judgement import spec as _spec

_SUMS = _spec("-b -t -z --binary --text --tag --zero --ignore-missing --quiet --status --strict -w --warn")
_GREP = _spec(
    "-E -F -G -P -i -y -v -w -x -c -L -l -o -q -s -b -H -h -n -T -Z -z -a -I -r -R -U --extended-regexp "
    "--fixed-strings --basic-regexp --perl-regexp --ignore-case --no-ignore-case --invert-match --word-regexp "
    "--line-regexp --count --files-without-match --files-with-matches --only-matching --quiet --silent "
    "--no-messages --byte-offset --with-filename --no-filename --line-number --initial-tab --null --null-data "
    "--text --recursive --dereference-recursive --line-buffered --binary --no-group-separator",
    "-e --regexp -m --max-count -A -B -C --after-context --before-context --context --include --exclude "
    "--exclude-dir --label -d --directories -D --devices --binary-files --group-separator",
    "--color --colour", pattern_first=True, numeric=True)
_DIFF_FORMATS = ("--line-format --old-line-format --new-line-format --unchanged-line-format --old-group-format "
                 "--new-group-format --changed-group-format --unchanged-group-format")

READERS: dict[str, Spec] = {
    "cat": _spec("-A -b -e -E -n -s -t -T -u -v --show-all --number-nonblank --show-ends --number "
                 "--squeeze-blank --show-tabs --show-nonprinting"),
    "tac": _spec("-b -r --before --regex", "-s --separator"),
    "rev": _spec(),
    "nl": _spec("-p --no-renumber", "-b -d -f -h -i -l -n -s -v -w --body-numbering --section-delimiter "
                "--footer-numbering --header-numbering --line-increment --join-blank-lines --number-format "
                "--number-separator --starting-line-number --number-width"),
    "head": _spec("-q -v -z --quiet --silent --verbose --zero-terminated", "-n -c --lines --bytes", numeric=True),
    "tail": _spec("-q -v -z -f -F --quiet --silent --verbose --zero-terminated --retry",
                  "-n -c --lines --bytes -s --sleep-interval --pid --max-unchanged-stats", "--follow",
                  numeric=True),
    "wc": _spec("-c -m -l -L -w --bytes --chars --lines --max-line-length --words", "--total"),
    "ls": _spec("-a -A -b -B -c -C -d -f -F -g -G -h -H -i -k -l -L -m -n -N -o -p -q -Q -r -R -s -S -t -u -U "
                "-v -x -X -Z -1 --all --almost-all --author --escape --ignore-backups --directory --file-type "
                "--no-group --human-readable --si --dereference-command-line "
                "--dereference-command-line-symlink-to-dir --inode --kibibytes --dereference --numeric-uid-gid "
                "--literal --hide-control-chars --show-control-chars --quote-name --reverse --recursive --size "
                "--group-directories-first --full-time --context --zero",
                "-I -w -T --ignore --hide --width --tabsize --format --sort --time --time-style --block-size "
                "--quoting-style --indicator-style", "--color --hyperlink --classify"),
    "tree": _spec("-a -d -f -i -q -N -Q -p -u -g -s -h -D -F -v -t -c -U -r -C -n -A -S -x -l -J -X "
                  "--noreport --dirsfirst --du --si --prune --inodes --device --gitignore --ignore-case "
                  "--matchdirs --metafirst --filesfirst", "-L -P -I --charset --filelimit --timefmt --sort"),
    "file": _spec("-b -i -k -L -h -N -n -p -r -s -0 --brief --mime --mime-type --mime-encoding --keep-going "
                  "--dereference --no-dereference --no-pad --preserve-date --raw --special-files --print0",
                  "-e --exclude -F --separator -P --parameter --exclude-quiet"),
    "stat": _spec("-L -f -t --dereference --file-system --terse", "-c --format --printf --cached"),
    "du": _spec("-0 -a -b -c -D -h -H -k -l -L -m -P -S -s -x --null --all --apparent-size --bytes --total "
                "--dereference-args --human-readable --si --count-links --dereference --no-dereference "
                "--separate-dirs --summarize --one-file-system --inodes",
                "-B --block-size -d --max-depth -t --threshold --time-style --exclude", "--time"),
    "sort": _spec("-b -d -f -g -i -M -h -n -R -r -V -c -C -m -s -u -z --ignore-leading-blanks --dictionary-order "
                  "--ignore-case --general-numeric-sort --ignore-nonprinting --month-sort --human-numeric-sort "
                  "--numeric-sort --random-sort --reverse --version-sort --merge --stable --unique "
                  "--zero-terminated", "-k --key -t --field-separator -S --buffer-size --parallel --sort",
                  "--check"),
    "uniq": _spec("-c -d -D -i -u -z --count --repeated --ignore-case --unique --zero-terminated",
                  "-f -s -w --skip-fields --skip-chars --check-chars", "--all-repeated --group", max_positionals=1),
    "cut": _spec("-n -s -z --complement --only-delimited --zero-terminated",
                 "-b -c -d -f --bytes --characters --delimiter --fields --output-delimiter"),
    "diff": _spec("-i -E -Z -b -w -B -a -r -N -P -s -q -u -c -e -n -y -t -T -d -p --ignore-case "
                  "--ignore-file-name-case --no-ignore-file-name-case --ignore-tab-expansion "
                  "--ignore-trailing-space --ignore-space-change --ignore-all-space --ignore-blank-lines "
                  "--strip-trailing-cr --text --recursive --new-file --unidirectional-new-file "
                  "--report-identical-files --brief --ed --normal --rcs --side-by-side --expand-tabs --initial-tab "
                  "--suppress-common-lines --suppress-blank-empty --left-column --minimal --speed-large-files "
                  "--show-c-function --no-dereference",
                  "-U -C -I --ignore-matching-lines -x --exclude -S --starting-file -F --show-function-line --label "
                  "-W --width --tabsize --horizon-lines --palette " + _DIFF_FORMATS,
                  "--unified --context --color"),
    "cmp": _spec("-b -l -s --print-bytes --verbose --quiet --silent", "-i --ignore-initial -n --bytes"),
    "comm": _spec("-1 -2 -3 -z --check-order --nocheck-order --total --zero-terminated", "--output-delimiter"),
    "od": _spec("-b -c -d -f -i -l -o -s -v -x --output-duplicates --traditional",
                "-A -j -N -t -S --address-radix --skip-bytes --read-bytes --format --endian", "-w --width --strings"),
    "hexdump": _spec("-b -c -C -d -o -x -v --canonical", "-e -n -s --length --skip --format"),
    "strings": _spec("-a -d -f -w --all --data --print-file-name --include-all-whitespace",
                     "-n -t -e -s --bytes --radix --encoding --output-separator"),
    "xxd": _spec("-a -autoskip -b -bits -C -capitalize -e -E -EBCDIC -i -include -p -ps -postscript -plain -u "
                 "-uppercase -d -decimal", "-c -cols -g -groupsize -l -len -o -offset -s -seek -n -name",
                 "-c -g -l -o -s", whole_words=True, max_positionals=1, options_first=True),
    "md5sum": _SUMS, "sha1sum": _SUMS, "sha224sum": _SUMS, "sha256sum": _SUMS, "sha384sum": _SUMS,
    "sha512sum": _SUMS,
    "b2sum": _spec("-b -t -z --binary --text --tag --zero", "-l --length"),
    "cksum": _spec("-z --zero --tag --untagged", "-a --algorithm -l --length"),
    "paste": _spec("-s -z --serial --zero-terminated", "-d --delimiters"),
    "join": _spec("-i --ignore-case --check-order --nocheck-order --header -z --zero-terminated",
                  "-a -e -o -t -v -1 -2 -j"),
    "fold": _spec("-b -s --bytes --spaces", "-w --width"),
    "fmt": _spec("-c -s -t -u --crown-margin --split-only --tagged-paragraph --uniform-spacing",
                 "-w -g -p --width --goal --prefix"),
    "column": _spec("-t --table -x --fillrows -d --table-noheadings -e --table-header-repeat -J --json "
                    "-L --keep-empty-lines", "-c --output-width -s --separator -o --output-separator "
                    "-N --table-columns -R --table-right -H --table-hide -W --table-wrap -E --table-noextreme "
                    "-n --table-name -O --table-order -l --table-columns-limit"),
    "expand": _spec("-i --initial", "-t --tabs"),
    "unexpand": _spec("-a --all --first-only", "-t --tabs"),
    "grep": _GREP, "egrep": _GREP, "fgrep": _GREP,
    "rg": _spec(
        "-i -s -S -v -w -x -c -l -n -N -o -q -F -H -I -p -U -P -a -b -0 -u -. -L --ignore-case --case-sensitive "
        "--smart-case --invert-match --word-regexp --line-regexp --count --count-matches --files-with-matches "
        "--files-without-match --line-number --no-line-number --only-matching --quiet --fixed-strings "
        "--with-filename --no-filename --no-heading --heading --pretty --multiline --multiline-dotall --pcre2 "
        "--text --vimgrep --json --column --byte-offset --trim --files --type-list --stats --no-messages --null "
        "--crlf --no-config --hidden --no-ignore --no-ignore-vcs --no-ignore-dot --no-ignore-parent "
        "--no-ignore-global --no-ignore-exclude --one-file-system --sort-files --passthru --follow "
        "--max-columns-preview --no-unicode --block-buffered --line-buffered --glob-case-insensitive "
        "--include-zero --no-require-git --binary --no-ignore-messages --no-column --no-follow --no-hidden",
        "-e --regexp -g --glob --iglob -t --type -T --type-not -m --max-count -A -B -C --context --after-context "
        "--before-context -j --threads -M --max-columns --max-depth -d --max-filesize -r --replace --colors "
        "--color --type-add --sort --sortr -E --encoding --engine --field-match-separator "
        "--field-context-separator --path-separator --context-separator --dfa-size-limit --regex-size-limit",
        pattern_first=True),
    "fd": _spec("-H --hidden -I --no-ignore -u --unrestricted -s --case-sensitive -i --ignore-case -g --glob "
                "--regex -F --fixed-strings -a --absolute-path -l --list-details -p --full-path -0 --print0 -1 -q "
                "--quiet --show-errors --prune --no-ignore-vcs --one-file-system",
                "-d --max-depth --min-depth --exact-depth -t --type -e --extension -E --exclude -S --size "
                "--changed-within --changed-before -o --owner -c --color -j --threads --max-results "
                "--path-separator", pattern_first=True),
    "realpath": _spec("-e -m -L -P -q -s -z --canonicalize-existing --canonicalize-missing --logical --physical "
                      "--quiet --strip --no-symlinks --zero", "--relative-to --relative-base", paths=False),
    "readlink": _spec("-f -e -m -n -q -s -v -z --canonicalize --canonicalize-existing --canonicalize-missing "
                      "--no-newline --quiet --silent --verbose --zero", paths=False),
    "df": _spec("-a -h -H -i -k -l -P -T --all --human-readable --si --inodes --local --portability "
                "--print-type --total --sync --no-sync", "-B --block-size -t --type -x --exclude-type", "--output",
                paths=False),
}

READERS["fdfind"] = READERS["fd"]
# who reads its operand as a login-records file and prints fields of it (``who am i`` names none that exists).
READERS["who"] = _spec("-a -b -d -H -l -m -p -q -r -s -t -u -T -w --all --boot --heading --count --short")

# Programs that read no files; their operands are names, numbers or text.
QUIET: dict[str, Spec] = {
    "pwd": _spec("-L -P", max_positionals=0),
    "whoami": _spec(max_positionals=0), "groups": _spec(paths=False), "arch": _spec(max_positionals=0),
    "logname": _spec(max_positionals=0), "users": _spec(max_positionals=0), "nproc": _spec("--all", "--ignore"),
    "id": _spec("-a -Z -g -G -n -r -u -z --context --group --groups --name --real --user --zero", paths=False),
    "uname": _spec("-a -s -n -r -v -m -p -i -o --all --kernel-name --nodename --kernel-release --kernel-version "
                   "--machine --processor --hardware-platform --operating-system", max_positionals=0),
    "tr": _spec("-c -C -d -s -t --complement --delete --squeeze-repeats --truncate-set1", paths=False),
    "uptime": _spec("-p -s --pretty --since", max_positionals=0),
    "free": _spec("-b -k -m -g -h -t -w -l --bytes --kilo --mega --giga --human --total --wide --lohi --si",
                  "-s -c --seconds --count", max_positionals=0),
    "tty": _spec("-s --silent --quiet", max_positionals=0),
    "locale": _spec("-a -m -c -k --all-locales --charmaps --category-name --keyword-name", paths=False),
    "cal": _spec("-1 -3 -y -m -j -s --monday --sunday --year --three --julian", "-n --months", paths=False),
    "whereis": _spec("-b -m -s -u -l", paths=False),
    "lsb_release": _spec("-a -i -d -r -c -s -v --all --id --description --release --codename --short",
                         max_positionals=0),
    "getconf": _spec("-a", paths=False),
    "w": _spec("-h -u -s -f -o -i --no-header --short", paths=False),
    "date": _spec("-u -R --utc --universal --rfc-email --debug", "-d --date --rfc-3339", "-I --iso-8601",
                  "-r --reference", paths=False),
    "hostname": _spec("-s -f -d -i -I -a -A -y --short --fqdn --long --domain --ip-address --all-ip-addresses "
                      "--alias --all-fqdns --nis", max_positionals=0),
    "ps": _spec("aux ax axu auxf axjf -e -A -f -F -l -j -a -d -x -H -w -ww -ef -fe -aux -efww -eLf -ely -T "
                "--forest --headers --no-headers", "-p -u -U -o -O -C -g -G -t --pid --ppid --sort --format",
                paths=False, whole_words=True, max_positionals=0),
    "seq": _spec("-w --equal-width", "-f -s --format --separator", paths=False, numeric=True),
    "which": _spec("-a -s", paths=False),
    "type": _spec("-a -f -p -P -t", paths=False),
    "basename": _spec("-a -z --multiple --zero", "-s --suffix", paths=False),
    "dirname": _spec("-z --zero", paths=False),
    "sleep": _spec(paths=False, numeric=True),
    "yes": _spec(paths=False),
}

# Builtins whose words are operands, not options: judged by `readers._free`.
FREE = frozenset({"echo", "printf", "true", "false", ":", "test", "[", "expr"})

# Programs whose every option above is harmless for any value a word could take.
ANY_VALUE = frozenset({"echo", "true", "false", ":", "basename", "dirname", "sleep", "seq", "which", "type"})

# Options after which a recursive read may follow symlinks or ignore .gitignore/hidden rules.
FOLLOW = {"grep": ("-R", "--dereference-recursive"), "egrep": ("-R", "--dereference-recursive"),
          "fgrep": ("-R", "--dereference-recursive"), "rg": ("-L", "--follow"), "tree": ("-l",),
          "du": ("-L", "--dereference"), "ls": ("-L", "--dereference")}
