"""The monthly report over HTTP on the default model: the files come back, the PDF renders and
its text holds the month's total as the database has it, every section's numbers are either
all in the data or the section says it needs review, and a role without the sales tool is
refused (403) with the refusal in the audit log."""
import base64
import html
import io
import sqlite3
import subprocess
import zipfile
from pathlib import Path

import httpx

from conftest import AUTH

ADMIN = {"Authorization": "Bearer demo-admin-key"}


def post_report(server, key_headers, body, timeout=600):
    return httpx.post(f"{server.base_url}/v1/reports/monthly", json=body, headers=key_headers, timeout=timeout)


def test_monthly_report_files_hold_the_database_figures(qwen_server, tmp_path):
    r = post_report(qwen_server, ADMIN, {"month": "2024-03", "formats": ["pdf", "docx"]})
    assert r.status_code == 200, r.text
    report = r.json()
    assert [s["title"] for s in report["sections"]] == [
        "Summary", "Regional performance", "Products", "Channels and notable changes"]
    files = {f["name"]: base64.b64decode(f["content_base64"]) for f in report["files"]}
    pdf, docx = files["sales-report-2024-03.pdf"], files["sales-report-2024-03.docx"]
    assert pdf.startswith(b"%PDF")

    db = sqlite3.connect(Path(qwen_server.home) / "demo" / "demo.db")
    total = db.execute("SELECT sum(revenue) FROM sales WHERE month = '2024-03'").fetchone()[0]
    figure = f"{total / 1e6:.2f} million CNY"

    (tmp_path / "r.pdf").write_bytes(pdf)
    text = subprocess.run(["pdftotext", str(tmp_path / "r.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert figure in text
    subprocess.run(["pdftoppm", "-r", "20", "-png", str(tmp_path / "r.pdf"), str(tmp_path / "page")], check=True)
    assert len(list(tmp_path.glob("page*.png"))) >= 2

    document = html.unescape(zipfile.ZipFile(io.BytesIO(docx)).read("word/document.xml").decode())
    assert figure in document
    for section in report["sections"]:
        assert section["text"]
        assert section["text"][:40] in document
        # Numbers the checker could not find in the data are shown as such, never hidden.
        assert section["needs_review"] == bool(section["unsupported_numbers"])
        if section["needs_review"]:
            assert "Needs review" in text
    assert "prose" in report["timings_ms"] and "pdf" in report["timings_ms"]


def test_a_role_without_the_report_tool_is_refused(qwen_server):
    """The route is the report tool called directly: only its roles (admin in the demo) may."""
    auditor = {"Authorization": "Bearer demo-auditor-key"}
    for key in (AUTH, auditor):
        r = post_report(qwen_server, key, {"month": "2024-03", "formats": ["md"]}, timeout=60)
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "not_allowed"
    audit = httpx.get(f"{qwen_server.base_url}/v1/audit?limit=1000", headers=auditor, timeout=30).json()["data"]
    refused = {row["role"] for row in audit if row["kind"] == "decision" and row["data"]["decision"] == "deny"
               and row["data"]["tool"] == "generate_report"}
    assert refused == {"employee", "auditor"}, refused


def test_bad_report_requests_are_400(qwen_server):
    for body, param in [({"month": "2024-13"}, "month"), ({"month": "2024-03", "formats": ["xls"]}, "formats"),
                        ({"month": "2024-03", "colour": "red"}, None)]:
        r = post_report(qwen_server, ADMIN, body, timeout=60)
        assert r.status_code == 400, (body, r.text)
        if param:
            assert r.json()["error"]["param"] == param
