"""One headless Chromium per test module that needs one, for the web and report tests.

It is the Debian ``chromium`` driven through Playwright (``executable_path``); no browser is
ever downloaded. Playwright's sync API allows one instance per thread, so both test folders'
``chromium`` fixtures take it from here, and the last user stops it.

Module scope, not session: while Playwright's sync API is running it marks its event loop as
the thread's running loop, so any later test on the same worker that calls ``asyncio.run``
(``hvroll run --engine temporal`` in-process, say) would fail. Once stopped, it leaves the
thread as it found it.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

_running: list[tuple[Playwright, Browser]] = []
_users = [0]


def acquire() -> Browser:
    """The shared browser, started on first use. Without chromium: skip, or fail in CI."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (apt-get install -y chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    if not _running:
        playwright = sync_playwright().start()
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        _running.append((playwright, browser))
    _users[0] += 1
    return _running[0][1]


def release() -> None:
    _users[0] -= 1
    if _users[0] == 0 and _running:
        playwright, browser = _running.pop()
        browser.close()
        playwright.stop()


COUNT_COLORED = """async (b64) => {
    const img = new Image();
    img.src = "data:image/png;base64," + b64;
    await img.decode();
    const canvas = document.createElement("canvas");
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const ctx = canvas.getContext("2d");
    ctx.drawImage(img, 0, 0);
    const d = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) {
        if (Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > 60) { n++; }
    }
    return n;
}"""


def colored_pixels(page: Page, png: bytes) -> int:
    """Pixels of a screenshot in a saturated colour (data marks; not text, axes or
    background), counted by the browser itself from the PNG."""
    count = page.evaluate(COUNT_COLORED, base64.b64encode(png).decode())
    assert isinstance(count, int)
    return count
