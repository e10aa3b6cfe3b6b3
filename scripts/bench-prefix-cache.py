#!/usr/bin/env python3
"""Prefix cache benchmark: the same `fulcrum serve` with `prefix_cache` off and on.

1. Time to first token of a request whose ~1,500-token system-plus-tools prefix an earlier
   request already used (warm), against the first request with that prefix (cold).
2. Wall time of an agent turn of the demo enterprise (several model steps, each re-sending the
   system prompt and the tools).
3. Time to first token of a conversation's second turn against its first: the second turn's
   prompt is the first's (system, tools, a long first message, the answer) plus a question, so
   with the cache only the new part is computed (KV reuse across turns).

Usage: .venv/bin/python scripts/bench-prefix-cache.py [--model GGUF] [--threads N]
"""
import argparse
import os
import re
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
import openai

ROOT = Path(__file__).resolve().parents[1]
BINARY = ROOT / "target" / "release" / "fulcrum"
EMPLOYEE = {"Authorization": "Bearer demo-employee-key"}


def start(model: str, threads: int, prefix_cache: bool):
    env = {
        **os.environ,
        "FULCRUM_HOME": tempfile.mkdtemp(prefix="fulcrum-bench-"),
        "FULCRUM_PREFIX_CACHE": "true" if prefix_cache else "false",
        "NO_COLOR": "1",
    }
    proc = subprocess.Popen(
        [str(BINARY), "serve", "--port", "0", "--model", model, "--model-id", "qwen",
         "--context-size", "8192", "--slots", "2", "--threads", str(threads)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
    )
    found = threading.Event()
    url = {}

    def read():
        for line in proc.stderr:
            match = re.search(r"listening on (http://[0-9.:]+)", line)
            if match and not found.is_set():
                url["base"] = match.group(1)
                found.set()

    threading.Thread(target=read, daemon=True).start()
    if not found.wait(60):
        proc.kill()
        raise SystemExit("the server did not start")
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            if httpx.get(url["base"] + "/readyz").status_code == 200:
                return proc, url["base"]
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server never became ready")


def tools():
    """Twelve tools with described parameters: about 1,500 tokens of prefix with the system prompt."""
    out = []
    for i in range(12):
        out.append({
            "type": "function",
            "function": {
                "name": f"lookup_record_{i}",
                "description": f"Looks up records of kind {i} in the company's registry by id, date range and owner, "
                               "returning status, amounts and the history of changes.",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "record_id": {"type": "integer", "description": "The record's numeric id."},
                        "from_date": {"type": "string", "description": "First day, YYYY-MM-DD."},
                        "to_date": {"type": "string", "description": "Last day, YYYY-MM-DD."},
                        "owner": {"type": "string", "description": "The owner's user name."},
                    },
                    "required": ["record_id"],
                },
            },
        })
    return out


SYSTEM = ("You are the assistant of a company's operations team. Answer from the tools' results, "
          "cite record ids, and say when you do not know. ") * 8


def ttft(client, question: str) -> float:
    """Time to the first token: a whole request for one token (the stream's first chunk, the
    role, is sent before any computation, so it would not measure the prompt)."""
    start_time = time.perf_counter()
    client.chat.completions.create(
        model="qwen", max_tokens=1, temperature=0, tools=tools(),
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}],
    )
    return time.perf_counter() - start_time


EMAIL = ("Customer email: my order arrived with a cracked screen and a missing charger; I bought it "
         "in the Hangzhou store during the spring campaign and paid with a credit card. ") * 12


def conversation(client, index: int):
    """TTFT of turn 1 (a new conversation: its own opening, so nothing is cached) and of turn 2."""
    system = f"Conversation {index}. " + SYSTEM
    first = [{"role": "system", "content": system}, {"role": "user", "content": EMAIL + "What should I do?"}]

    def timed(messages):
        start_time = time.perf_counter()
        reply = client.chat.completions.create(
            model="qwen", max_tokens=1, temperature=0, tools=tools(), messages=messages)
        return time.perf_counter() - start_time, reply.usage.prompt_tokens

    turn_1, tokens_1 = timed(first)
    second = first + [
        {"role": "assistant", "content": "Please send a photo of the screen and your order number."},
        {"role": "user", "content": "The order number is 12345. Is the charger covered too?"},
    ]
    turn_2, tokens_2 = timed(second)
    return turn_1, turn_2, tokens_1, tokens_2


def agent_turn(base: str) -> float:
    session = httpx.post(base + "/v1/agent/sessions", headers=EMPLOYEE).json()["id"]
    start_time = time.perf_counter()
    r = httpx.post(f"{base}/v1/agent/sessions/{session}/messages", headers=EMPLOYEE,
                   json={"content": "Which meeting rooms in the Hangzhou office have a projector?"}, timeout=600)
    r.raise_for_status()
    return time.perf_counter() - start_time


def main():
    parser = argparse.ArgumentParser()
    default = Path.home() / ".cache/fulcrum/models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    parser.add_argument("--model", default=str(default))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    results = {}
    for prefix_cache in (False, True):
        proc, base = start(args.model, args.threads, prefix_cache)
        try:
            client = openai.OpenAI(base_url=base + "/v1", api_key="demo-employee-key", max_retries=0)
            prompt_tokens = client.chat.completions.create(
                model="qwen", max_tokens=1, tools=tools(),
                messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Hello"}],
            ).usage.prompt_tokens
            # The first request with the prefix (above) was cold in both settings.
            warm = [ttft(client, f"What is the status of record {100 + i}?") for i in range(args.repeats)]
            turns = [agent_turn(base) for _ in range(args.repeats)]
            conversations = [conversation(client, i) for i in range(args.repeats)]
            results[prefix_cache] = (prompt_tokens, warm, turns, conversations)
        finally:
            proc.terminate()
            proc.wait(30)
    off, on = results[False], results[True]
    print(f"prefix: {on[0]} prompt tokens (system + 12 tools + question); {args.repeats} repeats; "
          f"{args.threads} threads\n")
    print("| measure | prefix_cache off | prefix_cache on | off / on |")
    print("| --- | --- | --- | --- |")
    ttft_off, ttft_on = statistics.median(off[1]), statistics.median(on[1])
    print(f"| TTFT, prefix already used (median) | {ttft_off * 1000:.0f} ms | {ttft_on * 1000:.0f} ms | "
          f"{ttft_off / ttft_on:.1f}× |")
    turn_off, turn_on = statistics.median(off[2]), statistics.median(on[2])
    print(f"| agent turn, demo room query (median) | {turn_off:.2f} s | {turn_on:.2f} s | {turn_off / turn_on:.2f}× |")
    tokens = on[3][0][2:]
    for label, column in (("first turn", 0), ("second turn", 1)):
        a = statistics.median(c[column] for c in off[3])
        b = statistics.median(c[column] for c in on[3])
        print(f"| TTFT, conversation's {label} ({tokens[column]} prompt tokens, median) | {a * 1000:.0f} ms | "
              f"{b * 1000:.0f} ms | {a / b:.1f}× |")
    second_over_first = statistics.median(c[1] / c[0] for c in on[3])
    print(f"\nWith the cache, a second turn's TTFT is {second_over_first:.2f}× its first turn's.")


if __name__ == "__main__":
    main()
