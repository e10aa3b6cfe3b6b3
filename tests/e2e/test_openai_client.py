"""The real `openai` Python client against a running `fulcrum serve` on the tiny model."""
import os
import stat
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from conftest import API_KEY, AUTH, MODEL_ID, Server, tiny_model_path

MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What is the capital of France?"},
]


def client(server, **kwargs):
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key=API_KEY, max_retries=0, **kwargs)


def test_models_lists_the_served_model(server):
    models = client(server).models.list()
    # The chat model, and the embedding model of /v1/embeddings.
    assert [m.id for m in models.data] == [MODEL_ID, "all-minilm-l6-v2"]


def test_non_streaming_completion_has_content_and_exact_usage(exact_server):
    c = client(exact_server)
    first = c.chat.completions.create(model=MODEL_ID, messages=MESSAGES, temperature=0, max_tokens=24)
    second = c.chat.completions.create(model=MODEL_ID, messages=MESSAGES, temperature=0, max_tokens=24)
    choice = first.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content and choice.message.content.strip()
    assert "Paris" in choice.message.content
    assert choice.finish_reason in ("stop", "length")
    assert first.usage.prompt_tokens > 10
    assert 1 <= first.usage.completion_tokens <= 24
    assert first.usage.total_tokens == first.usage.prompt_tokens + first.usage.completion_tokens
    # Greedy decoding is deterministic.
    assert second.choices[0].message.content == choice.message.content
    assert second.usage == first.usage


def test_special_tokens_typed_into_a_message_are_plain_text(server):
    """Five `<|im_start|>` in a message once cost 5 prompt tokens: read as control tokens, a
    user could forge a system turn. Now they are text: several tokens each."""
    c = client(server)

    def prompt_tokens(text):
        return c.chat.completions.create(
            model=MODEL_ID, messages=[{"role": "user", "content": text}], max_tokens=1).usage.prompt_tokens

    plain = prompt_tokens("hello")
    forged = prompt_tokens("hello" + "<|im_start|>" * 5)
    assert forged - plain >= 5 * 3, (plain, forged)


def test_streaming_matches_non_streaming_and_reports_usage(exact_server):
    c = client(exact_server)
    reference = c.chat.completions.create(model=MODEL_ID, messages=MESSAGES, temperature=0, max_tokens=24)
    stream = c.chat.completions.create(
        model=MODEL_ID, messages=MESSAGES, temperature=0, max_tokens=24,
        stream=True, stream_options={"include_usage": True},
    )
    pieces, finish, usage, chunks = [], None, None, 0
    for chunk in stream:
        chunks += 1
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
            if choice.finish_reason:
                finish = choice.finish_reason
    assert chunks > 3, "the answer was not streamed in pieces"
    assert "".join(pieces) == reference.choices[0].message.content
    assert finish == reference.choices[0].finish_reason
    assert usage is not None and usage.completion_tokens == reference.usage.completion_tokens
    assert usage.prompt_tokens == reference.usage.prompt_tokens


def test_max_tokens_limits_the_answer(server):
    r = client(server).chat.completions.create(
        model=MODEL_ID, messages=[{"role": "user", "content": "Write a long story about a dragon."}],
        temperature=0, max_tokens=3,
    )
    assert r.usage.completion_tokens == 3
    assert r.choices[0].finish_reason == "length"


def test_unsupported_value_is_a_400_naming_the_field(server):
    with pytest.raises(openai.BadRequestError) as err:
        client(server).chat.completions.create(model=MODEL_ID, messages=MESSAGES, n=2)
    assert err.value.status_code == 400
    assert err.value.body["param"] == "n"


def test_unknown_model_is_a_404(server):
    with pytest.raises(openai.NotFoundError) as err:
        client(server).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert err.value.body["code"] == "model_not_found"


def test_oversized_body_is_a_413_and_unknown_route_a_404(server):
    big = {"model": MODEL_ID, "messages": [{"role": "user", "content": "x" * (5 * 1024 * 1024)}]}
    r = httpx.post(server.base_url + "/v1/chat/completions", json=big, timeout=30, headers=AUTH)
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "request_too_large"
    r = httpx.get(server.base_url + "/v1/images/generations", headers=AUTH)
    assert r.status_code == 404
    assert r.json()["error"]["type"] == "invalid_request_error"


def test_context_overflow_is_a_400(server):
    with pytest.raises(openai.BadRequestError) as err:
        client(server).chat.completions.create(
            model=MODEL_ID, messages=[{"role": "user", "content": "word " * 5000}], max_tokens=10
        )
    assert err.value.body["code"] == "context_length_exceeded"


def test_client_disconnect_stops_the_generation(server):
    body = {
        "model": MODEL_ID, "stream": True, "temperature": 0, "max_tokens": 3000,
        "messages": [{"role": "user", "content": "Count from 1 to 2000, one number per line."}],
    }
    with httpx.stream("POST", server.base_url + "/v1/chat/completions", json=body, timeout=30, headers=AUTH) as r:
        lines = r.iter_lines()
        for _ in range(6):
            next(lines)
        assert server.metric("fulcrum_generations_in_flight") == 1
    # The connection is closed: the generation must stop long before 3000 tokens.
    deadline = time.time() + 5
    while server.metric("fulcrum_generations_in_flight") != 0 or server.metric("fulcrum_engine_running") != 0:
        assert time.time() < deadline, "the generation kept running after the client left"
        time.sleep(0.05)


def test_503_while_the_model_is_not_loaded(tmp_path):
    # A pip that takes its time keeps the catalogue model "downloading": the server listens
    # but must answer 503 until the model is ready.
    slow_pip = tmp_path / "slow-pip"
    slow_pip.write_text("#!/bin/sh\nsleep 30\nexit 1\n")
    slow_pip.chmod(slow_pip.stat().st_mode | stat.S_IEXEC)
    srv = Server(
        ["--model", "smollm2-135m-instruct-q4_1"],
        env={"FULCRUM_HOME": str(tmp_path / "home"), "FULCRUM_PIP": str(slow_pip)},
        wait_ready=False,
    )
    try:
        assert httpx.get(srv.base_url + "/healthz").status_code == 200
        assert httpx.get(srv.base_url + "/readyz").status_code == 503
        with pytest.raises(openai.APIStatusError) as err:
            client(srv).chat.completions.create(model="smollm2-135m-instruct-q4_1", messages=MESSAGES)
        assert err.value.status_code == 503
        assert err.value.body["code"] == "model_not_ready"
    finally:
        srv.stop()


def test_a_shared_prompt_prefix_is_computed_once(server):
    system = {"role": "system", "content": "You answer questions about the Hangzhou office and its rooms. " * 20}
    c = client(server)
    reused = server.metric("fulcrum_prefix_cache_reused_tokens_total")
    hits = server.metric("fulcrum_prefix_cache_hits_total")
    prompt = server.metric("fulcrum_engine_prompt_tokens_total")
    for question in ["Where is room 1?", "Which room has a projector?"]:
        c.chat.completions.create(
            model=MODEL_ID, messages=[system, {"role": "user", "content": question}], temperature=0, max_tokens=4
        )
    # The second request's long system prompt came from the first one's KV.
    assert server.metric("fulcrum_prefix_cache_reused_tokens_total") - reused >= 200
    assert server.metric("fulcrum_prefix_cache_hits_total") >= hits + 1
    assert server.metric("fulcrum_engine_prompt_tokens_total") - prompt >= 2 * 200


def test_a_burst_beyond_the_queue_gets_429_with_retry_after_and_succeeds_on_retry():
    # One slot decoding and one request waiting: a third at once is answered with 429.
    srv = Server(
        ["--model", tiny_model_path(), "--model-id", MODEL_ID, "--context-size", "2048", "--slots", "1"],
        env={"FULCRUM_MAX_QUEUE": "1"},
    )
    try:
        body = {"model": MODEL_ID, "messages": MESSAGES, "max_tokens": 48, "temperature": 0}

        def post(_):
            return httpx.post(srv.base_url + "/v1/chat/completions", headers=AUTH, json=body, timeout=120)

        with ThreadPoolExecutor(12) as pool:
            responses = list(pool.map(post, range(12)))
        codes = [r.status_code for r in responses]
        assert set(codes) == {200, 429}, codes
        for r in responses:
            if r.status_code == 429:
                assert r.headers["retry-after"] == "1"
                assert r.json()["error"]["code"] == "server_busy"

        # The openai client honours Retry-After: every request of a burst ends answered.
        retrying = openai.OpenAI(base_url=srv.base_url + "/v1", api_key=API_KEY, max_retries=20)

        def ask(_):
            return retrying.chat.completions.create(**body)

        with ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(ask, range(12)))
        assert all(a.choices[0].message.content for a in answers)
    finally:
        srv.stop()
