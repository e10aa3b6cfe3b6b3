#!/usr/bin/env python3
"""Generates the product-catalogue retrieval set: 50 look-alike product sheets (same sections,
different figures, each product named by an SKU) and 100 questions that name a product by its
SKU and ask about one of its attributes in other words than the sheet's. The situation
catalogues, spare-parts lists and contract registers put search in: the identifier decides
which document, the meaning decides which section.

Deterministic (seeded); writes catalogue/*.md and catalogue-queries.jsonl beside this file.
Usage: python3 docs/eval/retrieval/generate-catalogue.py
"""
import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
rng = random.Random(7)
KINDS = ["smartphone", "tablet", "smartwatch", "laptop", "earbuds"]
COLOURS = ["graphite", "silver", "midnight blue", "sage green", "coral", "ivory", "sand"]

SECTIONS = {
    "Battery": lambda: f"The cell holds {rng.randint(30, 60) * 100} mAh and lasts about {rng.randint(10, 40)} hours of mixed use. A full recharge with the bundled adapter takes {rng.randint(40, 120)} minutes.",
    "Display": lambda: f"The panel measures {rng.randint(10, 70) / 10 + 1:.1f} inches with a resolution of {rng.choice(['1080 x 2400', '1200 x 2000', '454 x 454', '2560 x 1600'])} pixels and peaks at {rng.randint(5, 20) * 100} nits.",
    "Price": lambda: f"The list price is {rng.randint(3, 90) * 100 - 1} yuan; business customers ordering more than {rng.randint(5, 50)} units receive {rng.randint(3, 15)}% off.",
    "Warranty": lambda: f"Defects are covered for {rng.choice([12, 18, 24, 36])} months; the optional CarePlus plan extends cover by {rng.choice([12, 24])} months for {rng.randint(9, 40) * 10} yuan.",
    "Weight and size": lambda: f"The device weighs {rng.randint(30, 1800)} grams and is {rng.randint(5, 19)} millimetres thick.",
    "Colours": lambda: f"It ships in {rng.choice(COLOURS)}, {rng.choice(COLOURS)} and {rng.choice(COLOURS)}; engraving is offered on the back cover.",
}

QUESTIONS = {
    "Battery": ["How long does the {sku} keep going before it needs a charge?",
                "How many hours of use do I get from the {sku} on one charge?"],
    "Display": ["How big and how bright is the screen of the {sku}?",
                "What screen resolution does the {sku} have?"],
    "Price": ["How much does the {sku} cost, and is there a discount for companies?",
              "What would a bulk order of {sku} units cost us?"],
    "Warranty": ["If the {sku} breaks after a year, is it still covered?",
                 "Can I extend the guarantee on the {sku}?"],
    "Weight and size": ["Is the {sku} heavy to carry around?",
                        "How thin is the {sku}?"],
    "Colours": ["What finishes can I choose for the {sku}?",
                "Can I get the {sku} in another colour?"],
}


def main():
    out = HERE / "catalogue"
    out.mkdir(exist_ok=True)
    products = []
    used = set()
    while len(products) < 50:
        sku = f"NW-{rng.randint(1000, 9999)}"
        if sku in used:
            continue
        used.add(sku)
        kind = rng.choice(KINDS)
        products.append((sku, kind))
        lines = [f"# Northwind product sheet {sku} ({kind} family)\n"]
        for section, text in SECTIONS.items():
            lines.append(f"## {section}\n\n{text()}\n")
        (out / f"{sku.lower()}.md").write_text("\n".join(lines))
    with open(HERE / "catalogue-queries.jsonl", "w") as queries:
        for index, (sku, _) in enumerate(products):
            # Two questions per product, on two different attributes.
            for section in rng.sample(list(QUESTIONS), 2):
                question = rng.choice(QUESTIONS[section]).format(sku=sku)
                queries.write(json.dumps({"query": question, "source": f"{sku.lower()}.md", "section": section}) + "\n")


if __name__ == "__main__":
    main()
