"""``/ui``: the trace viewer mounted on the proxy, behind the same access keys as ``/v1``.

A browser cannot send ``x-api-key``, so the viewer also takes an access key as the
password of HTTP Basic authentication (any user name); the browser asks for it once.
Without access keys the proxy listens on loopback only (see ``server``), and so does
the viewer.
"""

from __future__ import annotations

from typing import Mapping

from aiohttp import web

from claude_proxy.proxy.errors import ProxyError
from claude_proxy.proxy.protection.access import AccessKeys
from claude_proxy.settings import Settings


def mount_viewer(app: web.Application, settings: Settings) -> None:
    """Add the viewer at ``/ui`` when the log is on and ``log.ui`` is true."""
    if not settings.log.enabled or not settings.log.ui:
        return
    from claude_proxy.pricing import PriceTable
    from claude_proxy.requestlog.store.targets import open_trace_store
    from claude_proxy.requestlog.viewer.app import basic_password, viewer_app

    keys = AccessKeys.from_settings(settings.server)
    target = settings.log.target()
    prices = PriceTable.from_settings(settings.prices)

    def authorize(headers: Mapping[str, str]) -> bool:
        if not keys.enabled:
            return True
        password = basic_password(headers)
        try:
            keys.identify({"x-api-key": password} if password else headers)
        except ProxyError:
            return False
        return True

    app.add_subapp("/ui", viewer_app(lambda: open_trace_store(target, prices), authorize=authorize))
