"""A real headless Chromium for the tests of the HTML pages (the report and the explorer).

`make test` installs Debian's `chromium` and `chromium-driver` when they are missing
(`make system-deps`); where they cannot be installed the browser tests skip and say why.
Use the `browser` fixture from `tests/conftest.py`; `console_errors(driver)` lists the
page's console errors (JavaScript exceptions, failed loads) since the last call.
"""

from __future__ import annotations

import shutil
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
DRIVER_NAMES = ("chromedriver",)


def _first_on_path(names: tuple[str, ...]) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def skip_reason() -> str | None:
    """Why no browser test can run here, or None when one can."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (it is in the dev extra: make test installs it)"
    if _first_on_path(CHROMIUM_NAMES) is None:
        return "no chromium on PATH (make system-deps installs Debian's chromium as root)"
    if _first_on_path(DRIVER_NAMES) is None:
        return "no chromedriver on PATH (make system-deps installs Debian's chromium-driver)"
    return None


def start_chromium(width: int = 1280, height: int = 900):
    """A headless Chromium driven by selenium, logging the browser console."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = _first_on_path(CHROMIUM_NAMES)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=_first_on_path(DRIVER_NAMES))
    return webdriver.Chrome(service=service, options=options)


def console_errors(driver) -> list[str]:
    """The console messages at level SEVERE (errors) logged since the last call."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def open_file(driver, path: Path) -> None:
    """Load a local HTML file (as a lecturer double-clicking it would)."""
    driver.get(Path(path).resolve().as_uri())


def screenshot_is_blank(driver) -> bool:
    """True when the visible page is a single colour (nothing was drawn)."""
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 16)
    return colours is not None and len(colours) <= 1
