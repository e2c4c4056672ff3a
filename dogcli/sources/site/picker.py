"""The page's Element Plus date picker: its calendar panel, read and clicked."""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

from dogcli.sources.site.errors import _PageError
from dogcli.sources.site.scripts import DATE_INPUT


def click_calendar(driver: WebDriver, target: str, timeout: float, poll: float) -> None:
    """Pick `target` (YYYY-MM-DD) in the date field's calendar: open it, step its months with
    the arrows, click the day's cell."""
    year, month, day = (int(p) for p in target.split("-"))
    field = driver.find_element(By.CSS_SELECTOR, DATE_INPUT)
    if not _visible_panel(driver):
        field.click()
    panel: WebElement = WebDriverWait(driver, timeout, poll).until(_visible_panel)  # type: ignore[assignment]
    for _ in range(1200):  # bounded: 100 years of months
        shown = _panel_month(panel)
        if shown == (year, month):
            break
        arrow = "arrow-left" if shown > (year, month) else "arrow-right"
        buttons = [
            b
            for b in panel.find_elements(By.CSS_SELECTOR, f"button.{arrow}, .{arrow}")
            if b.is_displayed() and "d-arrow" not in (b.get_attribute("class") or "")
        ]
        if not buttons:
            raise _PageError("the calendar has no month arrows")
        buttons[0].click()

        def moved(_driver: Any, before: tuple[int, int] = shown) -> bool:
            return _panel_month(panel) != before

        WebDriverWait(driver, timeout, poll).until(moved)
    for cell in panel.find_elements(By.CSS_SELECTOR, "table.el-date-table td"):
        classes = (cell.get_attribute("class") or "").split()
        if "prev-month" in classes or "next-month" in classes:
            continue
        if cell.text.strip() == str(day):
            if "disabled" in classes:
                raise _PageError(f"the calendar does not offer {target}")
            cell.find_element(By.CSS_SELECTOR, "span").click()
            return
    raise _PageError(f"no calendar cell for {target}")


def _visible_panel(driver: Any) -> WebElement | bool:
    for panel in driver.find_elements(By.CSS_SELECTOR, ".el-picker-panel"):
        if panel.is_displayed():
            return panel  # type: ignore[no-any-return]
    return False


MONTHS = {
    name: index
    for index, name in enumerate(
        [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ],
        start=1,
    )
}


def _panel_month(panel: WebElement) -> tuple[int, int]:
    header = panel.find_element(By.CSS_SELECTOR, ".el-date-picker__header").text
    year = month = 0
    for word in header.replace("年", " ").replace("月", " ").split():
        lowered = word.lower()
        if lowered.isdigit() and len(lowered) == 4:
            year = int(lowered)
        elif lowered.isdigit() and 1 <= int(lowered) <= 12:
            month = int(lowered)
        elif lowered in MONTHS:
            month = MONTHS[lowered]
        elif lowered[:3] in {m[:3] for m in MONTHS}:
            month = next(i for m, i in MONTHS.items() if m.startswith(lowered[:3]))
    if not year or not month:
        raise _PageError(f"cannot read the calendar header {header!r}")
    return year, month
