"""The web console in a real headless Chromium (Debian's, driven by Playwright) against a real
`fulcrum serve` on the default model: an employee books a room from the chat with its
confirmation card, a supervisor's refund waits in the finance approver's queue and is approved
there, the auditor finds both in a verified log, the employee is shown no audit screen and is
refused on a direct visit, and a document an administrator uploads answers an employee's
question with its source. Every page load is watched: no request goes to any host but the
server. Screenshots of each screen go to docs/console/."""
import json
import os
import shutil
from pathlib import Path

import httpx
import pytest
from playwright import sync_api as playwright_api

from conftest import QWEN_ARGS, ROOT, Server, default_model

SHOTS = ROOT / "docs" / "console"
EMPLOYEE_KEY = "demo-employee-key"
SUPERVISOR_KEY = "demo-supervisor-key"
FINANCE_KEY = "demo-finance-key"
AUDITOR_KEY = "demo-auditor-key"
ADMIN_KEY = "demo-admin-key"
AUDITOR = {"Authorization": f"Bearer {AUDITOR_KEY}"}
# Turns of the default model on 2 cores take tens of seconds.
TURN_MS = 240_000

HANDBOOK = """# Customer handbook
## Returns
A customer may return any product within 45 days of delivery for a full refund, if it comes back in its original box.
## Shipping
Orders leave the Hangzhou warehouse within one working day.
"""


def chromium_path() -> str:
    path = os.environ.get("FULCRUM_CHROMIUM") or shutil.which("chromium")
    assert path, "Debian's chromium is missing: run scripts/setup --test"
    return path


@pytest.fixture(scope="module")
def console_server(tmp_path_factory):
    home = str(tmp_path_factory.mktemp("console"))
    srv = Server(["--model", default_model(), *QWEN_ARGS], env={"FULCRUM_CONTEXT_COLLECTIONS": '["handbook"]'}, home=home)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        # Root in a container has no user namespaces for Chromium's sandbox.
        browser = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        yield browser
        browser.close()


class Console:
    """One browser context (its own session storage) on the console, every request watched."""

    def __init__(self, browser, server, width=1280, height=860):
        self.server = server
        self.context = browser.new_context(viewport={"width": width, "height": height}, locale="en-US")
        self.page = self.context.new_page()
        self.page.set_default_timeout(30_000)
        self.requests = []
        self.errors = []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def sign_in(self, key, screen="chat"):
        self.page.goto(f"{self.server.base_url}/#/{screen}")
        self.page.fill("#api-key", key)
        self.page.press("#api-key", "Enter")
        self.page.wait_for_selector("#who:not(:empty)")

    def shot(self, name):
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    def ask(self, text):
        """Types `text` into the chat and sends it with the keyboard; waits until the turn ended."""
        self.page.focus("#prompt")
        self.page.keyboard.type(text)
        self.page.keyboard.press("Enter")
        self.page.wait_for_selector("#send:disabled", timeout=5_000)
        self.page.wait_for_selector("#send:not(:disabled)", timeout=TURN_MS)

    def close(self):
        foreign = [url for url in self.requests if not url.startswith(self.server.base_url)
                   and not url.startswith(("blob:", "data:"))]
        self.context.close()
        assert not foreign, f"requests to other hosts: {foreign}"
        assert not self.errors, f"errors in the page: {self.errors}"


@pytest.fixture()
def console(browser, console_server):
    opened = []

    def open_console(**kwargs):
        c = Console(browser, console_server, **kwargs)
        opened.append(c)
        return c

    yield open_console
    for c in opened:
        c.close()


def audit_rows(server, **filters):
    r = httpx.get(server.base_url + "/v1/audit", params={"limit": 1000, **filters}, headers=AUDITOR)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def test_a_wrong_key_is_refused_by_name(console):
    c = console()
    c.page.goto(c.server.base_url + "/")
    c.shot("sign-in")
    c.page.fill("#api-key", "not-a-key")
    c.page.click("#sign-in")
    alert = c.page.wait_for_selector("[role=alert]")
    assert "not valid" in alert.inner_text()
    assert c.page.is_hidden("#nav")


def test_the_employee_finds_a_hangzhou_room_and_books_it_from_the_chat_by_keyboard(console):
    c = console()
    c.sign_in(EMPLOYEE_KEY)
    page = c.page
    assert page.inner_text("#nav").split() == ["Chat", "Approvals", "Playground"]
    c.ask("Which meeting rooms in the Hangzhou office have a projector?")
    card = page.wait_for_selector("article.card.tool[data-tool=query_meeting_room]")
    assert "hangzhou" in card.inner_text().lower()
    assert "West Lake" in card.query_selector(".result").inner_text()
    page.wait_for_selector(".message.assistant")

    c.ask("Book meeting room 1 on 2024-03-20 from 14:00 to 15:00 for a design review.")
    confirm = page.wait_for_selector("article.card.confirm")
    text = confirm.inner_text()
    assert "book_room" in text and "2024-03-20" in text
    assert len(confirm.query_selector(".hash").inner_text()) == 64
    assert "min" in confirm.query_selector(".expires").inner_text()
    # Nothing has run before the approval.
    assert not [r for r in audit_rows(c.server, tool="book_room") if r["kind"] == "execution"]
    # The turn ended waiting: focus is on the card's Approve button, and Enter approves.
    assert page.evaluate("document.activeElement.classList.contains('approve')")
    c.shot("chat-confirmation")
    page.keyboard.press("Enter")
    page.wait_for_selector("article.card.confirm[data-state=executed]", timeout=TURN_MS)
    executions = [r for r in audit_rows(c.server, tool="book_room") if r["kind"] == "execution"]
    assert len(executions) == 1 and executions[0]["data"]["ok"], executions

    # The layers' token counts, on demand.
    page.click("#show-context")
    total = int(page.inner_text("#context-panel tr[data-layer=total] td"))
    assert 0 < total <= int(page.inner_text("#context-panel tr[data-layer=budget] td"))
    c.shot("chat")


def test_the_chat_fits_a_phone_and_speaks_chinese(console, console_server):
    c = console(width=390, height=844)
    c.sign_in(EMPLOYEE_KEY)
    c.page.click("#lang")
    assert c.page.inner_text("#nav-chat") == "对话"
    assert c.page.get_attribute("html", "lang") == "zh-CN"
    # Nothing is wider than the phone's window.
    assert c.page.evaluate("document.documentElement.scrollWidth") <= 390
    c.page.click("#session-list button")
    c.page.wait_for_selector(".message.user")
    assert c.page.evaluate("document.documentElement.scrollWidth") <= 390
    c.shot("chat-phone-zh")


def test_the_supervisors_refund_waits_in_the_finance_queue_and_is_approved_there(console):
    supervisor = console()
    supervisor.sign_in(SUPERVISOR_KEY)
    supervisor.ask("Refund order 12345 in full: the customer returned it damaged.")
    mine = supervisor.page.wait_for_selector("article.card.confirm")
    assert "refund_order" in mine.inner_text()
    action_id = mine.get_attribute("data-action")

    finance = console()
    finance.sign_in(FINANCE_KEY, screen="approvals")
    card = finance.page.wait_for_selector(f"#approval-queue [data-action='{action_id}']", timeout=10_000)
    text = card.inner_text()
    assert "Refund order 12345 in full" in text and "chen.supervisor" in text
    assert finance.page.inner_text("#queue-count") == "1"
    finance.shot("approvals")
    card.query_selector("button.approve").click()
    finance.page.wait_for_selector(f"[data-action='{action_id}'][data-state=executed]", timeout=TURN_MS)
    executions = [r for r in audit_rows(finance.server, tool="refund_order") if r["kind"] == "execution"]
    # Run once, by the approver's decision.
    assert len(executions) == 1 and executions[0]["data"]["ok"], executions
    assert executions[0]["user"] == "zhao.finance", executions
    # It left the queue.
    finance.page.reload()
    finance.page.wait_for_selector("#approval-queue .empty")


def test_the_auditor_finds_both_actions_in_the_verified_log(console):
    c = console()
    c.sign_in(AUDITOR_KEY, screen="audit")
    page = c.page
    assert "Chain verified" in page.wait_for_selector("#audit-verify .notice").inner_text()
    for tool in ("book_room", "refund_order"):
        page.fill("#audit-tool", tool)
        page.click("#audit-filters button[type=submit]")
        page.wait_for_selector(f"tr[data-kind=execution] >> text={tool}")
        kinds = {row.get_attribute("data-kind") for row in page.query_selector_all("tbody tr")}
        assert {"decision", "execution"} <= kinds, kinds
    page.click("tr[data-kind=execution] button")
    assert '"tool": "refund_order"' in page.inner_text("#audit-detail pre")
    c.shot("audit")


def test_the_employee_is_shown_no_audit_screen_and_a_direct_visit_shows_the_refusal(console):
    c = console()
    c.sign_in(EMPLOYEE_KEY)
    assert c.page.query_selector("#nav-audit") is None
    c.page.goto(c.server.base_url + "/#/audit")
    alert = c.page.wait_for_selector("#audit-verify [role=alert]")
    assert "may not read the audit log" in alert.inner_text()


def test_an_uploaded_document_answers_an_employees_question_with_its_source(console, tmp_path):
    admin = console()
    admin.sign_in(ADMIN_KEY, screen="knowledge")
    handbook = tmp_path / "handbook.md"
    handbook.write_text(HANDBOOK)
    admin.page.fill("#upload-collection", "handbook")
    admin.page.fill("#upload-roles", "employee")
    admin.page.set_input_files("#upload-file", str(handbook))
    admin.page.click("#upload")
    assert "added" in admin.page.wait_for_selector("#upload-status .notice").inner_text()
    row = admin.page.wait_for_selector("tr[data-collection=handbook]")
    assert "employee" in row.inner_text()
    admin.page.fill("#search-query", "how long can a customer send a product back")
    admin.page.click("#search")
    assert "45 days" in admin.page.wait_for_selector("#search-hits li").inner_text()
    admin.shot("knowledge")

    employee = console()
    employee.sign_in(EMPLOYEE_KEY)
    employee.page.click("#new-session")
    employee.ask("How many days after delivery can a customer return a product?")
    answer = employee.page.wait_for_selector(".message.assistant:last-of-type")
    assert "45" in answer.inner_text(), answer.inner_text()
    assert "handbook.md" in employee.page.inner_text(".message.assistant .sources")


def test_a_report_shows_its_progress_and_its_files(console):
    c = console()
    c.sign_in(ADMIN_KEY, screen="reports")
    c.page.fill("#report-month", "2024-03")
    c.page.uncheck("input[value=docx]")
    c.page.click("#generate-report")
    c.page.wait_for_selector("#report-progress li[data-stage=data]", timeout=60_000)
    c.page.wait_for_selector("#report-result a.download", timeout=TURN_MS * 2)
    stages = [li.get_attribute("data-stage") for li in c.page.query_selector_all("#report-progress li[data-stage]")]
    assert stages == ["data", "analysis", "charts", "strategy", "prose", "pdf", "md"], stages
    assert c.page.query_selector_all("#report-progress li[data-section]")
    names = [a.get_attribute("download") for a in c.page.query_selector_all("#report-result a.download")]
    assert names == ["sales-report-2024-03.pdf", "sales-report-2024-03.md"], names
    with c.page.expect_download() as download:
        c.page.click("#report-result a.download >> nth=0")
    assert Path(download.value.path()).read_bytes().startswith(b"%PDF")
    c.shot("reports")


def test_the_playground_sends_a_raw_request_with_tools(console):
    c = console()
    c.sign_in(ADMIN_KEY, screen="playground")
    # What is typed is what is sent: the prefilled body, edited to require the call.
    body = json.loads(c.page.input_value("#playground-body"))
    assert body["tools"][0]["function"]["name"] == "get_weather"
    body["tool_choice"] = "required"
    c.page.fill("#playground-body", json.dumps(body, indent=2))
    c.page.click("#playground-send")
    c.page.wait_for_selector("#playground-response:has-text('chat.completion')", timeout=TURN_MS)
    response = json.loads(c.page.inner_text("#playground-response"))
    assert response["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "get_weather"
    c.shot("playground")
