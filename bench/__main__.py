"""`python -m bench`: measure what claude-proxy adds over a bare aiohttp pass-through, in one run."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import shlex
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from bench import machine, report
from bench.procs import raise_nofile, set_source, source
from bench.sections import claudecode, hold, nonstream, pglog, startup, store, stream, translate, workers
from bench.sections.common import Context, Options, Section, timed

SECTIONS = {
    "nonstream": nonstream.run,
    "stream": stream.run,
    "hold": hold.run,
    "translate": translate.run,
    "startup": startup.run,
    "workers": workers.run,
    "store": store.run,
    "claudecode": claudecode.run,
    "pglog": lambda ctx: pglog.run(ctx, EARLIER),
}
EARLIER: dict[str, Section] = {}  # sections already run in this invocation (pglog compares with claudecode)
BENCH_DIR = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="fewer and shorter rounds (about a minute and a half)")
    p.add_argument("--only", help=f"comma-separated sections: {','.join(SECTIONS)}")
    p.add_argument("--json", type=Path, default=BENCH_DIR / "results.json", help="where to write the figures")
    p.add_argument("--md", type=Path, help="write the Markdown report here (default: bench/RESULTS.md on a "
                                           "full run of every section, none otherwise)")
    p.add_argument("--rounds", type=int, help="alternating rounds per section (default 3, quick 2)")
    p.add_argument("--duration", type=float, help="seconds per load run (default 8, quick 3)")
    p.add_argument("--connections", type=int, default=50)
    p.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    p.add_argument("--upstream", choices=["auto", "nginx", "stub"], default="auto",
                   help="the non-streamed upstream (auto: nginx when installed)")
    p.add_argument("--hold-streams", type=int, default=1000)
    p.add_argument("--hold-seconds", type=int, help="default 10, quick 4")
    p.add_argument("--source", type=Path, help="measure the claude_proxy of this checkout (default: this one)")
    p.add_argument("--compare", type=Path, help="also measure the claude_proxy of this other checkout "
                                                "(sections 1 and 2), in the same alternating rounds")
    p.add_argument("--keep", action="store_true", help="keep the temp dir with every process's log")
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def options_from(args: argparse.Namespace) -> Options:
    quick = args.quick
    return Options(
        quick=quick,
        rounds=args.rounds or (2 if quick else 3),
        duration=args.duration or (3.0 if quick else 8.0),
        connections=args.connections,
        loadgen=args.loadgen,
        upstream=args.upstream,
        stream_events=50 if quick else 100,
        stream_concurrency=10,
        hold_streams=args.hold_streams,
        hold_seconds=args.hold_seconds or (4 if quick else 10),
        startup_runs=5 if quick else 10,
    )


def _commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(source()), "describe", "--always", "--dirty"], capture_output=True,
                             text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s",
                        stream=sys.stderr)
    keys = list(SECTIONS) if not args.only else [k.strip() for k in args.only.split(",") if k.strip()]
    unknown = [k for k in keys if k not in SECTIONS]
    keys = [k for k in SECTIONS if k in keys]  # in report order: a later section may compare with an earlier one
    if unknown:
        print(f"python -m bench: error: unknown section(s) {', '.join(unknown)}; pick from {', '.join(SECTIONS)}",
              file=sys.stderr)
        return 2
    md_path = args.md or (BENCH_DIR / "RESULTS.md" if not args.only and not args.quick else None)
    options = options_from(args)
    if args.source:
        if not (args.source / "claude_proxy" / "__init__.py").is_file():
            print(f"python -m bench: error: {args.source} has no claude_proxy package", file=sys.stderr)
            return 2
        set_source(args.source)
    if args.compare:
        if not (args.compare / "claude_proxy" / "__init__.py").is_file():
            print(f"python -m bench: error: {args.compare} has no claude_proxy package", file=sys.stderr)
            return 2
        options.compare = args.compare.resolve()
    soft, _ = raise_nofile()
    if soft < 2 * options.hold_streams + 200 and "hold" in keys:
        logging.warning("open-files limit %d is low for %d streams", soft, options.hold_streams)

    command = "python -m bench" + ("" if argv is None and len(sys.argv) < 2 else " ") + shlex.join(
        sys.argv[1:] if argv is None else argv)
    header = {"command": command.strip(), "commit": _commit(), "machine": machine.describe(),
              "started": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M"),
              "loadavg_start": machine.loadavg(), "options": vars(options)}
    noise = machine.Noise()
    noise.start()
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="claude-proxy-bench-"))
    sections: list[Section] = []
    try:
        for key in keys:
            logging.info("== %s", key)
            ctx = Context(options, workdir / key, noise, ExitStack())
            ctx.workdir.mkdir()
            section = timed(SECTIONS[key], ctx)
            sections.append(section)
            EARLIER[key] = section
            print("\n".join(report.render_section(section)), flush=True)
    finally:
        noise.stop()
        if args.keep:
            logging.info("logs kept in %s", workdir)
        else:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
    header.update(finished=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M"),
                  seconds=time.monotonic() - started, loadavg_end=machine.loadavg())
    print("\n".join(report.checks_table(sections)))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    report.write_json(args.json, header, sections)
    logging.info("figures written to %s", args.json)
    if md_path:
        report.write_markdown(md_path, header, sections)
        logging.info("report written to %s", md_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
