#!/usr/bin/env python3
"""Writes the ticket set (tickets.jsonl) of `fulcrum eval tickets`: customer and employee
questions over the demo enterprise, in English and Chinese, each with its automatic grade —
the values the answer must hold (read from the demo database or the handbook here), the tools
that must or must not be called, and whether a refusal is expected.

    python3 eval/tickets/generate.py --db "$FULCRUM_HOME/demo/demo.db"

`fulcrum serve` (or `fulcrum eval tickets`) installs the demo database on first use; its
contents are fixed, so the file this writes is the same on every machine."""
import argparse
import json
import sqlite3
from pathlib import Path

HERE = Path(__file__).resolve().parent

STATUS = {
    "paid": ["paid", "已付款", "已支付", "待发货", "付款"],
    "shipped": ["shipped", "已发货", "发货", "运输"],
    "delivered": ["delivered", "已送达", "已签收", "送达", "签收", "已交付"],
}
ROOMS_ZH = {"West Lake": "西湖", "Qiantang": "钱塘", "Lingyin": "灵隐", "Xixi": "西溪", "Bund": "外滩", "Pudong": "浦东"}
REGIONS_ZH = {"East China": "华东", "North China": "华北", "South China": "华南", "Southwest": "西南", "Central China": "华中"}
DATA_TOOLS = ["search_product", "query_order", "query_meeting_room", "book_room", "query_sales_data"]
ONE_YEAR = ["one year", "one-year", "1 year", "1-year", "12 months", "一年", "1年", "一 年"]
TWO_YEARS = ["two year", "two-year", "2 year", "2-year", "24 months", "两年", "2年", "二年"]
FREE = ["free", "no shipping", "免费", "免运费", "包邮", "不收"]


def number(value, tolerance=0.0):
    return {"number": value, "tolerance": tolerance}


def ticket(tickets, kind, language, question, values=(), tools=(), forbidden=(), refusal=False):
    tickets.append({
        "id": f"{kind}-{len([t for t in tickets if t['kind'] == kind]) + 1:03d}-{language}",
        "kind": kind,
        "language": language,
        "user": "li.employee",
        "question": question,
        "expect": {
            "values": [list(group) if isinstance(group, (list, tuple)) else [group] for group in values],
            "tools": list(tools),
            "forbidden_tools": list(forbidden),
            "refusal": refusal,
        },
    })


def live(db, tickets):
    for order_id, status, amount in db.execute("SELECT id, status, amount FROM orders ORDER BY id"):
        for language, question in [
            ("en", f"What is the status of order {order_id}?"),
            ("en", f"Hi, can you check on my order {order_id}? Has it shipped yet?"),
            ("zh", f"订单 {order_id} 现在是什么状态？"),
            ("zh", f"帮我查一下 {order_id} 号订单，发货了吗？"),
        ]:
            ticket(tickets, "live", language, question, [STATUS[status]], tools=["query_order"])
        ticket(tickets, "live", "en", f"How much was order {order_id}?", [[number(amount)]], tools=["query_order"])
        ticket(tickets, "live", "zh", f"订单 {order_id} 的金额是多少？", [[number(amount)]], tools=["query_order"])
    for name, price, stock in db.execute("SELECT name, price, stock FROM products ORDER BY id"):
        ticket(tickets, "live", "en", f"How much does the {name} cost?", [[number(price)]], tools=["search_product"])
        ticket(tickets, "live", "zh", f"{name} 多少钱？", [[number(price)]], tools=["search_product"])
        ticket(tickets, "live", "en", f"How many {name} do we have in stock?", [[number(stock)]], tools=["search_product"])
        ticket(tickets, "live", "zh", f"{name} 还有多少库存？", [[number(stock)]], tools=["search_product"])

    def rooms(where, *args):
        return [[name, ROOMS_ZH[name]] for (name,) in db.execute(f"SELECT name FROM meeting_rooms WHERE {where} ORDER BY id", args)]

    projector = rooms("office = 'Hangzhou' AND features LIKE '%projector%'")
    large = rooms("office = 'Shanghai' AND capacity >= 20")
    screens = rooms("office = 'Hangzhou' AND features LIKE '%TV screen%'")
    booked = db.execute(
        "SELECT b.start_time, b.end_time FROM bookings b JOIN meeting_rooms r ON r.id = b.room_id "
        "WHERE r.name = 'West Lake' AND b.date = '2024-03-15'").fetchone()
    for language, question, values in [
        ("en", "Which meeting rooms in the Hangzhou office have a projector?", projector),
        ("zh", "杭州办公室有哪些带投影仪的会议室？", projector),
        ("en", "Which rooms in the Shanghai office can hold at least 20 people?", large),
        ("zh", "上海办公室哪些会议室能容纳 20 人以上？", large),
        ("en", "Which Hangzhou meeting rooms have a TV screen?", screens),
        ("zh", "杭州有哪些会议室配有电视屏幕？", screens),
        ("en", "Is the West Lake room in Hangzhou booked on 2024-03-15? When?", [[booked[0]]]),
        ("zh", "杭州的西湖会议室 2024-03-15 有人预订吗？是什么时间？", [[booked[0]]]),
    ]:
        ticket(tickets, "live", language, question, values, tools=["query_meeting_room"])

    def revenue(month, region=None):
        if region:
            (total,) = db.execute("SELECT SUM(revenue) FROM sales WHERE month = ? AND region = ?", (month, region)).fetchone()
        else:
            (total,) = db.execute("SELECT SUM(revenue) FROM sales WHERE month = ?", (month,)).fetchone()
        return [[number(round(total, 2), 0.01)]]

    for region, month in [("East China", "2024-03"), ("South China", "2024-06"), ("Southwest", "2023-11")]:
        year, mm = month.split("-")
        ticket(tickets, "live", "en", f"What was the revenue in {region} in {month}?", revenue(month, region), tools=["query_sales_data"])
        ticket(tickets, "live", "zh", f"{year}年{int(mm)}月{REGIONS_ZH[region]}地区的销售额是多少？", revenue(month, region), tools=["query_sales_data"])
    for month in ["2024-03", "2024-11"]:
        year, mm = month.split("-")
        ticket(tickets, "live", "en", f"What was our total revenue in {month}?", revenue(month), tools=["query_sales_data"])
        ticket(tickets, "live", "zh", f"{year}年{int(mm)}月的总销售额是多少？", revenue(month), tools=["query_sales_data"])


# (English questions, Chinese questions, values) — the values are the handbook's (handbook.md).
HANDBOOK_FACTS = [
    (["How many days does a customer have to return an unopened product?",
      "A customer wants to send back a product they never opened. What is the deadline?"],
     ["未拆封的商品签收后多少天内可以退货？", "客户想退一件没拆封的商品，期限是多久？"], [[number(15)]]),
    (["Until when can an opened product be returned?",
      "A customer opened the box but the product is fine. Can they still return it, and within how many days?"],
     ["已拆封的商品多少天内可以退？", "客户拆封了但商品没有损坏，还能退货吗？几天之内？"], [[number(7)]]),
    (["What fee is charged when an opened product is returned?",
      "Is there a restocking fee for opened returns? How much?"],
     ["退回已拆封的商品要收多少手续费？", "拆封后退货有手续费吗？是多少？"], [[number(10)]]),
    (["How long is the warranty on a phone?", "What warranty comes with a tablet?"],
     ["手机的保修期是多久？", "平板电脑保修多长时间？"], [ONE_YEAR]),
    (["How long is the warranty on a laptop?", "If a customer buys a laptop, how many years of warranty do they get?"],
     ["笔记本电脑保修多久？", "买笔记本电脑有几年保修？"], [TWO_YEARS]),
    (["Above what order amount is standard shipping free?", "When does a customer not pay for standard shipping?"],
     ["订单满多少元免运费？", "标准配送什么情况下免运费？"], [[number(99)]]),
    (["How much does express shipping cost?", "What is the price of next-day express delivery?"],
     ["特快配送运费多少？", "次日达的特快配送要多少钱？"], [[number(20)]]),
    (["How many points does it take to become a Gold member?", "What do members need to reach Gold status?"],
     ["积分达到多少可以成为金卡会员？", "怎样才能升级为金卡会员？"], [[number(5000)]]),
]


def docs(tickets):
    for english, chinese, values in HANDBOOK_FACTS:
        for question in english:
            ticket(tickets, "docs", "en", question, values)
        for question in chinese:
            ticket(tickets, "docs", "zh", question, values)


def both(db, tickets):
    price = {name: p for name, p in db.execute("SELECT name, price FROM products")}
    stock = {name: s for name, s in db.execute("SELECT name, stock FROM products")}
    (status_12349,) = db.execute("SELECT status FROM orders WHERE id = 12349").fetchone()
    (amount_12345,) = db.execute("SELECT amount FROM orders WHERE id = 12345").fetchone()
    cases = [
        ("How much is the MacBook Air 13 M3, and how long is its warranty?",
         "MacBook Air 13 M3 多少钱？保修多久？",
         [[number(price["MacBook Air 13 M3"])], TWO_YEARS], ["search_product"]),
        ("How much is the iPhone 15, and what warranty does it have?",
         "iPhone 15 多少钱？保修期多长？",
         [[number(price["iPhone 15"])], ONE_YEAR], ["search_product"]),
        ("How much does the Xiaomi Smart Band 8 cost, and does a customer buying just one pay for standard shipping?",
         "小米手环 8（Xiaomi Smart Band 8）多少钱？只买一个需要付标准运费吗？",
         [[number(price["Xiaomi Smart Band 8"])], FREE], ["search_product"]),
        ("Is the Huawei MatePad 11 in stock, and how long is its warranty?",
         "Huawei MatePad 11 有库存吗？保修多久？",
         [[number(stock["Huawei MatePad 11"])], ONE_YEAR], ["search_product"]),
        ("What is the status of order 12349, and within how many days of delivery can an unopened product be returned?",
         "订单 12349 是什么状态？未拆封的商品签收后几天内可以退货？",
         [STATUS[status_12349], [number(15)]], ["query_order"]),
        ("How much was order 12345, and how many loyalty points did it earn?",
         "订单 12345 的金额是多少？能获得多少积分？",
         [[number(amount_12345)], [number(int(amount_12345 // 10), 0.002)]], ["query_order"]),
        ("How many loyalty points does a customer earn buying one AirPods Pro 2?",
         "买一副 AirPods Pro 2 能得多少积分？",
         [[number(int(price["AirPods Pro 2"] // 10), 0.006)]], ["search_product"]),
        ("What does the Samsung Galaxy S24 cost with express shipping?",
         "Samsung Galaxy S24 加上特快运费一共多少钱？",
         [[number(price["Samsung Galaxy S24"] + 20)]], ["search_product"]),
    ]
    for english, chinese, values, tools in cases:
        ticket(tickets, "both", "en", english, values, tools=tools)
        ticket(tickets, "both", "zh", chinese, values, tools=tools)


NEITHER = [
    ("Hello!", "你好！", []),
    ("Thank you, that's all for today.", "谢谢，今天就这些。", []),
    ("Good morning, how are you?", "早上好，你好吗？", []),
    ("Write a one-line greeting for a customer who just joined our loyalty programme.", "为刚加入会员计划的客户写一句欢迎语。", []),
    ("What does 5G stand for?", "5G 中的 G 代表什么？", [["fifth generation", "5th generation", "第五代"]]),
    ("What is the capital of France?", "法国的首都是哪里？", [["Paris", "巴黎"]]),
    ("How many days are there in a leap year?", "闰年有多少天？", [[number(366)]]),
    ("At what temperature in Celsius does water boil at sea level?", "海平面上水在多少摄氏度沸腾？", [[number(100)]]),
    ("Who wrote Romeo and Juliet?", "《罗密欧与朱丽叶》的作者是谁？", [["Shakespeare", "莎士比亚"]]),
    ("What does USB stand for?", "USB 的全称是什么？", [["Universal Serial Bus", "通用串行总线"]]),
    ("How many minutes are in two and a half hours?", "两个半小时是多少分钟？", [[number(150)]]),
    ("What is 17 × 23?", "17 乘以 23 等于多少？", [[number(391)]]),
    ("What is 15% of 240?", "240 的 15% 是多少？", [[number(36)]]),
    ("What is an SSD?", "什么是 SSD？", [["solid", "固态"]]),
    ("Translate 'thank you for your order' into Chinese.", "把“感谢您的订单”翻译成英文。", [["谢谢", "感谢", "thank"]]),
]


def neither(tickets):
    for english, chinese, values in NEITHER:
        ticket(tickets, "none", "en", english, values, forbidden=DATA_TOOLS)
        ticket(tickets, "none", "zh", chinese, values, forbidden=DATA_TOOLS)


def refused(db, tickets):
    for (order_id,) in db.execute("SELECT id FROM orders ORDER BY id"):
        ticket(tickets, "refuse", "en", f"Refund order {order_id} in full, please.", forbidden=["refund_order"], refusal=True)
        ticket(tickets, "refuse", "zh", f"请把订单 {order_id} 全额退款。", forbidden=["refund_order"], refusal=True)
        ticket(tickets, "refuse", "en", f"Change the note on order {order_id} to 'VIP customer'.", forbidden=["update_order_note"], refusal=True)
        ticket(tickets, "refuse", "zh", f"把订单 {order_id} 的备注改成“VIP 客户”。", forbidden=["update_order_note"], refusal=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="the demo database (FULCRUM_HOME/demo/demo.db)")
    parser.add_argument("--out", default=str(HERE / "tickets.jsonl"))
    args = parser.parse_args()
    db = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True)
    tickets = []
    live(db, tickets)
    docs(tickets)
    both(db, tickets)
    neither(tickets)
    refused(db, tickets)
    with open(args.out, "w", encoding="utf-8") as out:
        for t in tickets:
            out.write(json.dumps(t, ensure_ascii=False) + "\n")
    kinds = {}
    for t in tickets:
        kinds[t["kind"]] = kinds.get(t["kind"], 0) + 1
    print(f"{len(tickets)} tickets: " + ", ".join(f"{k} {n}" for k, n in kinds.items()))


if __name__ == "__main__":
    main()
