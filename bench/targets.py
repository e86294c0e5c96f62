"""The things a bench run measures: the upstream alone, the bare reference, and claude-proxy as a user runs it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bench import payloads
from bench.procs import Proc, StartError, free_port, python_env, python_module, source, spawn


@dataclass
class Target:
    """One row of a table: a name, and how to start it in front of an upstream URL."""

    name: str
    kind: str  # direct | bare | proxy
    log: bool = True
    log_url: str | None = None  # the log's database (postgresql://...); None: a file in the target's home
    workers: int = 1
    config: dict | None = None
    extra_args: list[str] = field(default_factory=list)
    source: Path | None = None  # another checkout's claude_proxy (--compare)

    def start(self, upstream: Proc, workdir: Path) -> Proc | None:
        """Start the process (None for `direct`, which is the upstream itself)."""
        if self.kind == "direct":
            return None
        port = free_port()
        if self.kind == "bare":
            return spawn("bare", python_module("bench.bare", "--port", str(port), "--upstream", upstream.url),
                         port=port, workdir=workdir)
        return start_proxy(self, upstream.url, port, workdir)

    def url(self, proc: Proc | None, upstream: Proc) -> str:
        return (proc or upstream).url


DIRECT = Target("upstream alone", "direct")
BARE = Target("bare aiohttp", "bare")
PROXY_LOG = Target("claude-proxy", "proxy", log=True)
PROXY_NOLOG = Target("claude-proxy --no-log", "proxy", log=False)


def compared(targets: list[Target], other: Path | None) -> list[Target]:
    """`targets` plus, for each claude-proxy one, the same run from the `--compare` checkout."""
    if other is None:
        return targets
    from dataclasses import replace

    extra = [replace(t, name=f"{t.name} [{other.name}]", source=other) for t in targets if t.kind == "proxy"]
    return targets + extra


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name).strip("-")


def proxy_env(home: Path, root: Path | None = None) -> dict[str, str]:
    """A user's environment with its own empty home: no settings leak in, logs land in a temp dir."""
    return python_env(root or source(), HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
                      XDG_DATA_HOME=str(home / ".local" / "share"))


def start_proxy(target: Target, upstream_url: str, port: int, workdir: Path) -> Proc:
    """`claude-proxy serve` as a user types it, its request log in a temp data dir."""
    slug = _slug(target.name)
    home = workdir / f"home-{slug}"
    home.mkdir(exist_ok=True)
    argv = python_module("claude_proxy", "serve", "--host", "127.0.0.1", "--port", str(port),
                         "--upstream", upstream_url)
    if target.log:
        argv += ["--log-db", target.log_url or str(home / "requests.db")]
    else:
        argv.append("--no-log")
    if target.workers > 1:
        argv += ["--workers", str(target.workers)]
    if target.config is not None:
        import yaml

        path = home / "claude-proxy.yaml"
        path.write_text(yaml.safe_dump(target.config))
        argv += ["--config", str(path)]
    argv += target.extra_args
    proc = spawn(slug, argv, port=port, workdir=home, env=proxy_env(home, target.source))
    proc.extra["db"] = (target.log_url or home / "requests.db") if target.log else None
    return proc


def probe(url: str, stream: bool = False, timeout: float = 10.0) -> bytes:
    """One request through `url`; StartError with the answer when it is not a 200."""
    req = urllib.request.Request(url.rstrip("/") + "/v1/messages", data=payloads.request_body(stream),
                                 headers=payloads.HEADERS, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.read()
    except urllib.error.HTTPError as exc:
        raise StartError(f"{url} answered {exc.code}: {exc.read()[:300]!r}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise StartError(f"{url} did not answer: {exc}") from None


def answer_text(body: bytes) -> str:
    """The text of an Anthropic message answer (for checking a translated answer)."""
    data = json.loads(body)
    return "".join(block.get("text", "") for block in data.get("content", []) if isinstance(block, dict))
