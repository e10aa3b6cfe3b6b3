"""Layered context with the default model over HTTP: a ~28K-token report ingested into the
knowledge database; the agent, with a 32K context, answers a question only the report's middle
answers (the passage layer brings that page into the prompt); the turn reports its layers."""
import os
import random
import subprocess

import httpx

from conftest import BINARY, Server, default_model, link_embedding_model

FINANCE = {"Authorization": "Bearer demo-finance-key"}
AUDITOR = {"Authorization": "Bearer demo-auditor-key"}

CITIES = [
    "Harbin", "Shenyang", "Dalian", "Tianjin", "Jinan", "Qingdao", "Zhengzhou", "Taiyuan",
    "Xi'an", "Hefei", "Nanjing", "Suzhou", "Wuxi", "Ningbo", "Fuzhou", "Xiamen", "Nanchang",
    "Changsha", "Wuhan", "Guiyang", "Kunming", "Nanning", "Haikou", "Shantou", "Foshan",
    "Dongguan", "Zhuhai", "Wenzhou", "Yantai", "Baotou", "Hohhot", "Yinchuan", "Xining",
    "Urumqi", "Lhasa", "Chongqing", "Chengdu", "Mianyang", "Luoyang", "Tangshan",
]
TOPICS = [
    ("Revenue", "Revenue reached {a}.{b} million yuan, {c}% above the previous year, driven by {d}."),
    ("Headcount", "The team grew to {a} employees; staff turnover was {c}% and {b} managers were promoted."),
    ("Inventory", "Inventory covered {a} days of sales at year end; {b} slow-moving items were written down by {c}%."),
    ("Stores", "The subsidiary ran {a} stores and opened {b} new ones; like-for-like sales rose {c}%."),
    ("Online", "Online orders made up {c}% of sales; the mini-program brought {a} thousand new members and {b} live-streams ran."),
    ("Service", "The service counters handled {a} thousand repairs, {c}% of them under warranty, with a median wait of {b} days."),
]
DRIVERS = ["the X200 launch", "trade-in campaigns", "corporate accounts", "the Double 11 festival",
           "new mall stores", "carrier bundles", "accessory sales", "the A50 price cut"]
NEEDLE_SECTION = "## Lanzhou subsidiary: liquidity\n\nThe current ratio of the Lanzhou subsidiary was 2.37 at the end of 2023, up from 1.84 a year earlier, after a short-term bank loan was repaid early.\n"
QUESTION = "What was the current ratio of the Lanzhou subsidiary at the end of 2023?"


def report() -> str:
    """A generated annual review of 40 subsidiaries; the needle sits in its middle."""
    rng = random.Random(2024)
    sections = []
    for round_ in range(8):
        for city in CITIES:
            topic, sentence = TOPICS[(CITIES.index(city) + round_) % len(TOPICS)]
            lines = [
                sentence.format(a=rng.randint(10, 900), b=rng.randint(1, 99), c=rng.randint(1, 40),
                                d=rng.choice(DRIVERS))
                for _ in range(3)
            ]
            sections.append(f"## {city} subsidiary: {topic.lower()} ({2019 + round_} review)\n\n" + " ".join(lines) + "\n")
    # 294 of the 320 sections make ~28K tokens (28,037 by the default model's tokenizer).
    sections = sections[:294]
    sections.insert(len(sections) // 2, NEEDLE_SECTION)
    return "# Annual review of the subsidiaries\n\n" + "\n".join(sections)


def test_the_agent_answers_from_the_middle_of_a_28k_token_report(tmp_path):
    home = str(tmp_path)
    link_embedding_model(home)
    document = tmp_path / "annual-review.md"
    text = report()
    # 28,037 tokens of the default model's tokenizer (llama-server /tokenize).
    assert 95_000 < len(text) < 125_000, len(text)
    document.write_text(text)
    env = {**os.environ, "FULCRUM_HOME": home}
    ingest = subprocess.run(
        [str(BINARY), "ingest", str(document), "--collection", "finance-docs"],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert ingest.returncode == 0, ingest.stderr
    srv = Server(
        ["--model", default_model(), "--model-id", "qwen", "--context-size", "32768", "--slots", "1"],
        env={"FULCRUM_CONTEXT_COLLECTIONS": '["finance-docs"]'},
        home=home,
    )
    try:
        r = httpx.post(srv.base_url + "/v1/agent/sessions", headers=FINANCE)
        assert r.status_code == 201, r.text
        session = r.json()["id"]
        r = httpx.post(
            f"{srv.base_url}/v1/agent/sessions/{session}/messages",
            headers=FINANCE, json={"content": QUESTION}, timeout=600,
        )
        assert r.status_code == 200, r.text
        turn = r.json()
        assert "2.37" in turn["answer"], turn
        layers = turn["context"]
        assert layers["passages_used"] >= 1 and layers["passages"] > 0, layers
        assert layers["total"] <= layers["budget"] <= 20_000, layers
        rows = httpx.get(srv.base_url + "/v1/audit?limit=1000", headers=AUDITOR).json()["data"]
        retrieved = [r["data"] for r in rows if r["kind"] == "retrieval"]
        assert any("2.37" in p["text"] for p in retrieved[0]["passages"]), retrieved
    finally:
        srv.stop()
