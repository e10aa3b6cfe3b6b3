#!/usr/bin/env python3
"""Asks BFCL entries in several wordings of the same request through a running server's
OpenAI-compatible API, to see how an answer holds up to changes that should not matter (a
trailing space, a lower-case first letter, "Please tell me:" before it).

    python eval/wordings.py --server http://127.0.0.1:8080 --ids parallel_92,parallel_135

Prints one line per answer: the entry, the wording, the seconds it took, the completion tokens,
the calls (name and arguments) and the start of any text. `temperature` is 0 and no
`max_tokens` is sent, as LangChain and the Agents SDK send none.
"""

import argparse
import json
import pathlib
import sys
import time

import openai

BFCL = pathlib.Path(__file__).resolve().parent / "bfcl"
CATEGORIES = ["simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance"]


def wordings(question: str) -> dict:
    return {
        "as written": question,
        "trailing space": question + " ",
        "trailing newline": question + "\n",
        "lower-case start": question[:1].lower() + question[1:],
        "please first": "Please tell me: " + question,
    }


# BFCL writes Python's type names where JSON Schema has its own.
TYPES = {"dict": "object", "float": "number", "tuple": "array"}


def as_openai_schema(schema):
    """BFCL's schema as JSON Schema (`dict` is `object`, `float` is `number`…)."""
    if isinstance(schema, dict):
        return {key: (TYPES.get(value, value) if key == "type" and isinstance(value, str)
                      else as_openai_schema(value))
                for key, value in schema.items()}
    if isinstance(schema, list):
        return [as_openai_schema(item) for item in schema]
    return schema


def entries(ids):
    wanted = set(ids)
    found = {}
    for category in CATEGORIES:
        for line in (BFCL / f"BFCL_v4_{category}.json").open():
            entry = json.loads(line)
            if entry["id"] in wanted:
                found[entry["id"]] = entry
    missing = wanted - found.keys()
    if missing:
        sys.exit(f"not in {BFCL}: {', '.join(sorted(missing))}")
    return [found[i] for i in ids]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", required=True, help="e.g. http://127.0.0.1:8080")
    parser.add_argument("--api-key", default="demo-employee-key")
    parser.add_argument("--model", default="default")
    parser.add_argument("--ids", required=True, help="BFCL entry ids, comma-separated")
    args = parser.parse_args()
    client = openai.OpenAI(base_url=args.server.rstrip("/") + "/v1", api_key=args.api_key,
                           max_retries=0, timeout=1800)
    for entry in entries(args.ids.split(",")):
        tools = [{"type": "function", "function": {
            "name": function["name"].replace(".", "_"),
            "description": function.get("description", ""),
            "parameters": as_openai_schema(function["parameters"]),
        }} for function in entry["function"]]
        question = entry["question"][0][-1]["content"]
        for wording, text in wordings(question).items():
            start = time.time()
            response = client.chat.completions.create(
                model=args.model, tools=tools, temperature=0,
                messages=[{"role": "user", "content": text}])
            message = response.choices[0].message
            calls = [(call.function.name, json.loads(call.function.arguments))
                     for call in message.tool_calls or []]
            print(f"{entry['id']}\t{wording}\t{time.time() - start:.1f}s\t"
                  f"{response.usage.completion_tokens} tokens\t{json.dumps(calls)}\t"
                  f"{(message.content or '')[:80]!r}", flush=True)


if __name__ == "__main__":
    main()
