"""Real clients send no `max_tokens`: served together and in turn across callers.

One API key queues twenty requests without `max_tokens` (as LangChain and the Agents SDK send
them); another key sends one. The second caller's request is admitted after at most one more
of the first's, not behind all twenty. Order is asserted, not time: each request's first
token is stamped on one shared counter.
"""
import threading
import time

from openai import OpenAI

from conftest import MODEL_ID, Server, tiny_model_path

PROMPT = "Write the numbers from 1 to 300, separated by commas."


def test_one_callers_backlog_does_not_hold_another_caller_back():
    srv = Server(
        ["--model", tiny_model_path(), "--model-id", MODEL_ID, "--context-size", "4096", "--slots", "2"],
        # Requests without max_tokens stop at this many tokens (or the model's end of text).
        env={"FULCRUM_MAX_TOKENS_LIMIT": "48"},
    )
    try:
        order = []
        lock = threading.Lock()

        def ask(key: str, label: str):
            client = OpenAI(base_url=srv.base_url + "/v1", api_key=key, max_retries=0, timeout=600)
            stream = client.chat.completions.create(
                model=MODEL_ID,
                messages=[{"role": "user", "content": PROMPT}],
                temperature=0,
                stream=True,
            )
            first = True
            for chunk in stream:
                if first and chunk.choices and chunk.choices[0].delta.content:
                    with lock:
                        order.append(label)
                    first = False

        backlog = [
            threading.Thread(target=ask, args=("demo-employee-key", f"employee-{n}")) for n in range(20)
        ]
        for thread in backlog:
            thread.start()
        # Wait until the employee's requests fill both sequences and the queue behind them.
        deadline = time.time() + 120
        while srv.metric("fulcrum_queue_depth") < 10:
            assert time.time() < deadline, "the backlog never queued:\n" + "".join(srv.log)
            time.sleep(0.05)
        with lock:
            started_before_finance_asked = len(order)
        other = threading.Thread(target=ask, args=("demo-finance-key", "finance"))
        other.start()
        for thread in [*backlog, other]:
            thread.join(600)
        assert len(order) == 21, order
        # Between the finance request's arrival and its first token, at most the two that were
        # running (if their first token was still to come) and one more of the employee's
        # started: not the ten and more that were waiting, as first-come-first-served would.
        started_between = order.index("finance") - started_before_finance_asked
        assert started_between <= 3, (started_before_finance_asked, order)
        assert srv.metric("fulcrum_engine_admitted_total") >= 21
    finally:
        srv.stop()
