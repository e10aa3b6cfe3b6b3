"""Tool schemas as clients send them (crates/chat/tests/tool_schemas.json: MCP servers' tool
lists, OpenAPI-derived functions, pydantic models), each offered alone with
`tool_choice: "required"` to the real engine: none is refused, and each gets a call that
parses and carries its required arguments — also where the schema had to be relaxed."""
import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
from openai import OpenAI

from conftest import API_KEY, ROOT

# The default model: the tiny one fills a free string until the token limit.
MODEL_ID = "qwen"

CORPUS = json.loads((ROOT / "crates" / "chat" / "tests" / "tool_schemas.json").read_text())


def ask(client, function):
    try:
        return client.chat.completions.create(
            model=MODEL_ID,
            messages=[{"role": "user", "content": f"Use {function['name']} once with short values."}],
            tools=[{"type": "function", "function": function}],
            tool_choice="required",
            # A free string is the model's to fill: 48 seeds of sequentialthinking took at most
            # 274 tokens, but CI once saw one run past 400. The limit bounds a runaway's cost.
            max_tokens=1024,
            seed=1,
        )
    except openai.APIError as err:
        return err


@pytest.fixture(scope="module")
def answers(qwen_server):
    """Every schema asked up front, two at a time: the server's two slots decode them in one
    batch (the 31 took 220 s so, against ~290 s one at a time). Each test below checks its
    own answer."""
    client = OpenAI(base_url=qwen_server.base_url + "/v1", api_key=API_KEY)
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip((e["function"]["name"] for e in CORPUS),
                        pool.map(lambda e: ask(client, e["function"]), CORPUS)))


def model_output(server, function):
    """What the model wrote for this tool, from the audit: the response carries no partial call."""
    rows = httpx.get(server.base_url + "/v1/audit?limit=1000",
                     headers={"Authorization": "Bearer demo-auditor-key"}, timeout=30).json()["data"]
    return [row["data"].get("output") for row in rows
            if row["kind"] == "chat_completion" and row["data"].get("tools_offered") == [function["name"]]][-2:]


def engine_state(server):
    """What the engine went through, for a failure's message: a call that does not come under
    `required` means the grammar was not enforced (a text answer came once in a whole suite's
    run, never on a fresh server), and whether sequences were preempted, caches reused or
    warnings logged is where to look next."""
    metrics = httpx.get(server.base_url + "/metrics", timeout=30).text
    counters = [line for line in metrics.splitlines()
                if line.startswith(("fulcrum_engine_preemptions", "fulcrum_prefix_cache", "fulcrum_engine_admitted"))]
    warnings = [line.rstrip() for line in server.log if " WARN " in line or " ERROR " in line][-20:]
    return counters + warnings


@pytest.mark.parametrize("entry", CORPUS, ids=[e["function"]["name"] for e in CORPUS])
def test_a_real_world_schema_gets_a_valid_call(answers, qwen_server, entry):
    function = entry["function"]
    response = answers[function["name"]]
    assert not isinstance(response, Exception), (entry["source"], response)
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls", (entry["source"], choice, model_output(qwen_server, function),
                                                  engine_state(qwen_server))
    call = choice.message.tool_calls[0]
    assert call.function.name == function["name"]
    arguments = json.loads(call.function.arguments)
    assert isinstance(arguments, dict)
    required = function.get("parameters", {}).get("required", [])
    assert set(required) <= set(arguments), (entry["source"], arguments)


def test_a_strict_tool_whose_schema_cannot_be_enforced_is_refused_by_keyword_and_path(qwen_server):
    client = OpenAI(base_url=qwen_server.base_url + "/v1", api_key=API_KEY)
    function = next(e["function"] for e in CORPUS if e["function"]["name"] == "get_news_by_topics")
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model=MODEL_ID,
            messages=[{"role": "user", "content": "news"}],
            tools=[{"type": "function", "function": {**function, "strict": True}}],
            tool_choice="required",
        )
    message = refused.value.body["message"]
    assert "`enum` at /properties/topics" in message and "strict" in message, message
