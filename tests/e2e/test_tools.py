"""Function calling through the real `openai` client against `fulcrum serve` on the default
model: every `tool_choice` mode, `parallel_tool_calls`, streaming, a tool round trip, and
`response_format` — and every returned call parses and matches its schema."""
import json
import re

import openai
import pytest

from conftest import API_KEY

MODEL = "qwen"

TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Get the current weather for a city",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "City name"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "get_time", "description": "Current time in a timezone",
        "parameters": {"type": "object", "properties": {"timezone": {"type": "string"}},
                       "required": ["timezone"]}}},
]
SCHEMAS = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}


def client(server):
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key=API_KEY, max_retries=0)


def check_call(name, arguments_json):
    """The call names an offered tool and its arguments follow the schema (closed objects)."""
    assert name in SCHEMAS, name
    args = json.loads(arguments_json)
    schema = SCHEMAS[name]
    assert isinstance(args, dict)
    assert set(schema["required"]) <= set(args), args
    assert set(args) <= set(schema["properties"]), args
    for key, value in args.items():
        prop = schema["properties"][key]
        assert isinstance(value, str), (key, value)
        if "enum" in prop:
            assert value in prop["enum"], (key, value)
    return args


def ask(server, question, **kwargs):
    kwargs.setdefault("max_tokens", 120)
    return client(server).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": question}], tools=TOOLS, temperature=0, **kwargs
    )


def calls_made(server, tools, question):
    """The calls (name, arguments) answering `question` with `tools` under `auto`."""
    r = client(server).chat.completions.create(
        model=MODEL, tools=tools, temperature=0, max_tokens=300,
        messages=[{"role": "user", "content": question}],
    )
    return [(c.function.name, json.loads(c.function.arguments))
            for c in r.choices[0].message.tool_calls or []]


def test_auto_calls_a_tool_when_the_question_needs_one(qwen_server):
    r = ask(qwen_server, "What's the weather in Paris?")
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert calls and calls[0].type == "function" and calls[0].id.startswith("call_")
    args = check_call(calls[0].function.name, calls[0].function.arguments)
    assert calls[0].function.name == "get_weather" and "Paris" in args["city"]
    assert "<tool_call>" not in (choice.message.content or "")


def test_a_city_is_given_with_its_state_where_the_tool_asks_for_both(qwen_server):
    # OpenAI's own example tool: its description asks for "the city and state".
    weather = {"type": "function", "function": {
        "name": "get_current_weather", "description": "Get the current weather in a given location",
        "parameters": {"type": "object", "properties": {
            "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["location"]}}}
    r = client(qwen_server).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "What's the weather like in Boston today?"}],
        tools=[weather], temperature=0, max_tokens=120,
    )
    calls = r.choices[0].message.tool_calls
    assert calls and calls[0].function.name == "get_current_weather"
    location = json.loads(calls[0].function.arguments)["location"]
    assert re.fullmatch(r"Boston, [A-Z][A-Za-z]+( [A-Z][a-z]+)?", location), location


def test_each_choice_the_user_names_gets_its_call(qwen_server):
    # One enum's values named in one request: the model makes the first call and copies it
    # when asked for more; each other named value is its own call.
    stats = {"type": "function", "function": {
        "name": "precipitation_stats", "description": "Precipitation statistics for a location.",
        "parameters": {"type": "object", "properties": {
            "location": {"type": "string", "description": "The name of the location."},
            "time_frame": {"type": "string", "enum": ["six_months", "year", "five_years"]}},
            "required": ["location", "time_frame"]}}}
    r = client(qwen_server).chat.completions.create(
        model=MODEL, tools=[stats], temperature=0, max_tokens=200,
        messages=[{"role": "user", "content": "What are the precipitation statistics for the Amazon "
                   "rainforest for the last six months, the last year, and the last five years?"}],
    )
    calls = r.choices[0].message.tool_calls or []
    frames = sorted(json.loads(c.function.arguments)["time_frame"] for c in calls)
    assert frames == ["five_years", "six_months", "year"], [c.function.arguments for c in calls]


def test_a_call_copying_one_value_into_both_ends_is_not_returned(qwen_server):
    # Asked something the tool cannot answer, the default model still calls it, filling both
    # required time zones with the one place it has: the copy is dropped and the answer is text
    # (with FULCRUM_DROP_COPIED_VALUES=false the call comes back, from and to New York).
    converter = {"type": "function", "function": {
        "name": "time_converter",
        "description": "Converts the local time of user's region to the target region's local time.",
        "parameters": {"type": "object", "properties": {
            "user_timezone": {"type": "string", "description": "The timezone of the user in "
                              "string format. Example: 'Pacific Time (US & Canada)'"},
            "target_timezone": {"type": "string", "description": "The target timezone in string "
                                "format where user wants to know the local time. Example: "
                                "'Eastern Time (US & Canada)'"},
            "time": {"type": "string", "description": "The local time of user's timezone in "
                     "string format (24 hr format). Optional parameter. Example: '15:30:00'",
                     "default": "13:30:00"}},
            "required": ["user_timezone", "target_timezone"]}}}
    r = client(qwen_server).chat.completions.create(
        model=MODEL, tools=[converter], temperature=0, max_tokens=200,
        messages=[{"role": "user", "content": "What's the population in New York right now?"}],
    )
    choice = r.choices[0]
    for call in choice.message.tool_calls or []:
        arguments = json.loads(call.function.arguments)
        assert arguments["user_timezone"] != arguments["target_timezone"], call.function.arguments
    assert choice.message.tool_calls is None and choice.message.content
    assert choice.finish_reason == "stop"


def test_the_tool_asked_for_is_called_in_place_of_a_copy(qwen_server):
    # BFCL's multiple_187: on a fresh server the model's own answer is a drive from Los Angeles
    # to Los Angeles alone; dropped as a copy, a call is asked for among the other tools the
    # message asks for (on a fresh server with FULCRUM_DROP_COPIED_VALUES=false the drive
    # comes back).
    def tool(name, description, properties, required):
        return {"type": "function", "function": {"name": name, "description": description,
                "parameters": {"type": "object", "properties": properties, "required": required}}}
    text = {"type": "string"}
    tools = [
        tool("geometry_area_circle", "Calculate the area of a circle given the radius.",
             {"radius": {"type": "number"}, "units": text}, ["radius"]),
        tool("find_recipes", "Find recipes based on dietary restrictions, meal type, and "
             "preferred ingredients.", {"diet": text, "meal_type": text,
             "ingredients": {"type": "array", "items": text}}, ["diet", "meal_type"]),
        tool("whole_foods_check_price", "Check the price of items at a specific Whole Foods "
             "location.", {"location": {"type": "string", "description": "Location of the Whole "
             "Foods store."}, "items": {"type": "array", "items": text, "description": "List of "
             "items for which the price needs to be checked."}}, ["location", "items"]),
        tool("calculate_shortest_distance", "Calculate the shortest driving distance between two "
             "locations.", {"start_location": {"type": "string", "description": "The starting "
             "location for the drive."}, "end_location": {"type": "string", "description": "The "
             "destination location for the drive."}, "route_preference": {"type": "string",
             "enum": ["Shortest", "Scenic"], "description": "The preferred type of route."}},
             ["start_location", "end_location", "route_preference"]),
    ]
    calls = calls_made(qwen_server, tools, "Check the price of tomatoes and lettuce at the "
                       "Whole Foods in Los Angeles.")
    # The drive the model may add depends on what the shared server computed before (its
    # cached prefixes round differently); a drive from a place to itself is never returned.
    for name, arguments in calls:
        if name == "calculate_shortest_distance":
            assert arguments["start_location"] != arguments["end_location"], calls
    prices = [arguments for name, arguments in calls if name == "whole_foods_check_price"]
    assert prices and sorted(i.lower() for i in prices[0]["items"]) == ["lettuce", "tomatoes"], calls


def test_each_member_of_a_list_is_asked_of_each_function_that_took_one(qwen_server):
    # BFCL's parallel_multiple_56: the time difference takes both cities; the current time of
    # Tokyo, which the model does make, brought nothing new once the difference had used
    # Tokyo and was dropped (with FULCRUM_LIST_MEMBERS_PER_FUNCTION=false Beijing's alone
    # comes back). A member is new to each function no call of which used it.
    def city(which):
        return {"type": "string", "description": f"{which} city for calculating the time difference."}
    tools = [
        {"type": "function", "function": {
            "name": "time_zones_get_current_time",
            "description": "Retrieve current time for the specified location",
            "parameters": {"type": "object", "properties": {"location": {
                "type": "string", "description": "The city that you want to get the current "
                "time for."}}, "required": ["location"]}}},
        {"type": "function", "function": {
            "name": "time_zones_get_time_difference",
            "description": "Retrieve the time difference between two cities",
            "parameters": {"type": "object", "properties": {"city_1": city("First"),
                           "city_2": city("Second")}, "required": ["city_1", "city_2"]}}},
    ]
    calls = calls_made(qwen_server, tools, "What is the current time in Beijing and Tokyo "
                       "and what's the time difference between two cities?")
    times = sorted(a["location"] for name, a in calls if name == "time_zones_get_current_time")
    assert times == ["Beijing", "Tokyo"], calls
    differences = [a for name, a in calls if name == "time_zones_get_time_difference"]
    assert len(differences) == 1, calls


def test_a_copied_call_is_asked_again_away_from_its_first_value(qwen_server):
    # BFCL's parallel_152: asked for another call, the model copies its first (3 to the power
    # of 5). Held away from 3 it wrote 3000… for as long as the grammar let it; held away
    # from every number written as 3 begins, and within the largest number written, it takes
    # 2 and 3 (with FULCRUM_PROBE_OTHER_VALUES=false the first call alone comes back).
    tools = [{"type": "function", "function": {
        "name": "math_power",
        "description": "Calculate the power of one number raised to another.",
        "parameters": {"type": "object", "properties": {
            "base": {"type": "integer", "description": "The base number."},
            "exponent": {"type": "integer", "description": "The exponent."},
            "mod": {"type": "number", "description": "The modulus. Default is None. "
                    "Calculates pow(base, exponent) % mod when provided."}},
            "required": ["base", "exponent"]}}}]
    # Quoted, as BFCL writes it: unquoted, the model makes both calls itself.
    calls = calls_made(qwen_server, tools, (
        '"Can you calculate the result of the following mathematical operation: first, raise '
        'the number 3 to the power of 5, then raise the number 2 to the power of 3."'))
    pairs = sorted((a["base"], a["exponent"]) for _, a in calls)
    assert pairs == [(2, 3), (3, 5)], calls


def test_values_given_to_the_wrong_function_are_given_back(qwen_server):
    # BFCL's parallel_multiple_120: the model gives Manchester United to the basketball
    # function and the Lakers to the soccer one; each is written beside the other function's
    # own word ("soccer", "basketball"), so the values are swapped back (with
    # FULCRUM_VALUES_BESIDE_THEIR_FUNCTIONS=false the model's swap comes back). No
    # max_tokens, as LangChain and the Agents SDK send: cut by a token limit, an answer's
    # calls are returned unchecked.
    def scores(sport):
        return {"type": "function", "function": {
            "name": f"{sport}_scores_get_scores",
            "description": f"Retrieve {sport} scores for a specific team and league within a "
                           "certain range of rounds.",
            "parameters": {"type": "object", "properties": {
                "team": {"type": "string",
                         "description": f"The {sport} team whose scores are to be retrieved."},
                "league": {"type": "string",
                           "description": "The league in which the team competes."},
                "rounds": {"type": "integer", "description": "Number of past rounds for which "
                           "to retrieve the scores."}},
                "required": ["team", "league", "rounds"]}}}
    r = client(qwen_server).chat.completions.create(
        model=MODEL, tools=[scores("basketball"), scores("soccer")], temperature=0,
        messages=[{"role": "user", "content": (
            '"Can you tell me the scores for the Manchester United soccer team in the English '
            'Premier League for the last 5 rounds and also the scores for the Los Angeles '
            'Lakers basketball team in the NBA for the last 7 rounds?"')}],
    )
    calls = {c.function.name: json.loads(c.function.arguments)
             for c in r.choices[0].message.tool_calls or []}
    assert calls.get("soccer_scores_get_scores") == {
        "team": "Manchester United", "league": "English Premier League", "rounds": 5}, calls
    assert calls.get("basketball_scores_get_scores") == {
        "team": "Los Angeles Lakers", "league": "NBA", "rounds": 7}, calls


def function_tool(name, description, string_properties, required):
    """A tool whose arguments are all strings, given by their descriptions."""
    return {"type": "function", "function": {
        "name": name, "description": description,
        "parameters": {"type": "object", "properties": {
            key: {"type": "string", "description": text}
            for key, text in string_properties.items()}, "required": required}}}


def answer_calls(server, tool, question):
    """The calls (name, arguments) answering `question` with `tool` under `auto`, with no
    max_tokens, as LangChain and the Agents SDK send."""
    r = client(server).chat.completions.create(
        model=MODEL, tools=[tool], temperature=0,
        messages=[{"role": "user", "content": question}],
    )
    choice = r.choices[0]
    calls = [(c.function.name, json.loads(c.function.arguments))
             for c in choice.message.tool_calls or []]
    assert calls, (f"no call ({choice.finish_reason}, {r.usage.completion_tokens} tokens): "
                   f"{(choice.message.content or '')[:1500]!r}\n" + "".join(server.log[-40:]))
    return calls


def test_a_number_list_run_together_is_a_call_for_each_member(qwen_server):
    # BFCL's parallel_19: the model writes "15, 20 and 30 years" as `loan_term: 1520`; set to
    # the first member (numbers_run_together), the list makes the others calls of their own
    # (with FULCRUM_NUMBERS_RUN_TOGETHER=false one call of 1520 years comes back).
    mortgage = {"type": "function", "function": {
        "name": "calculate_mortgage_payment",
        "description": "Calculate the monthly mortgage payment for a given loan amount, "
                       "interest rate, and loan term.",
        "parameters": {"type": "object", "properties": {
            "loan_amount": {"type": "integer", "description": "The loan amount."},
            "interest_rate": {"type": "number", "description": "The annual interest rate."},
            "loan_term": {"type": "integer", "description": "The loan term in years."}},
            "required": ["loan_amount", "interest_rate", "loan_term"]}}}
    calls = answer_calls(qwen_server, mortgage, (
        "Calculate the monthly mortgage payment for a loan amount of $400,000, with an annual "
        "interest rate of 4% and a loan term of 15, 20 and 30 years."))
    assert sorted(a["loan_term"] for _, a in calls) == [15, 20, 30], calls
    assert all(a["loan_amount"] == 400000 and a["interest_rate"] == 0.04 for _, a in calls), calls


def test_the_next_request_is_asked_for_with_the_numbers_no_call_used(qwen_server):
    # BFCL's parallel_15: the model makes the California call only; asked for another, it
    # copies it, and held away from 15000 it writes 1500, which nobody wrote. Given the
    # numbers no call used (probe_unused_numbers) it writes Florida's call (with
    # FULCRUM_PROBE_UNUSED_NUMBERS=false the California call comes back alone).
    tax = {"type": "function", "function": {
        "name": "calculate_capital_gains_tax",
        "description": "Calculate the capital gains tax for a given gains type and amount",
        "parameters": {"type": "object", "properties": {
            "short_term_gain": {"type": "integer",
                                "description": "The short term capital gain amount."},
            "long_term_gain": {"type": "integer",
                               "description": "The long term capital gain amount."},
            "state": {"type": "string", "description": "The state where the income is generated.",
                      "default": "federal"}},
            "required": ["short_term_gain", "long_term_gain"]}}}
    calls = answer_calls(qwen_server, tax, (
        "What will be the capital gains tax for a short term capital gains of $15000, long term "
        "gains of $25000 in the state of California and $20000 short term, $50000 long term in "
        "Florida?"))
    gains = sorted((a["short_term_gain"], a["long_term_gain"], a.get("state")) for _, a in calls)
    assert gains == [(15000, 25000, "California"), (20000, 50000, "Florida")], calls


def test_a_request_no_tool_serves_is_answered_in_text_and_one_it_serves_is_called(qwen_server):
    # BFCL's irrelevance_0: pushed towards calls (tool_call_bias), the model calls the only
    # tool, a body-mass-index one, for the area of a triangle. The message is no likelier
    # after that tool's description than alone (call_relevance), so the answer is text; with
    # FULCRUM_CALL_RELEVANCE=false `determine_body_mass_index(weight=10, height=5)` comes back.
    bmi = {"type": "function", "function": {
        "name": "determine_body_mass_index",
        "description": "Calculate body mass index given weight and height.",
        "parameters": {"type": "object", "properties": {
            "weight": {"type": "number", "description": "Weight of the individual in kilograms."},
            "height": {"type": "number", "description": "Height of the individual in meters."}},
            "required": ["weight", "height"]}}}
    r = client(qwen_server).chat.completions.create(
        model=MODEL, tools=[bmi], temperature=0,
        messages=[{"role": "user", "content": (
            "Calculate the area of a triangle given the base is 10 meters and height is 5 "
            "meters.")}],
    )
    choice = r.choices[0]
    assert not choice.message.tool_calls, choice.message.tool_calls
    assert choice.finish_reason == "stop" and choice.message.content.strip(), choice
    # The same tool, asked what it serves, is called.
    calls = answer_calls(qwen_server, bmi, (
        "What is the body mass index of a person who weighs 70 kilograms and is 1.75 meters "
        "tall?"))
    assert calls == [("determine_body_mass_index", {"weight": 70, "height": 1.75})], calls


def test_lists_paired_respectively_keep_their_pairs(qwen_server):
    # BFCL's parallel_47: the model adds Manchester United in the Champions League beside
    # both right pairs; the message pairs its lists ("respectively"), so the crossed call is
    # dropped (lists_paired_in_order; with FULCRUM_LISTS_PAIRED_IN_ORDER=false it comes back).
    ranking = {"type": "function", "function": {
        "name": "get_team_ranking",
        "description": "Retrieve the current ranking of a football team in a specific league.",
        "parameters": {"type": "object", "properties": {
            "team": {"type": "string", "description": "The name of the football team."},
            "league": {"type": "string", "description": "The league the team is competing in. "
                                                        "E.g. UEFA Champions League, La Liga."}},
            "required": ["team", "league"]}}}
    calls = answer_calls(qwen_server, ranking, (
        "What is the current ranking of Barcelona and Manchester United in the UEFA Champions "
        "League and La Liga respectively?"))
    pairs = sorted((a["team"], a["league"]) for _, a in calls)
    assert pairs == [("Barcelona", "UEFA Champions League"),
                     ("Manchester United", "La Liga")], calls


def test_a_leg_back_over_places_written_twice_is_a_call_of_its_own(qwen_server):
    # BFCL's parallel_92: the leg back, Miami to New York City, uses only places earlier legs
    # used, each in the other argument; both are written twice, so the call is new
    # (moved_values_are_new; with FULCRUM_MOVED_VALUES_ARE_NEW=false it is dropped as
    # bringing nothing new). Chosen over parallel_135, whose answer flips between calls and
    # text with the server's history (the same request after others, or with a trailing
    # space); this one gave the same three legs in five wordings of it.
    distance = function_tool(
        "get_shortest_driving_distance",
        "Calculate the shortest driving distance between two locations.",
        {"origin": "Starting point of the journey.",
         "destination": "End point of the journey.",
         "unit": "Preferred unit of distance (optional, default is kilometers)."},
        ["origin", "destination"])
    calls = answer_calls(qwen_server, distance, (
        "What is the shortest driving distance in miles from New York City to Los Angeles and "
        "then from Los Angeles to Miami, considering that you have to return to New York City "
        "from Miami?"))
    legs = sorted((a["origin"], a["destination"]) for _, a in calls)
    assert legs == [("Los Angeles", "Miami"), ("Miami", "New York City"),
                    ("New York City", "Los Angeles")], calls


def test_a_call_the_model_writes_into_its_text_is_made_as_a_call(qwen_server):
    # Asked this way the default model answers in text and writes the call out as XML
    # ("you can use the following function call: ```xml <tools> <function>
    # <name>geo_distance_calulate</name>"), then goes on for thousands of tokens. With
    # calls_written_as_text the generation is stopped at that block and the call is made
    # (with FULCRUM_CALLS_WRITTEN_AS_TEXT=false: no call, the XML in the content).
    distance = function_tool(
        "geo_distance_calculate",
        "Calculate the geographic distance between two given locations.",
        {"start_location": "The starting location for the distance calculation.",
         "end_location": "The destination location for the distance calculation.",
         "units": "Optional. The desired units for the resulting distance ('miles' or "
                  "'kilometers'). Defaults to 'miles'."},
        ["start_location", "end_location"])
    r = client(qwen_server).chat.completions.create(
        model=MODEL, tools=[distance], temperature=0,
        messages=[{"role": "user", "content": (
            "Please tell me: What is the total distance in kilometers if I start my journey "
            "from New York, travel to Los Angeles, then from Los Angeles to Miami, and finally "
            "from Miami back to New York?")}],
    )
    message = r.choices[0].message
    assert message.tool_calls, message.content
    assert r.choices[0].finish_reason == "tool_calls"
    assert {call.function.name for call in message.tool_calls} == {"geo_distance_calculate"}
    legs = [json.loads(call.function.arguments) for call in message.tool_calls]
    assert ("New York", "Los Angeles") in [(a["start_location"], a["end_location"]) for a in legs]
    # Whatever text came before the call, no call is written out in it.
    assert "<name>" not in (message.content or "") and "```" not in (message.content or "")


def test_auto_answers_in_text_when_no_tool_fits(qwen_server):
    r = ask(qwen_server, "Who wrote the play Hamlet?")
    choice = r.choices[0]
    assert not choice.message.tool_calls
    assert choice.finish_reason == "stop"
    assert "Shakespeare" in choice.message.content


def test_required_forces_a_valid_call(qwen_server):
    r = ask(qwen_server, "Tell me a joke about cats.", tool_choice="required")
    calls = r.choices[0].message.tool_calls
    assert calls and r.choices[0].finish_reason == "tool_calls"
    for call in calls:
        check_call(call.function.name, call.function.arguments)


def test_named_choice_calls_only_that_function(qwen_server):
    r = ask(qwen_server, "What's the weather in Rome?",
            tool_choice={"type": "function", "function": {"name": "get_time"}})
    calls = r.choices[0].message.tool_calls
    assert calls and all(c.function.name == "get_time" for c in calls)
    for call in calls:
        check_call(call.function.name, call.function.arguments)


def test_none_never_calls(qwen_server):
    r = ask(qwen_server, "What's the weather in Paris?", tool_choice="none")
    assert not r.choices[0].message.tool_calls
    assert r.choices[0].message.content
    assert "<tool_call>" not in r.choices[0].message.content


def test_parallel_false_gives_at_most_one_call(qwen_server):
    r = ask(qwen_server, "What's the weather in Paris, in Rome and in Tokyo? And the time in Berlin?",
            parallel_tool_calls=False, tool_choice="required")
    calls = r.choices[0].message.tool_calls
    assert calls is not None and len(calls) == 1
    check_call(calls[0].function.name, calls[0].function.arguments)


def test_streaming_tool_call_deltas_assemble_to_the_same_call(qwen_server):
    question = "What's the weather in Madrid?"
    reference = ask(qwen_server, question).choices[0].message.tool_calls
    stream = ask(qwen_server, question, stream=True)
    calls, finish, content = {}, None, ""
    for chunk in stream:
        for choice in chunk.choices:
            delta = choice.delta
            content += delta.content or ""
            for tc in delta.tool_calls or []:
                entry = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
                entry["id"] = tc.id or entry["id"]
                entry["name"] += (tc.function.name or "") if tc.function else ""
                entry["arguments"] += (tc.function.arguments or "") if tc.function else ""
            finish = choice.finish_reason or finish
    assert finish == "tool_calls"
    assert "<tool_call>" not in content and "{" not in content
    assert [(c["name"], json.loads(c["arguments"])) for c in calls.values()] == [
        (c.function.name, json.loads(c.function.arguments)) for c in reference
    ]
    assert all(c["id"] and c["id"].startswith("call_") for c in calls.values())


def test_tool_result_round_trip_gives_a_text_answer(qwen_server):
    first = ask(qwen_server, "What's the weather in Paris?")
    call = first.choices[0].message.tool_calls[0]
    # A 0.5B model needs its system prompt to say what to do with tool results (the agent
    # loop will carry one); without it, it keeps inventing further calls.
    messages = [
        {"role": "system", "content": "You are a helpful assistant. When tool results are given, "
                                      "answer the user's question from them in one sentence."},
        {"role": "user", "content": "What's the weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": call.id, "type": "function",
             "function": {"name": call.function.name, "arguments": call.function.arguments}}]},
        {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temperature_c": 18, "sky": "cloudy"})},
    ]
    r = client(qwen_server).chat.completions.create(
        model=MODEL, messages=messages, tools=TOOLS, temperature=0, max_tokens=80
    )
    message = r.choices[0].message
    assert not message.tool_calls, message
    assert "18" in message.content


def test_response_format_json_schema_is_followed(qwen_server):
    schema = {"type": "object", "properties": {"capital": {"type": "string"}, "population_millions": {"type": "number"}},
              "required": ["capital", "population_millions"], "additionalProperties": False}
    r = client(qwen_server).chat.completions.create(
        model=MODEL, temperature=0, max_tokens=80,
        messages=[{"role": "user", "content": "Give the capital of France and its population in millions."}],
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema}},
    )
    value = json.loads(r.choices[0].message.content)
    assert set(value) == {"capital", "population_millions"}
    assert isinstance(value["capital"], str) and isinstance(value["population_millions"], (int, float))


def test_bad_tool_definitions_are_400(qwen_server):
    with pytest.raises(openai.BadRequestError) as err:
        client(qwen_server).chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}],
            tools=[{"type": "function", "function": {"name": "bad name!", "parameters": {"type": "object"}}}],
        )
    assert err.value.body["param"] == "tools[0]"
