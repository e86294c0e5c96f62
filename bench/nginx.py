"""nginx as the non-streamed upstream when it is installed: it is never the bottleneck.

It answers `POST /v1/messages` with the same canned message the Python stub sends,
from one worker process, keep-alive without a request cap.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from bench import payloads
from bench.procs import Proc, free_port, spawn


def available() -> str | None:
    """The nginx binary, or None."""
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


def _config(port: int, root: Path) -> str:
    body = payloads.MESSAGE_RESPONSE.decode()
    assert "'" not in body and "$" not in body, "the canned answer must be a literal nginx string"
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""{user}worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/nginx-error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_body_buffer_size 1m;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location = /v1/messages {{
            default_type application/json;
            add_header request-id req_bench always;
            return 200 '{body}';
        }}
    }}
}}
"""


def start(workdir: Path) -> Proc:
    """Start nginx on a free port in `workdir`; raises StartError when it cannot listen."""
    binary = available()
    if binary is None:
        raise FileNotFoundError("nginx is not installed")
    root = workdir / "nginx"
    root.mkdir(exist_ok=True)
    port = free_port()
    conf = root / "nginx.conf"
    conf.write_text(_config(port, root))
    return spawn("nginx", [binary, "-c", str(conf), "-p", str(root), "-e", str(root / "nginx-error.log")],
                 port=port, workdir=workdir)
