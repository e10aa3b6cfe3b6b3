"""Knowledge collections over HTTP, as the console's administrator uses them: a document
uploaded into a collection limited to a role, found again by meaning, refused to other roles."""
import base64

import httpx

ADMIN = {"Authorization": "Bearer demo-admin-key"}
EMPLOYEE = {"Authorization": "Bearer demo-employee-key"}


HANDBOOK = """# Handbook
## Warranty
Every phone carries a two-year warranty against manufacturing defects.
## Shipping
Orders leave the Hangzhou warehouse within one working day.
"""


def test_an_administrator_uploads_a_document_and_finds_it_by_meaning(server):
    handbook = HANDBOOK.encode()
    body = {"filename": "handbook.md", "content_base64": base64.b64encode(handbook).decode(), "roles": ["employee"]}
    r = httpx.post(server.base_url + "/v1/knowledge/collections/e2e-handbook/documents", json=body, headers=ADMIN, timeout=60)
    assert r.status_code == 200, r.text
    added = r.json()
    assert added["outcome"] == "added" and added["embedded"] and added["chunks"] >= 1
    r = httpx.get(server.base_url + "/v1/knowledge/collections/e2e-handbook/search",
                  params={"query": "how long is the guarantee on a handset", "limit": 1}, headers=ADMIN)
    assert r.status_code == 200, r.text
    hit = r.json()["data"][0]
    assert hit["source"] == "handbook.md" and "two-year warranty" in hit["text"]
    assert "Warranty" in hit["heading"]
    listed = {c["name"]: c for c in httpx.get(server.base_url + "/v1/knowledge/collections", headers=ADMIN).json()["data"]}
    assert listed["e2e-handbook"]["roles"] == ["employee"] and listed["e2e-handbook"]["documents"] == 1
    r = httpx.get(server.base_url + "/v1/knowledge/collections", headers=EMPLOYEE)
    assert r.status_code == 403 and "knowledge_roles" in r.json()["error"]["message"]
