#!/usr/bin/env python3
"""Writes the long-document summary set of `fulcrum eval summaries`: five generated annual
reports of 20-30K tokens (Markdown, `reports/*.md`) and, in `reports.jsonl`, what a good
summary of each must carry — the planted items — with the automatic grade's inputs:

- 4 headline indicators (revenue, net profit, operating cash flow, gross margin or another
  line) with their trends, stated once in the "Financial highlights" section;
- 2-3 risks, one of them a single sentence in a subsidiary's section deep in the middle of
  the report (e.g. one subsidiary's receivable turnover down 17% year on year), the others in
  later sections;
- the entities (the group and its subsidiaries' cities), so that a number said of the wrong
  one can be told.

Everything else is routine subsidiary reporting: many numbers, none of them a headline.

    python3 eval/summaries/generate.py            # the committed set
    python3 eval/summaries/generate.py --short --out DIR   # one ~2K-token report (tests)

The output depends only on the seeds below, so the committed files are what this writes."""
import argparse
import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent

CITIES = [
    "Harbin", "Shenyang", "Dalian", "Tianjin", "Jinan", "Qingdao", "Zhengzhou", "Taiyuan",
    "Xi'an", "Hefei", "Nanjing", "Suzhou", "Wuxi", "Ningbo", "Fuzhou", "Xiamen", "Nanchang",
    "Changsha", "Wuhan", "Guiyang", "Kunming", "Nanning", "Haikou", "Shantou", "Foshan",
    "Dongguan", "Zhuhai", "Wenzhou", "Yantai", "Baotou", "Hohhot", "Yinchuan", "Xining",
    "Urumqi", "Lhasa", "Chongqing", "Chengdu", "Mianyang", "Luoyang", "Tangshan", "Lanzhou",
]

COMPANIES = [
    # name, industry noun, what it sells, the driver words of its filler
    ("Huaxin Electronics", "consumer electronics retailer", "phones and home appliances",
     ["the X200 launch", "trade-in campaigns", "corporate accounts", "the Double 11 festival"]),
    ("Jinhe Foods", "food and beverage group", "dairy drinks and snacks",
     ["the new yoghurt line", "school contracts", "convenience-store listings", "the Spring Festival season"]),
    ("Tongda Logistics", "logistics company", "freight and warehousing",
     ["cross-border parcels", "cold-chain contracts", "the new Wuhan hub", "e-commerce peak seasons"]),
    ("Kangyuan Pharma Distribution", "pharmaceutical distributor", "medicines and medical devices",
     ["hospital tenders", "retail pharmacy chains", "vaccine cold chain", "online prescriptions"]),
    ("Beishan Building Materials", "building-materials maker", "cement, glass and insulation",
     ["rural housing programmes", "infrastructure projects", "the energy-saving glass line", "export orders"]),
]

TOPICS = [
    ("sales", ["Revenue reached {a}.{b} million yuan, {c}% above the previous year, driven by {d}.",
               "Average order value was {b}{a} yuan and repeat customers made up {c}% of buyers.",
               "The subsidiary's {b} largest accounts bought {c}% more than a year earlier."]),
    ("people", ["The team grew to {a} employees; {b} managers were promoted.",
                "Staff turnover was {c}%, and {b} graduates joined in the summer intake.",
                "Overtime hours per employee came to {a} for the year."]),
    ("inventory", ["Inventory covered {a} days of sales at year end.",
                   "{b} slow-moving items were written down by {c}%.",
                   "Stock counts at {b} sites matched the books within {c} per thousand."]),
    ("outlets", ["The subsidiary ran {a} outlets and opened {b} new ones.",
                 "Like-for-like sales rose {c}% with {d} as the main driver.",
                 "Rents were renegotiated at {b} sites, saving {a} thousand yuan."]),
    ("online", ["Online orders made up {c}% of sales.",
                "The mini-program brought {a} thousand new members and {b} live-streams ran.",
                "Returns of online orders were {c} in every thousand."]),
    ("service", ["Service desks handled {a} thousand requests.",
                 "{c}% of requests were covered by contract, with a median wait of {b} hours.",
                 "Customers rated the service {c} out of 50 on average."]),
    ("training", ["Staff completed {a} training courses, {b} of them on safety.",
                  "Customer satisfaction scored {c} out of 50.",
                  "{b} employees passed the group's sales certification."]),
    ("facilities", ["Energy use fell {c}% after {b} sites were refitted.",
                    "The subsidiary now leases {a} thousand square metres.",
                    "Maintenance spending came to {a}.{b} million yuan."]),
]

CLOSING = [
    "The local management team reviewed these results with the regional board in {month}.",
    "Figures are unaudited at subsidiary level and reconcile to the group accounts.",
    "The subsidiary's plan for next year was approved with {b} targets.",
    "An internal audit visited in {month} and raised {small} minor findings, all since closed.",
    "The subsidiary donated {a} thousand yuan to local schools.",
    "Customer complaints were answered within {small} working days.",
]
MONTHS = ["March", "April", "June", "September", "October", "November"]

LETTER = [
    "Dear shareholders, {year} tested every part of our business, and the group came through it with a stronger balance sheet in most places and clearer priorities everywhere.",
    "Our customers asked for faster service and more choice; we answered with {driver} and with a simpler organisation.",
    "We kept investing in our people and systems while holding costs in check, and we stayed close to the cities where we have worked for many years.",
    "The pages that follow report each subsidiary's year in its own words, as our governance requires.",
]


def money(value):
    return f"{value:.1f}"


def headline(rng, company, year):
    """Four headline indicators with their trends; the text of the highlights section and the
    planted items."""
    revenue = round(rng.uniform(18, 95), 1)
    revenue_change = round(rng.choice([-1, 1, 1]) * rng.uniform(4, 19), 1)
    profit = round(revenue * rng.uniform(0.04, 0.11), 1)
    profit_change = round(rng.choice([-1, 1]) * rng.uniform(5, 24), 1)
    cash = round(revenue * rng.uniform(0.05, 0.14), 1)
    cash_change = round(rng.choice([-1, 1]) * rng.uniform(6, 30), 1)
    margin = round(rng.uniform(14, 36), 1)
    margin_change = round(rng.choice([-1, 1]) * rng.uniform(0.6, 3.4), 1)

    def way(change, up="rose", down="fell"):
        return up if change > 0 else down

    text = (
        f"In {year} the group's revenue {way(revenue_change)} {abs(revenue_change)}% year on year to "
        f"{money(revenue)} billion yuan. Net profit attributable to shareholders {way(profit_change)} "
        f"{abs(profit_change)}% to {money(profit)} billion yuan. Operating cash flow "
        f"{way(cash_change)} {abs(cash_change)}% to {money(cash)} billion yuan. The gross margin was "
        f"{margin}%, {abs(margin_change)} percentage points {'higher' if margin_change > 0 else 'lower'} "
        f"than a year earlier."
    )
    items = [
        item("revenue", "indicator", "Revenue", [revenue, abs(revenue_change)], ["revenue", "sales"], company, revenue_change),
        item("net-profit", "indicator", "Net profit", [profit, abs(profit_change)], ["profit", "earnings"], company, profit_change),
        item("operating-cash-flow", "indicator", "Operating cash flow", [cash, abs(cash_change)], ["cash flow", "cash"], company, cash_change),
        item("gross-margin", "indicator", "Gross margin", [margin, abs(margin_change)], ["margin"], company, margin_change),
    ]
    return text, items


def item(id_, kind, label, numbers, keywords, entity, change, deep=False):
    return {
        "id": id_, "kind": kind, "label": label, "numbers": numbers, "keywords": keywords,
        "entity": entity, "direction": "up" if change > 0 else "down", "deep": deep,
    }


def filler(rng, company, city, topic):
    _, sentences = topic
    numbers = lambda: dict(a=rng.randint(10, 900), b=rng.randint(1, 99), c=rng.randint(1, 40),
                           d=rng.choice(company[3]), month=rng.choice(MONTHS), small=rng.randint(2, 9))
    lines = [sentence.format(**numbers()) for sentence in sentences]
    lines.append(rng.choice(CLOSING).format(**numbers()))
    return " ".join(lines)


def report(index, short=False):
    rng = random.Random(7000 + index)
    company = COMPANIES[index % len(COMPANIES)]
    name, industry, goods, drivers = company
    year = 2023 + index % 2
    highlights, items = headline(rng, name, year)

    # Routine subsidiary sections, (city, topic) pairs in a shuffled order.
    cities = CITIES[:]
    rng.shuffle(cities)
    deep_city, other_city = cities[0], cities[1]
    pairs = [(c, t) for c in cities for t in TOPICS]
    rng.shuffle(pairs)
    target_chars = 3_000 if short else rng.randint(84_000, 110_000)

    sections = []
    size = 0
    for city, topic in pairs:
        body = filler(rng, company, city, topic)
        sections.append((f"{city} subsidiary: {topic[0]}", body))
        size += len(body) + 40
        if size >= target_chars:
            break

    # The deep risk: one sentence inside a routine-looking section in the middle.
    drop = round(rng.uniform(12, 26))
    turnover = round(rng.uniform(3.1, 6.8), 1)
    days = rng.randint(60, 140)
    deep_sentence = (
        f"Accounts receivable turnover at the {deep_city} subsidiary fell {drop}% year on year, to "
        f"{turnover} times, as distributors were given longer payment terms; receivables now take "
        f"{days} days to collect."
    )
    middle = len(sections) // 2
    deep_body = " ".join([
        filler(rng, company, deep_city, TOPICS[1]).split(".")[0] + ".",
        deep_sentence,
        f"The subsidiary's {rng.randint(3, 30)} largest distributors were reviewed during the year.",
    ])
    sections.insert(middle, (f"{deep_city} subsidiary: working capital", deep_body))
    items.append(item("receivable-turnover", "risk", f"{deep_city} receivable turnover",
                      [drop, turnover, days], ["receivable"], deep_city, -drop, deep=True))

    # A later risk: borrowing, in a financing section three quarters in.
    debt = round(rng.uniform(1.5, 3.8), 1)
    debt_before = round(debt - rng.uniform(0.5, 1.2), 1)
    borrowing = rng.randint(18, 64)
    financing = (
        f"Net debt rose to {debt} times EBITDA at year end from {debt_before} a year earlier, as "
        f"short-term borrowings increased {borrowing}% to fund new warehouses. The group's bank "
        f"covenants cap net debt at 4.0 times EBITDA. Interest is paid from operating cash."
    )
    sections.insert(len(sections) * 3 // 4, ("Financing and liquidity", financing))
    items.append(item("net-debt", "risk", "Net debt / borrowing", [debt, borrowing], ["debt", "borrowing"],
                      name, 1))

    # A third risk in some reports: one customer's weight, a quarter in.
    if index % 2 == 0:
        share = rng.randint(28, 41)
        share_before = share - rng.randint(8, 15)
        concentration = (
            f"Customer concentration increased: the largest customer, a national chain, accounted "
            f"for {share}% of revenue, up from {share_before}% a year earlier, and its contract "
            f"comes up for renewal next year. {other_city} handles most of its orders."
        )
        sections.insert(len(sections) // 4, ("Customers and markets", concentration))
        items.append(item("customer-concentration", "risk", "Largest customer's share", [share],
                          ["customer"], name, 1))

    letter = " ".join(s.format(year=year, driver=rng.choice(drivers)) for s in LETTER)
    parts = [
        f"# {name} Group: annual report {year}",
        f"{name} is a {industry} selling {goods} through {len(cities)} subsidiaries across China.",
        "## Financial highlights", highlights,
        "## Letter to shareholders", letter,
    ]
    for title, body in sections:
        parts += [f"## {title}", body]
    parts += [
        "## Outlook",
        f"In {year + 1} the group will keep its dividend policy, open fewer new outlets and "
        f"focus on {rng.choice(drivers)}.",
    ]
    text = "\n\n".join(parts) + "\n"
    slug = f"{'short-' if short else ''}{name.split()[0].lower()}-{year}"
    meta = {
        "id": slug,
        "file": f"reports/{slug}.md",
        "title": f"{name} Group: annual report {year}",
        "entities": [name] + cities,
        "items": items,
    }
    return slug, text, meta


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder for reports/ and reports.jsonl")
    parser.add_argument("--short", action="store_true", help="one short report (for tests)")
    args = parser.parse_args()
    folder = args.out / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    metas = []
    for index in ([0] if args.short else range(5)):
        slug, text, meta = report(index, short=args.short)
        (folder / f"{slug}.md").write_text(text)
        metas.append(meta)
    with open(args.out / "reports.jsonl", "w") as f:
        for meta in metas:
            f.write(json.dumps(meta, ensure_ascii=False) + "\n")
    for meta in metas:
        size = (folder / f"{meta['id']}.md").stat().st_size
        print(f"{meta['file']}: {size} bytes, {len(meta['items'])} planted items")


if __name__ == "__main__":
    main()
