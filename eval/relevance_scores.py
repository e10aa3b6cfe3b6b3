#!/usr/bin/env python3
"""Scores, for stored BFCL answers, how much likelier the model finds each question after the
description of a function the answer called than alone, per token of the question (the
`call_relevance` reading), through a running server's `/v1/completions` (`echo`,
`logprobs`, `max_tokens: 0`). A screen of where the relevance check can act and what a floor
would do, not the check itself: it scores BFCL's own names and descriptions, where the server
sees them as served (dots as underscores, BFCL's Python hint appended), which moves scores
towards 0; and it stops at the first function above `--stop`, as the check stops at the first
above its floor.

    python eval/relevance_scores.py --server http://127.0.0.1:8080 docs/eval/bfcl-*.jsonl > scores.jsonl

Answer files are read in the order given, a later answer to an entry replacing an earlier one.
Writes one line per scored function: the entry, whether its stored answer was right, the
function and its score.
"""

import argparse
import concurrent.futures
import json
import pathlib
import urllib.request

BFCL = pathlib.Path(__file__).resolve().parent / "bfcl"
CATEGORIES = ["simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance"]
NO_FUNCTION = "A user's request:\n"


def under_description(function):
    return (f"The tool `{function['name']}`: {function.get('description', '')}\n"
            "A user's request that this tool serves:\n")


def likelihood(server, key, context, text):
    """The summed log-probability of `text`'s tokens after `context`, and their number."""
    body = json.dumps({"model": "any", "prompt": context + text, "max_tokens": 0, "echo": True,
                       "logprobs": 1}).encode()
    request = urllib.request.Request(
        server.rstrip("/") + "/v1/completions", body,
        {"content-type": "application/json", "Authorization": f"Bearer {key}"})
    logprobs = json.load(urllib.request.urlopen(request))["choices"][0]["logprobs"]
    total, tokens = 0.0, 0
    for offset, logprob in zip(logprobs["text_offset"], logprobs["token_logprobs"]):
        if offset >= len(context) and logprob is not None:
            total += logprob
            tokens += 1
    return total, tokens


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("answers", nargs="+")
    parser.add_argument("--server", default="http://127.0.0.1:8080")
    parser.add_argument("--api-key", default="demo-employee-key")
    parser.add_argument("--stop", type=float, default=0.15)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    entries = {}
    for category in CATEGORIES:
        for line in (BFCL / f"BFCL_v4_{category}.json").open():
            entry = json.loads(line)
            entries[entry["id"]] = entry
    answers = {}
    for path in args.answers:
        for line in open(path):
            answer = json.loads(line)
            answers[answer["id"]] = answer

    def function_of(entry, name):
        return next((f for f in entry["function"]
                     if name in (f["name"], f["name"].replace(".", "_"))), None)

    def score(entry_id):
        entry, answer = entries[entry_id], answers[entry_id]
        question = entry["question"][0][-1]["content"]
        functions = []
        for call in answer["output"]:
            function = function_of(entry, call["name"])
            if function is not None and function not in functions:
                functions.append(function)
        if not functions:
            return []
        alone, tokens = likelihood(args.server, args.api_key, NO_FUNCTION, question)
        rows = []
        for function in functions:
            under, _ = likelihood(args.server, args.api_key, under_description(function), question)
            value = (under - alone) / max(tokens, 1)
            rows.append({"id": entry_id, "correct": answer["correct"],
                         "function": function["name"], "score": round(value, 4)})
            if value >= args.stop:
                break
        return rows

    called = [i for i, a in answers.items()
              if i in entries and isinstance(a.get("output"), list) and a["output"]]
    with concurrent.futures.ThreadPoolExecutor(args.concurrency) as pool:
        for rows in pool.map(score, called):
            for row in rows:
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
