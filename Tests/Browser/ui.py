"""Drives mlcycle's web UI in headless Chromium as a person would (Tests/Browser/ui.sh sets up the store and server).

Usage: ui.py BASE_URL ADMIN_TOKEN SCREENSHOT_FOLDER
"""
import json
import os
import sys
import urllib.parse

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

base, token, shots = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(shots, exist_ok=True)

options = webdriver.ChromeOptions()
for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"]:
    options.add_argument(flag)
options.binary_location = "/usr/bin/chromium"
options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path="/usr/bin/chromedriver"), options=options)
failures = []
step = 0


def check(condition, what):
    if not condition:
        failures.append(what)
        print(f"FAILED: {what}", file=sys.stderr)


def console_errors(where, expected=None):
    """The browser console's errors since the last look: any SEVERE entry fails the test, but for the failed load of
    a page the step expects to be refused (`expected`: its status, which Chrome reports as an error)."""
    for entry in driver.get_log("browser"):
        if entry["level"] != "SEVERE":
            continue
        if expected and f"status of {expected}" in entry["message"]:
            continue
        check(False, f"console error on {where}: {entry['message']}")


def visit(path):
    driver.get(base + path)
    console_errors(path)


def shot(name, width=1280, height=900):
    driver.set_window_size(width, height)
    driver.save_screenshot(os.path.join(shots, f"ui-{name}.png"))
    driver.set_window_size(1280, 900)


def h1():
    return driver.find_element(By.TAG_NAME, "h1").text


try:
    # The projects page, reached from the root; a keyboard user's first Tab reaches the skip link.
    visit("/")
    check(h1() == "Projects", f"the root opens the projects page, not {h1()!r}")
    names = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "main table a")]
    check("house-prices" in names and "churn" in names, f"both examples are listed: {names}")
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    check(driver.switch_to.active_element.text == "Skip to the content", "the first Tab reaches the skip link")

    # The project page: its problem and verdict, linked to everything else.
    driver.find_element(By.LINK_TEXT, "house-prices").click()
    console_errors("project page")
    check(h1() == "house-prices", "the project page opens")
    body = driver.find_element(By.TAG_NAME, "main").text
    check("Success metric" in body and "gates failed" in body, "the project page states its goal and verdict")
    shot("project")
    shot("project-phone", 390, 1200)

    # The runs list, filtered to the house-prices training runs.
    driver.find_element(By.LINK_TEXT, "All runs of house-prices").click()
    Select(driver.find_element(By.NAME, "stage")).select_by_value("train")
    driver.find_element(By.CSS_SELECTOR, "form.filters button[type=submit]").click()
    console_errors("runs filtered")
    stages = {row.find_elements(By.TAG_NAME, "td")[3].text for row in driver.find_elements(By.CSS_SELECTOR, "main tbody tr")}
    check(stages == {"train"}, f"the filter keeps training runs only: {stages}")
    query = urllib.parse.parse_qs(urllib.parse.urlparse(driver.current_url).query)
    check(query.get("stage") == ["train"] and query.get("project") == ["house-prices"], f"the filter is in the address: {query}")
    shot("runs")

    # Sorting by a column heading (the little script), then one run's page.
    driver.find_element(By.XPATH, "//thead//button[text()='Took']").click()
    check(driver.find_element(By.XPATH, "//thead//th[button[text()='Took']]").get_attribute("aria-sort") == "ascending", "a heading sorts")
    rows = driver.find_elements(By.CSS_SELECTOR, "main tbody tr")
    whats = [row.find_elements(By.TAG_NAME, "td")[4].text for row in rows]
    run_link = rows[0].find_elements(By.TAG_NAME, "a")[0]
    run_id = run_link.text
    run_link.click()
    console_errors("run page")
    check(h1().startswith(f"Run {run_id}: train"), f"the run page opens: {h1()!r}")
    check("Parameters" in driver.find_element(By.TAG_NAME, "main").text, "the run page lists its parameters")
    driver.back()

    # Compare two runs of different learners: the differing parameter is highlighted.
    learners = {}
    for row in driver.find_elements(By.CSS_SELECTOR, "main tbody tr"):
        what = row.find_elements(By.TAG_NAME, "td")[4].text
        if what.endswith("final"):  # the refits log no validation metrics: compare the ranked candidates
            continue
        learner = what.split("(")[-1].split(")")[0] if "(" in what else what
        learners.setdefault(learner, row)
    check(len(learners) >= 2, f"training runs of two learners to compare: {list(learners)}")
    for row in list(learners.values())[:2]:
        row.find_element(By.CSS_SELECTOR, "input[type=checkbox]").click()
    driver.find_element(By.XPATH, "//button[text()='Compare the runs ticked']").click()
    console_errors("compare")
    check(h1().startswith("Runs ") and "side by side" in h1(), f"the comparison opens: {h1()!r}")
    differing = [tr.find_element(By.TAG_NAME, "th").text for tr in driver.find_elements(By.CSS_SELECTOR, "tr.differs")]
    check(any("learner" in name for name in differing), f"the learner differs and is highlighted: {differing}")
    deltas = driver.find_elements(By.CSS_SELECTOR, "small.delta")
    check(len(deltas) > 0, "the second run's metrics show their difference from the first's")
    shot("compare", 1280, 1000)

    # The model and its first version: gates, lineage, audit trail.
    driver.find_element(By.LINK_TEXT, "Models").click()
    driver.find_element(By.LINK_TEXT, "house-prices").click()
    console_errors("model page")
    check(h1() == "Model house-prices", f"the model page opens: {h1()!r}")
    driver.find_element(By.LINK_TEXT, "v1").click()
    console_errors("version page")
    check(h1().startswith("house-prices version 1"), f"the version page opens: {h1()!r}")
    check(len(driver.find_elements(By.CSS_SELECTOR, "svg.lineage")) == 1, "the version draws its lineage")
    version_url = driver.current_url

    # Without the token: no form, a wrong token refused, and a promotion posted anyway refused.
    check(not driver.find_elements(By.NAME, "csrf"), "no action form before logging in")
    status = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch('/ui/actions/promote', {method: 'POST', headers: {'Content-Type': 'application/x-www-form-urlencoded'},"
        " body: 'model=house-prices&version=1&who=eve&reason=sneaky'}).then(r => done(r.status));")
    check(status == 401, f"a promotion without logging in is refused with 401, not {status}")
    console_errors("promotion refused", expected=401)
    driver.find_element(By.CSS_SELECTOR, "main a[href*='login?next=']").click()
    driver.find_element(By.ID, "token").send_keys("not-the-token")
    driver.find_element(By.CSS_SELECTOR, "form.stacked button").click()
    console_errors("wrong token", expected=401)
    check("not this server's admin token" in driver.find_element(By.TAG_NAME, "main").text, "a wrong token is refused")

    # Logged in: promote v1 to champion with a reason (its gates failed: the override is ticked, on the record).
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "form.stacked button").click()
    check(driver.current_url == version_url, f"logging in comes back to the version: {driver.current_url}")
    cookies = {c["name"]: c for c in driver.get_cookies()}
    session = cookies.get("mlcycle_session", {})
    check(session.get("httpOnly") and session.get("sameSite") == "Strict", f"the session cookie is HttpOnly and Strict: {session}")
    driver.find_element(By.ID, "promote-who").send_keys("lead-appraiser")
    driver.find_element(By.ID, "promote-reason").send_keys("reviewed by hand: the failed slice is the tiny luxury band")
    override = driver.find_elements(By.NAME, "override_gates")
    if override:
        override[0].click()
    driver.find_element(By.XPATH, "//button[text()='Promote']").click()
    console_errors("promoted")
    notice = driver.find_element(By.CSS_SELECTOR, ".notice").text
    check("champion now points at v1" in notice, f"the page says the alias moved: {notice!r}")
    audit = driver.find_element(By.XPATH, "//h2[@id='audit']/following-sibling::div//tbody").text
    check("lead-appraiser" in audit and "reviewed by hand" in audit, f"the audit trail shows the promotion: {audit!r}")
    shot("version", 1280, 1500)

    # Monitoring, per model.
    visit("/ui/monitoring/house-prices")
    check("house-prices" in driver.title or "house-prices" in driver.page_source, "the monitoring page opens")

    # Dark mode, as a reader's system asks for it.
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    visit("/ui/projects/house-prices")
    background = driver.execute_script("return getComputedStyle(document.body).backgroundColor")
    check(background != "rgb(246, 247, 249)", f"dark mode changes the page's colours: {background}")
    shot("project-dark")
finally:
    driver.quit()

if failures:
    print(f"ui.py: {len(failures)} failure(s)", file=sys.stderr)
    sys.exit(1)
print(f"ui.py: every step passed; screenshots in {shots}/")
