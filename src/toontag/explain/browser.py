"""Look at a page as a person would: headless Chromium (Debian's) driven by Playwright."""

from __future__ import annotations

import shutil
from pathlib import Path

from toontag.errors import ToontagError

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-sync"]


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def check_page(page: Path, screenshot: Path | None = None) -> dict:
    """Open `page`; return its images (alt, loaded) and console errors, and save a
    full-page screenshot when asked."""
    executable = chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        raise ToontagError("checking a page needs playwright (pip install playwright)") from e
    if executable is None:
        raise ToontagError("checking a page needs Chromium (apt-get install chromium)")
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=ARGS)
        tab = browser.new_page(viewport={"width": 1200, "height": 900})
        tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        tab.on("pageerror", lambda e: errors.append(str(e)))
        tab.goto(Path(page).resolve().as_uri())
        images = tab.eval_on_selector_all(
            "img", "els => els.map(e => [e.alt, e.complete && e.naturalWidth > 0])"
        )
        if screenshot is not None:
            Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
            tab.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    return {"images": [(alt, bool(ok)) for alt, ok in images], "errors": errors}
