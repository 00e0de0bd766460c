"""The web portal in a real browser (Debian's chromium, headless, driven by
python3-selenium): sign in, submit through the form and the editor, follow a
job to its end and read its log, stop and start one, admin pages for admins
only, an admin making a user who then signs in; screenshots of each page at
1280 and 360 px (var/screenshots), checked for their key elements, with no
console error (a Content-Security-Policy violation is one) and nothing wider
than the window.  The portal does not depend on the database: SQLite only."""
import os
import re
import time

import pytest
import requests
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import ADMIN, TLS, VAR

SHOTS = os.path.join(VAR, "screenshots")
pytestmark = pytest.mark.parametrize("api", ["sqlite3"], indirect=True)


@pytest.fixture
def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=1280,900", "--lang=en-US"):
        opts.add_argument(a)
    if TLS:
        # `make test-tls`: this clone's CA, which the browser has no store for.
        opts.add_argument("--ignore-certificate-errors")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    drv.set_page_load_timeout(30)
    os.makedirs(SHOTS, exist_ok=True)
    yield drv
    drv.quit()


def wait(drv, cond, timeout=60):
    return WebDriverWait(drv, timeout, poll_frequency=0.2).until(cond)


def present(drv, css, timeout=60):
    return wait(drv, EC.visibility_of_element_located((By.CSS_SELECTOR, css)), timeout)


def console_errors(drv):
    """Errors in the console but the network's word on a refusal the test
    asked for (an admin page, a wrong password)."""
    return [e for e in drv.get_log("browser") if e["level"] == "SEVERE" and
            not re.search(r"Failed to load resource: the server responded with a status of 40[13]",
                          e["message"])]


def sign_in(drv, api, user, password):
    drv.get(api.url("/#/login"))
    present(drv, "#login")
    drv.find_element(By.NAME, "username").send_keys(user)
    drv.find_element(By.NAME, "password").send_keys(password)
    drv.find_element(By.CSS_SELECTOR, "#login button[type=submit]").click()
    present(drv, "#jobs")


def go(drv, api, route, css):
    """Opens a view; the one shown already is loaded again (a hash that does
    not change draws nothing anew)."""
    url = api.url("/#" + route)
    if drv.current_url == url:
        drv.refresh()
    else:
        drv.get(url)
    return present(drv, css)


def shoot(drv, name, must_see):
    """The page at 1280 and 360 px: saved, its key elements shown, nothing
    wider than the window, no text of low contrast."""
    assert not low_contrast(drv), (name, low_contrast(drv))
    for width in (1280, 360):
        drv.set_window_size(width, 900)
        time.sleep(0.3)
        for css in must_see:
            # Asked in one step: a view redrawn by a change between finding
            # an element and asking about it made the element stale.
            assert drv.execute_script(
                "const e = document.querySelector(arguments[0]); if (!e) return false;"
                " const s = getComputedStyle(e); return e.getClientRects().length > 0 &&"
                " s.visibility !== 'hidden' && s.display !== 'none';", css), (name, width, css)
        over = drv.execute_script("return document.documentElement.scrollWidth")
        assert over <= width + 1, (name, width, over)
        drv.save_screenshot(os.path.join(SHOTS, "%s-%d.png" % (name, width)))
    drv.set_window_size(1280, 900)


def text(drv, css):
    """An element's text now ("" if absent): views redraw as changes come,
    which makes a found element stale a moment later."""
    return drv.execute_script("const e = document.querySelector(arguments[0]);"
                              " return e ? e.innerText : '';", css)


CONTRAST_JS = """
const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
const lum = ([r, g, b]) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92
    : Math.pow((v + 0.055) / 1.055, 2.4); }; return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
const back = (e) => { for (; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor);
    if (c.length < 4 || c[3] > 0) return c; } return [255, 255, 255]; };
const worst = [];
for (const e of document.querySelectorAll(arguments[0])) {
  if (!e.offsetParent || !e.textContent.trim()) continue;
  const a = lum(rgb(getComputedStyle(e).color)), b = lum(back(e));
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  if (ratio < 4.5) worst.push([e.tagName, e.className, e.textContent.slice(0, 30), ratio]);
}
return worst;
"""


def low_contrast(drv):
    """Text below WCAG AA's 4.5:1 against what is behind it."""
    return drv.execute_script(CONTRAST_JS, "h1, h2, td, th, label, a, button, .state, .muted, "
                                           "dt, dd, #flash, nav span, p, code, pre")


def job_state(drv):
    return text(drv, "#job-state .state")


def test_the_portal_is_served_by_httpd_with_a_strict_policy(api):
    r = requests.get(api.url("/"), timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe" not in csp
    assert r.headers["Cache-Control"] == "no-cache"
    assert "<script>" not in r.text and " style=" not in r.text
    assets = re.findall(r'(?:src|href)="(assets/[a-z]+\.[0-9a-f]{12}\.(?:js|css))"', r.text)
    assert len(assets) == 2, r.text
    for path in assets:
        a = requests.get(api.url("/" + path), headers={"Accept-Encoding": "gzip"}, timeout=10)
        assert a.status_code == 200 and a.headers["Content-Encoding"] == "gzip"
        assert "max-age=31536000" in a.headers["Cache-Control"]
        assert a.headers["Content-Type"].startswith("text/" + ("javascript" if path.endswith("js")
                                                                 else "css"))
        b = requests.get(api.url("/" + path), headers={"Accept-Encoding": "br"}, timeout=10,
                         stream=True)
        assert b.headers["Content-Encoding"] == "br"
    # What the server suggests to the submit form (scripts/httpd.sh writes it).
    conf = requests.get(api.url("/config.json"), timeout=10)
    assert conf.headers["Content-Type"].startswith("application/json")
    assert conf.json() == {"defaultImage": "debian:12"}
    # The API is untouched: JSON, no compression asked, no portal headers.
    r = requests.get(api.url("/api/v1"), timeout=10)
    assert r.headers["Content-Type"].startswith("application/json")
    assert "Content-Security-Policy" not in r.headers
    assert requests.get(api.url("/no-such-page"), timeout=10).status_code == 404


def test_a_user_submits_follows_stops_and_restarts_jobs(api, browser):
    drv = browser
    user, _ = api.make_user(password="portal-pass1")
    sign_in(drv, api, user, "portal-pass1")
    # A user sees no admin pages.
    nav = drv.find_element(By.ID, "nav").text
    assert "Jobs" in nav and "Users" not in nav and "Audit" not in nav

    # Submit through the form; the detail follows the job to its end.
    name = api.unique("portal")
    go(drv, api, "/submit", "#submit-form")
    shoot(drv, "submit", ["#submit-form", "fieldset[data-role]"])
    assert drv.find_element(By.NAME, "image").get_attribute("value") == "debian:12"
    drv.find_element(By.NAME, "name").send_keys(name)
    cmd = drv.find_element(By.NAME, "command")
    cmd.clear()
    cmd.send_keys("echo portal-hello-$((6*7)); sleep 2")
    drv.find_element(By.NAME, "memoryMB").clear()
    drv.find_element(By.NAME, "memoryMB").send_keys("128")
    drv.find_element(By.CSS_SELECTOR, "#submit-form button[type=submit]").click()
    present(drv, "#tasks")
    assert name in drv.find_element(By.TAG_NAME, "h1").text
    wait(drv, lambda d: job_state(d) == "SUCCEEDED", 90)
    drv.find_element(By.CSS_SELECTOR, "[data-task='worker-0']").click()
    wait(drv, lambda d: "portal-hello-42" in text(d, "#log-text"))
    shoot(drv, "job", ["#job-state", "#tasks", "#log-text", "#attempts"])

    # The list shows it, filtered by name.
    go(drv, api, "/jobs?keyword=" + name, "#jobs")
    wait(drv, lambda d: name in text(d, "#jobs") and "SUCCEEDED" in text(d, "#jobs"))
    go(drv, api, "/jobs", "#jobs")
    wait(drv, lambda d: name in text(d, "#jobs"))
    shoot(drv, "jobs", ["#nav", "#filters", "#jobs tbody tr"])
    # Times: the browser's own zone, the exact time on hover.
    stamp = drv.execute_script("const t = document.querySelector('#jobs time');"
                               " return [t.getAttribute('title'), t.textContent,"
                               " new Date(t.getAttribute('datetime')).toLocaleString()]")
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", stamp[0]), stamp
    assert stamp[1] == stamp[2], stamp

    # A long job from the editor: stopped, then started again as a new attempt.
    long_name = api.unique("portal_long")
    go(drv, api, "/submit", "#submit-form")
    drv.find_element(By.CSS_SELECTOR, "[role=tab]:nth-child(2)").click()
    editor = present(drv, "#protocol")
    editor.clear()
    editor.send_keys("protocolVersion: 2\nname: %s\ntype: job\nprerequisites:\n"
                     "  - {type: dockerimage, name: img, uri: 'debian:12'}\n"
                     "taskRoles:\n  main:\n    instances: 1\n    dockerImage: img\n"
                     "    resourcePerInstance: {cpu: 1, memoryMB: 128, gpu: 0}\n"
                     "    commands: ['sleep 300']\n" % long_name)
    drv.find_element(By.CSS_SELECTOR, "#submit-text button[type=submit]").click()
    present(drv, "#tasks")
    wait(drv, lambda d: job_state(d) == "RUNNING", 90)
    drv.find_element(By.ID, "stop").click()
    wait(drv, lambda d: job_state(d) == "STOPPED", 90)
    present(drv, "#start").click()
    wait(drv, lambda d: job_state(d) in ("WAITING", "RUNNING"), 60)
    wait(drv, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#attempts tbody tr")) == 2, 60)
    present(drv, "#stop").click()
    wait(drv, lambda d: job_state(d) == "STOPPED", 90)

    # Clone: the editor holds the job, renamed.
    go(drv, api, "/submit?clone=%s~%s" % (user, name), "#protocol")
    assert name + "-clone" in drv.find_element(By.ID, "protocol").get_attribute("value")

    # An admin page forced by URL: the API's own refusal, not a blank page.
    refusal = requests.get(api.url("/api/v2/users"), timeout=10,
                           headers={"Authorization": "Bearer " + api.login(user, "portal-pass1")})
    assert refusal.status_code in (401, 403)
    go(drv, api, "/admin/users", "main .panel")
    assert refusal.json()["message"] in drv.find_element(By.ID, "main").text
    assert "Users" not in drv.find_element(By.ID, "nav").text

    go(drv, api, "/vcs", ".vc")
    shoot(drv, "vcs", [".vc .bar"])
    assert not console_errors(drv), console_errors(drv)


def test_an_admin_makes_a_user_who_signs_in(api, browser):
    drv = browser
    drv.get(api.url("/"))
    present(drv, "#login")
    shoot(drv, "login", ["#login"])
    # By keyboard: the page puts the focus on the user name; Tab moves on to
    # the password, then the button, each with a focus one sees.
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    seen = []
    for _ in range(2):
        ActionChains(drv).send_keys(Keys.TAB).perform()
        seen.append(drv.execute_script(
            "const e = document.activeElement; return [e.name || e.textContent,"
            " getComputedStyle(e).outlineStyle, getComputedStyle(e).outlineWidth]"))
    assert [f[0] for f in seen] == ["password", "Sign in"], seen
    assert all(f[1] == "solid" and f[2] == "3px" for f in seen), seen
    sign_in(drv, api, ADMIN, api.admin_password)
    assert "Users" in drv.find_element(By.ID, "nav").text
    go(drv, api, "/admin/users", "#new-user")
    newbie = api.unique("newbie")
    drv.find_element(By.CSS_SELECTOR, "#new-user [name=username]").send_keys(newbie)
    drv.find_element(By.CSS_SELECTOR, "#new-user [name=password]").send_keys("newbie-pass1")
    drv.find_element(By.CSS_SELECTOR, "#new-user button[type=submit]").click()
    wait(drv, lambda d: d.find_elements(By.CSS_SELECTOR, "tr[data-user='%s']" % newbie))
    assert "created" in text(drv, "#flash")
    shoot(drv, "users", ["#new-user", "#users"])
    row = "tr[data-user='%s'] " % newbie

    def user_action(label, answer=None):
        drv.execute_script("document.getElementById('flash').textContent = ''")
        button = [b for b in drv.find_elements(By.CSS_SELECTOR, row + "button")
                  if b.text == label][0]
        button.click()
        if answer is not None:
            alert = wait(drv, EC.alert_is_present(), 10)
            if answer is True:
                alert.accept()
            else:
                alert.send_keys(answer)
                alert.accept()
        wait(drv, lambda d: text(d, "#flash") and newbie in text(d, "#flash"))

    def account(name):
        r = requests.get(api.url("/api/v2/users/" + name), timeout=10,
                         headers={"Authorization": "Bearer " + api.admin_token})
        assert r.status_code == 200, r.text
        return r.json()

    # Its VCs, its admin flag (both ways), its password, through the page.
    grants = drv.find_element(By.CSS_SELECTOR, row + "input")
    grants.clear()
    grants.send_keys("default,vc1")
    user_action("Set")
    assert sorted(account(newbie)["virtualCluster"]) == ["default", "vc1"]
    user_action("Make admin")
    assert account(newbie)["admin"] is True
    user_action("Revoke admin")
    assert account(newbie)["admin"] is False
    user_action("Password", "newbie-pass2")
    api.login(newbie, "newbie-pass2")
    # And one more user, made to be deleted.
    doomed = api.unique("doomed")
    api.call("PUT", "/api/v1/user", api.admin_token,
             json=dict(username=doomed, password="doomed-pass1", admin=False, modify=False))
    go(drv, api, "/admin/users", "tr[data-user='%s']" % doomed)
    [b for b in drv.find_elements(By.CSS_SELECTOR, "tr[data-user='%s'] button" % doomed)
     if b.text == "Delete"][0].click()
    wait(drv, EC.alert_is_present(), 10).accept()
    wait(drv, lambda d: not d.find_elements(By.CSS_SELECTOR, "tr[data-user='%s']" % doomed))
    assert api.call("GET", "/api/v2/users/" + doomed, api.admin_token).status_code == 404
    go(drv, api, "/admin/audit", "#audit")
    wait(drv, lambda d: newbie in text(d, "#audit"))
    shoot(drv, "audit", ["#audit"])

    # Signing out ends the token on the server; the new user signs in.
    token = drv.execute_script("return JSON.parse(sessionStorage.getItem('pai.session')).token")
    drv.find_element(By.CSS_SELECTOR, "#nav button").click()
    present(drv, "#login")
    r = requests.get(api.url("/api/v2/tokens/check"), timeout=10,
                     headers={"Authorization": "Bearer " + token})
    assert r.status_code == 401, r.text
    sign_in(drv, api, newbie, "newbie-pass2")
    assert newbie in drv.find_element(By.ID, "nav").text
    # A wrong password: the API's message, shown.
    drv.find_element(By.CSS_SELECTOR, "#nav button").click()
    present(drv, "#login")
    drv.find_element(By.NAME, "username").send_keys(newbie)
    drv.find_element(By.NAME, "password").send_keys("wrong-pass1")
    drv.find_element(By.CSS_SELECTOR, "#login button[type=submit]").click()
    refusal = requests.post(api.url("/api/v2/authn/basic/login"), timeout=10,
                            json={"username": newbie, "password": "wrong-pass1"}).json()
    wait(drv, lambda d: text(d, "#flash") == refusal["message"])
    assert not console_errors(drv), console_errors(drv)
