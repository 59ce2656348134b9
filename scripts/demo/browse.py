#!/usr/bin/env python
"""Walk through a fleet's web pages in headless Chromium, as a person would, and fail on what they would see.

    PYTHONPATH=tests scripts/demo/browse.py UI_URL ADMIN_PASSWORD_FILE FLOWER_URL FLOWER_PASSWORD_FILE \
        [--workers N] [--screenshots DIR] [--ca CA_FILE]

1. UI_URL redirects to the login page on the same address (base_url matches what was printed);
2. the admin logs in and lands on the same address again;
3. the DAG list shows the fleet's DAGs (fleet_smoke, s3_csv_to_dynamodb);
4. the last successful fleet_smoke run opens and its task's log (fetched from the worker, or the remote
   log store) reads "Returned value was: <host>", the worker the REST API says ran it;
5. logging out lands on the login page of the same address;
6. Flower, with its basic auth, lists N workers, every one online.

Uses Debian's chromium and chromium-driver (no browser download) through Selenium. With --ca, the
browser trusts that CA (a fleet under airflow_tls) through an NSS database of its own. Screenshots of
every step go to DIR (a temporary folder by default); the last line printed names it. Exit status 1
with the step that failed, its URL and a screenshot of what the page showed.
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from fleetapi import Api

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
EXPECTED_DAGS = ["fleet_smoke", "s3_csv_to_dynamodb"]
WAIT = 60


class PageProblem(Exception):
    """What a person would have seen go wrong on a page."""


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class Browser:
    """Headless Chromium that keeps a screenshot of each step."""

    def __init__(self, shots: Path, ca: str | None):
        self.shots = shots
        self.step = 0
        self.home = Path(tempfile.mkdtemp(prefix="fleet-browser-"))
        env = dict(os.environ, HOME=str(self.home))
        if ca:  # Chromium on Linux trusts what is in $HOME/.pki/nssdb
            nssdb = self.home / ".pki" / "nssdb"
            nssdb.mkdir(parents=True)
            subprocess.run(["certutil", "-d", f"sql:{nssdb}", "-N", "--empty-password"], check=True)
            subprocess.run(["certutil", "-d", f"sql:{nssdb}", "-A", "-t", "C,,", "-n", "fleet-ca", "-i", ca], check=True)
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        # The flags a closed network needs (no background fetches to the vendor's hosts), and root's --no-sandbox.
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", "--window-size=1440,960", f"--user-data-dir={self.home / 'profile'}"):
            options.add_argument(flag)
        self.driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER, env=env))
        self.driver.set_page_load_timeout(WAIT)

    def close(self) -> None:
        self.driver.quit()
        shutil.rmtree(self.home, ignore_errors=True)

    def shot(self, name: str) -> Path:
        self.step += 1
        path = self.shots / f"{self.step:02d}-{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def text(self) -> str:
        try:
            return self.driver.find_element(By.TAG_NAME, "body").text
        except WebDriverException:
            return ""

    def wait_for(self, what: str, condition, timeout: float = WAIT) -> None:
        try:
            WebDriverWait(self.driver, timeout, poll_frequency=0.5).until(lambda _driver: condition())
        except TimeoutException:
            raise PageProblem(f"{what}: not seen within {timeout:.0f} s on {self.driver.current_url}; "
                              f"the page read: {self.text()[:400]!r}") from None

    def open(self, url: str) -> None:
        try:
            self.driver.get(url)
        except WebDriverException as exc:  # name not resolved, refused, certificate not trusted
            raise PageProblem(f"{url} did not load: {exc.msg}") from None
        error = self.driver.execute_script(
            "return document.documentElement.innerText.match(/ERR_[A-Z_]+/) ? document.title : ''")
        if error:
            raise PageProblem(f"{url} did not load: the browser shows {error!r} ({self.text()[:200]!r})")


def check_ui(browser: Browser, ui: str, password: str, api: Api) -> None:
    address = origin(ui)

    def stays() -> bool:
        return browser.driver.current_url.startswith(address + "/")

    browser.open(ui)
    browser.wait_for("the login form", lambda: browser.driver.find_elements(By.NAME, "password"))
    if not stays():
        raise PageProblem(f"{ui} redirected to {browser.driver.current_url}, off the address it was opened at "
                          f"(airflow_api_base_url must be {address})")
    browser.shot("login")
    browser.driver.find_element(By.NAME, "username").send_keys("admin")
    browser.driver.find_element(By.NAME, "password").send_keys(password)
    browser.driver.find_element(By.NAME, "password").submit()
    browser.wait_for("the logged-in home page", lambda: not browser.driver.find_elements(By.NAME, "password")
                     and "Dags" in browser.text())
    if not stays():
        raise PageProblem(f"logging in led to {browser.driver.current_url}, off {address}")
    # The single-page UI resolves every link and API call against its <base href>, which Airflow
    # writes from airflow_api_base_url.
    base = browser.driver.execute_script("return document.baseURI")
    if not base.startswith(address + "/"):
        raise PageProblem(f"the UI's links resolve against {base}, not {address} (airflow_api_base_url)")
    browser.shot("home")

    browser.open(f"{address}/dags")
    browser.wait_for(f"the DAG list with {', '.join(EXPECTED_DAGS)}",
                     lambda: all(dag in browser.text() for dag in EXPECTED_DAGS))
    browser.shot("dag-list")

    runs = api.get("/api/v2/dags/fleet_smoke/dagRuns", state="success", order_by="-start_date", limit=1)["dag_runs"]
    if not runs:
        raise PageProblem("fleet_smoke has no successful run to open (run scripts/demo/smoke.py first)")
    run_id = runs[0]["dag_run_id"]
    [ti] = [ti for ti in api.task_instances("fleet_smoke", run_id) if ti["task_id"] == "report_worker"]
    browser.open(f"{address}/dags/fleet_smoke/runs/{run_id}")
    browser.wait_for(f"run {run_id} with its task", lambda: "report_worker" in browser.text()
                     and run_id.split("__")[-1][:10] in browser.text())
    browser.shot("dag-run")
    # The run's details name the DAG release it runs on (the fleet's versioned DAG bundle).
    release = runs[0].get("bundle_version")
    if not release:
        raise PageProblem(f"fleet_smoke's run {run_id} recorded no DAG release (bundle version)")
    browser.open(f"{address}/dags/fleet_smoke/runs/{run_id}/details")
    browser.wait_for(f"the run's details naming its DAG release {release}", lambda: release in browser.text())
    browser.driver.execute_script(
        "const cell = [...document.querySelectorAll('main *, body *')].find("
        "  e => e.children.length === 0 && e.textContent.includes(arguments[0]));"
        "if (cell) cell.scrollIntoView({block: 'center'});", release)
    browser.shot("dag-run-release")
    expected = f"Returned value was: {ti['hostname']}"
    browser.open(f"{address}/dags/fleet_smoke/runs/{run_id}/tasks/report_worker")
    browser.wait_for(f"the task's log with {expected!r}", lambda: expected in browser.text())
    browser.shot("task-log")

    # Log out as a person does: the User menu in the navigation, then Logout.
    [user] = browser.driver.find_elements(By.XPATH, "//button//*[normalize-space(text())='User']") or [None]
    if user is None:
        raise PageProblem(f"no User menu in the navigation of {browser.driver.current_url}")
    browser.driver.execute_script("arguments[0].closest('button, a').click()", user)
    browser.wait_for("the Logout item of the User menu",
                     lambda: browser.driver.find_elements(By.CSS_SELECTOR, "[role=menuitem][data-value=logout]"))
    browser.driver.find_element(By.CSS_SELECTOR, "[role=menuitem][data-value=logout]").click()
    confirm = "//*[@role='dialog']//button[normalize-space(.)='Confirm']"
    browser.wait_for("the logout dialog", lambda: browser.driver.find_elements(By.XPATH, confirm))
    browser.driver.find_element(By.XPATH, confirm).click()
    browser.wait_for("the login form after logging out", lambda: browser.driver.find_elements(By.NAME, "password"))
    if not stays():
        raise PageProblem(f"logging out led to {browser.driver.current_url}, off {address}")
    browser.open(f"{address}/dags")
    browser.wait_for("the login form again (logged out)", lambda: browser.driver.find_elements(By.NAME, "password"))
    browser.shot("logged-out")


def check_flower(browser: Browser, flower: str, password: str, workers: int) -> None:
    address = origin(flower)
    token = base64.b64encode(f"flower:{password}".encode()).decode()
    browser.driver.execute_cdp_cmd("Network.enable", {})
    browser.driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}})

    def rows() -> list[str]:
        # Read every row's text in one script: Flower redraws its table as workers report, and an
        # element found a moment earlier may be gone when its text is read.
        texts = browser.driver.execute_script(
            "return Array.from(document.querySelectorAll('table tbody tr'), row => row.innerText);")
        return [text for text in texts if "celery@" in text]

    deadline = time.monotonic() + WAIT
    while True:  # a worker that just started may take a few seconds to answer Flower's inspect
        browser.open(f"{address}/workers")
        try:
            browser.wait_for("Flower's worker table", rows, timeout=10)
        except PageProblem:
            if time.monotonic() > deadline:
                raise
            continue
        if sum("Online" in row for row in rows()) == workers or time.monotonic() > deadline:
            break
        time.sleep(3)
    browser.shot("flower-workers")
    if sum("Online" in row for row in rows()) != workers:
        raise PageProblem(f"Flower lists {rows()}, not {workers} workers online")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ui")
    parser.add_argument("password_file", type=Path)
    parser.add_argument("flower")
    parser.add_argument("flower_password_file", type=Path)
    parser.add_argument("--workers", type=int, default=2, help="workers Flower must list online (default 2)")
    parser.add_argument("--screenshots", type=Path, help="folder for the screenshots (default: a new temporary one)")
    parser.add_argument("--ca", help="CA certificate the fleet's HTTPS certificates are issued by (airflow_tls)")
    args = parser.parse_args()
    for program in (CHROMIUM, CHROMEDRIVER):
        if not Path(program).exists():
            print(f"{program} is missing: apt-get install chromium chromium-driver (scripts/bootstrap.sh --browser)")
            return 2
    shots = args.screenshots or Path(tempfile.mkdtemp(prefix="fleet-screenshots-"))
    shots.mkdir(parents=True, exist_ok=True)
    for old in shots.glob("[0-9][0-9]-*.png"):  # an earlier walk's
        old.unlink()
    password = args.password_file.read_text().strip()
    api = Api(args.ui, password, ca_path=args.ca)
    started = time.monotonic()
    browser = Browser(shots, args.ca)
    try:
        check_ui(browser, args.ui, password, api)
        check_flower(browser, args.flower, args.flower_password_file.read_text().strip(), args.workers)
    except PageProblem as problem:
        print(f"browser: FAILED: {problem}")
        print(f"browser: what the page showed: {browser.shot('failed')}")
        return 1
    finally:
        browser.close()
    print(f"browser: UI and Flower pages as expected in {time.monotonic() - started:.0f} s; "
          f"{len(list(shots.glob('*.png')))} screenshots in {shots}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
