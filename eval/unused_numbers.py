#!/usr/bin/env python3
"""Lists the BFCL entries where `probe_unused_numbers` can act, from stored answers: the
answer's last call has a number argument and the question writes, in digits, a number no call
carries (in digits of a string the question writes either) within ten times that argument's
value (or its percentage's). A generous screen, not the rule itself: the rule also asks for the
same percent sign, scale word and unit, so it acts on fewer.

    python eval/unused_numbers.py docs/eval/bfcl-*.jsonl > ids.txt

Answer files are read in the order given, a later answer to an entry replacing an earlier one.
Prints one id per line, then a count per category on stderr.
"""

import json
import pathlib
import re
import sys

BFCL = pathlib.Path(__file__).resolve().parent / "bfcl"
CATEGORIES = ["simple_python", "multiple", "parallel", "parallel_multiple"]
NUMBER = re.compile(r"(?<![\w.^])\d[\d,]*(?:\.\d+)?")


def carried(calls, question):
    """The numbers the calls carry: as numbers, and as digits of a string the question
    writes (a date the call rewrites, "2022-05-03" for "May 3, 2022", carries none)."""
    numbers = []
    lower = question.lower()

    def walk(value):
        if isinstance(value, bool):
            return
        if isinstance(value, (int, float)):
            numbers.append(float(value))
        elif isinstance(value, str) and value.lower() in lower:
            numbers.extend(float(d) for d in re.findall(r"\d+(?:\.\d+)?", value))
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    for call in calls:
        walk(json.loads(call["arguments"]))
    return numbers


def can_act(question, calls):
    used = carried(calls, question)
    written = [float(n.replace(",", "")) for n in NUMBER.findall(question)]
    unused = [w for w in written
              if not any(abs(u - w) < 1e-6 * max(1, w) or abs(u - w / 100) < 1e-9 for u in used)]
    last = json.loads(calls[-1]["arguments"])
    values = [v for v in last.values() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    near = lambda a, b: a != 0 and b != 0 and 0.1 <= abs(a / b) <= 10
    return any(near(u, v) or near(u / 100, v) for u in unused for v in values)


def main():
    answers = {}
    for path in sys.argv[1:]:
        for line in open(path):
            answer = json.loads(line)
            answers[answer["id"]] = answer
    for category in CATEGORIES:
        found = 0
        for line in (BFCL / f"BFCL_v4_{category}.json").open():
            entry = json.loads(line)
            calls = answers.get(entry["id"], {}).get("output")
            if not isinstance(calls, list) or not calls:
                continue
            question = " | ".join(m["content"] for turn in entry["question"] for m in turn)
            if can_act(question, calls):
                print(entry["id"])
                found += 1
        print(f"{category}: {found}", file=sys.stderr)


if __name__ == "__main__":
    main()
