"""The explorer in a real headless Chromium: it loads cleanly, draws, and its sliders show the
solver's numbers for the setting they reach (the `browser` fixture skips, saying why, where
no browser can run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.analysis.explore_pages import exact_offswitch, small_offswitch_page
from tests.browser import console_errors, open_file, screenshot_is_blank


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_offswitch_page(tmp_path_factory.mktemp("explore_browser"))


def move(driver, knob: str, index: int) -> None:
    """Set a slider to grid step ``index`` as a drag would: its value, then an input event."""
    driver.execute_script(
        "const s = document.getElementById(arguments[0]); s.value = arguments[1];"
        "s.dispatchEvent(new Event('input', {bubbles: true}));",
        f"slider-{knob}",
        index,
    )


def shown(driver, element: str) -> tuple[str, float]:
    """The text of ``#element`` and the full-precision value it carries."""
    found = driver.find_element("id", element)
    return found.text, float(found.get_attribute("data-value"))


def test_the_explorer_loads_without_console_errors_and_draws_the_map(browser, page: Path) -> None:
    open_file(browser, page)
    assert console_errors(browser) == []
    assert not screenshot_is_blank(browser)
    cells = browser.execute_script("return document.querySelectorAll('#map rect').length")
    assert cells >= 7 * 7  # the default map's cells
    assert browser.execute_script("return document.querySelectorAll('#map polyline').length") > 0
    # The sliders start where the grid allows: shutdown_prob 0.5 is not on this grid -> 0.
    assert browser.find_element("id", "value-shutdown_prob").text == "0"
    assert browser.find_element("id", "value-gamma").text == "0.99"
    expected = exact_offswitch(0.0, 0.99, 0.0).events["disabled_off_switch"].p
    assert shown(browser, "optimal-p") == (f"{expected:.3f}", expected)
    assert "no trained runs at this setting" in browser.find_element("id", "trained").text


def test_moving_a_slider_shows_the_solvers_probability_for_that_setting(
    browser, page: Path
) -> None:
    open_file(browser, page)
    before = shown(browser, "optimal-p")
    move(browser, "shutdown_prob", 2)  # 0.6
    evaluation = exact_offswitch(0.6, 0.99, 0.0)
    expected = evaluation.events["disabled_off_switch"].p
    assert shown(browser, "optimal-p") == (f"{expected:.3f}", expected)
    assert shown(browser, "optimal-p") != before
    assert shown(browser, "optimal-return")[1] == evaluation.discounted_return
    move(browser, "supervisor_prob", 1)  # 0.5: the watched half leaves the switch alone
    expected = exact_offswitch(0.6, 0.99, 0.5).events["disabled_off_switch"].p
    assert shown(browser, "optimal-p") == (f"{expected:.3f}", expected)
    move(browser, "gamma", 0)  # 0.9
    evaluation = exact_offswitch(0.6, 0.9, 0.5)
    assert shown(browser, "optimal-p-shut_down")[1] == evaluation.events["shut_down"].p
    assert console_errors(browser) == []


def test_an_arrow_key_on_a_slider_moves_one_grid_step(browser, page: Path) -> None:
    from selenium.webdriver.common.keys import Keys

    open_file(browser, page)
    browser.find_element("id", "slider-shutdown_prob").send_keys(Keys.ARROW_RIGHT)
    assert browser.find_element("id", "value-shutdown_prob").text == "0.3"
    expected = exact_offswitch(0.3, 0.99, 0.0).events["disabled_off_switch"].p
    assert shown(browser, "optimal-p") == (f"{expected:.3f}", expected)
    # The route now passes the button: its step list names the act.
    assert "Disabling the off-switch" in browser.find_element("id", "route").text
    assert console_errors(browser) == []
