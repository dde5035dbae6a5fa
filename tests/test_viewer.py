"""The web viewer in a real headless Chromium (Debian's chromium + chromedriver, driven by Selenium):
load models with a token, start an episode, plan (imagined frames appear), run it to the end, screenshot."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.serve_fixtures import TOKEN

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium") or "/usr/bin/chromium", shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser():
    if not (os.path.exists(CHROMIUM) and CHROMEDRIVER):
        if os.environ.get("JEPAWORLD_REQUIRE_BROWSER"):
            pytest.fail("JEPAWORLD_REQUIRE_BROWSER is set but chromium/chromedriver are missing (scripts/setup.sh)")
        pytest.skip("needs Debian's chromium and chromium-driver (scripts/setup.sh installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1280,1100",
    ):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def test_plan_and_run_an_episode_from_the_page(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    wait = WebDriverWait(browser, 60)
    status = lambda: browser.find_element(By.ID, "status").text  # noqa: E731
    browser.get(f"{server}/")
    wait.until(lambda _: "401" in status())  # the server wants a token: the page says so
    token = browser.find_element(By.ID, "token")
    token.send_keys(TOKEN, Keys.TAB)
    wait.until(lambda _: "1 model(s)" in status())
    assert Select(browser.find_element(By.ID, "model")).first_selected_option.get_attribute("value") == "tiny"

    for field, value in (("seed", "4"), ("samples", "30"), ("iterations", "2"), ("context", "2")):
        element = browser.find_element(By.ID, field)
        element.clear()
        element.send_keys(value)
    browser.find_element(By.ID, "blocks").click()  # plan as eval --plan-context 2 --plan-blocks --metric steps
    Select(browser.find_element(By.ID, "metric")).select_by_visible_text("steps")
    browser.find_element(By.ID, "new").click()
    wait.until(lambda _: status().startswith("step 0/"))
    wait.until(ec.element_to_be_clickable((By.ID, "plan"))).click()
    wait.until(lambda _: len(browser.find_elements(By.CSS_SELECTOR, "#imagined img")) == 8)  # horizon 8, decoded
    assert "energy" in status() and "plan" in status() and "from 1 frame(s), blocks" in status()  # 1 seen yet
    assert "steps metric" in status()

    browser.find_element(By.ID, "run").click()
    # A whole episode of plans: on a loaded 2-core machine it took more than the 60 s the steps above get.
    WebDriverWait(browser, 240).until(lambda _: "goal reached" in status() or "out of steps" in status())
    real = browser.find_elements(By.CSS_SELECTOR, "#real img.real")
    assert len(real) >= 2  # the start frame and at least one observed frame
    imagined = browser.find_elements(By.CSS_SELECTOR, "#real img.imagined")
    assert len(imagined) == len(real) - 1  # beside every observed frame, what the model imagined it would be
    assert "surprise" in status()
    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "viewer.png"))
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE" and "401" not in e["message"]]
    assert not errors, errors


def test_the_page_reports_a_bad_request_clearly(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60)
    browser.get(f"{server}/")
    browser.find_element(By.ID, "token").send_keys(TOKEN, "\t")
    wait.until(lambda _: "model(s)" in browser.find_element(By.ID, "status").text)
    samples = browser.find_element(By.ID, "samples")
    samples.clear()
    samples.send_keys("100000")
    browser.find_element(By.ID, "new").click()
    wait.until(lambda _: browser.find_element(By.ID, "status").text.startswith("step 0/"))
    browser.find_element(By.ID, "plan").click()
    wait.until(lambda _: "400" in browser.find_element(By.ID, "status").text)
    status = browser.find_element(By.ID, "status")
    assert "at most 20000" in status.text and status.get_attribute("class") == "error"
