//! How a generation with tools is set up for a small model: the when-to-call rule in the
//! system prompt and the logit biases on the call tags. Shared by the chat API and the agent.

use fulcrum_chat::tools::{FloatWriting, ToolChoice};
use fulcrum_chat::{Message, Role};
use fulcrum_engine::{LogitBias, RefusedStart};

use crate::calls::CallGrounding;

/// The tag that opens a call in Qwen's (Hermes) format.
const CALL_TAG: &str = "<tool_call>";

/// Added to the system prompt in `auto`: small models call tools for everything unless told.
pub const WHEN_TO_CALL: &str = "Call a function only when the user's request needs one of the \
functions provided. If none of them fits the request, or a required argument is missing, \
answer in plain text without calling any function.";

/// Added to the system prompt with the when-to-call rule where parallel calls are allowed and
/// asked for by [`CallGuidance::Rule`]: a small model, asked for the same thing over several
/// values, makes one call and stops, or packs the values into one argument.
pub const ONE_CALL_EACH: &str = "When the request asks for several things (the same thing for \
several values, such as several places, items, amounts or dates, or several different tasks), \
make one function call for each of them, each in its own <tool_call></tool_call> block, one \
after another.";

/// [`ONE_CALL_EACH`] shown once, for [`CallGuidance::Example`]. Its function and values are
/// nobody's: the grammar allows only the request's functions, and the grounding check drops a
/// call whose values come from the system prompt alone.
pub const ONE_CALL_EACH_EXAMPLE: &str = "When the request asks for several things, make one \
function call for each of them, each in its own <tool_call></tool_call> block. For example, \
asked \"What is the weather in Paris and in Rome, in celsius?\" with a function get_weather, \
answer:\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \
\"unit\": \"celsius\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": \
{\"city\": \"Rome\", \"unit\": \"celsius\"}}\n</tool_call>";

/// What the system prompt says about parallel calls, where they are allowed, in `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallGuidance {
    /// Nothing.
    #[default]
    Off,
    /// One call for each thing asked ([`ONE_CALL_EACH`]).
    Rule,
    /// The same, shown by an example ([`ONE_CALL_EACH_EXAMPLE`]).
    Example,
}

impl CallGuidance {
    fn text(self) -> Option<&'static str> {
        match self {
            CallGuidance::Off => None,
            CallGuidance::Rule => Some(ONE_CALL_EACH),
            CallGuidance::Example => Some(ONE_CALL_EACH_EXAMPLE),
        }
    }
}

/// Default logit bias on `<tool_call>` in `auto`. Chosen on a handful of prompts with the
/// default model (it needed 12–20 to call for clear weather questions, while knowledge questions
/// stayed text at 20); to be tuned on BFCL's irrelevance and simple sets.
pub const DEFAULT_TOOL_CALL_BIAS: f32 = 20.0;

/// Default relevance (nats per token of the user's message) below which a call is dropped
/// by `call_relevance`: tuned on the tuning half of BFCL's categories (EVAL.md).
pub const DEFAULT_CALL_RELEVANCE_FLOOR: f32 = -0.1;

/// Default floor of `call_relevance` for a function each of whose calls gives a required
/// argument a value the conversation does not hold: tuned on the tuning half of BFCL's
/// categories (EVAL.md).
pub const DEFAULT_CALL_RELEVANCE_FLOOR_INVENTED: f32 = 0.1;

/// Default floor of `call_relevance` for a function each of whose calls gives a required
/// argument a number the conversation neither writes nor implies: tuned on the tuning half
/// of BFCL's categories (EVAL.md).
pub const DEFAULT_CALL_RELEVANCE_FLOOR_INVENTED_NUMBER: f32 = 1.25;

/// Default logit bias on starting another call right after a `</tool_call>`, where parallel
/// calls are allowed. Off: on BFCL samples 5 to 20 turned one parallel entry in ten from one
/// call to the three it needed, but with the demo's nine tools the default model, so
/// encouraged, went on to call every tool in its list.
pub const DEFAULT_PARALLEL_CALL_BIAS: f32 = 0.0;

/// How calls are drawn out of a small model: the biases on the call tags (0 disables one)
/// and the checks on its calls. The default is the served default, for the chat API and the
/// agent alike.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ToolCallTuning {
    /// On `<tool_call>` in `auto`, when answering a user's message.
    pub tool_call_bias: f32,
    /// On starting another call right after `</tool_call>`, where parallel calls are allowed.
    pub parallel_call_bias: f32,
    /// Which calls of an `auto` answer are kept by whether their values are in the
    /// conversation (see [`crate::Grounds`]).
    pub call_grounding: CallGrounding,
    /// With parallel calls allowed, ask for one more call after the model's last and keep it
    /// when it brings a value of the request no earlier call used.
    pub probe_parallel_calls: bool,
    /// With parallel calls allowed, a call that used one member of a list the user wrote is
    /// made again for each other member, with that argument set to it.
    pub calls_for_lists: bool,
    /// With `calls_for_lists`: a list's members are each asked of every function a call used
    /// one of them with, whatever other functions used: "the current time in Beijing and
    /// Tokyo, and the time difference" keeps the model's `current_time("Tokyo")` beside
    /// `time_difference("Beijing", "Tokyo")` and asks for it when missing. Off, a member any
    /// call used is no new value for any function. Either way, "between 50 and 150" is a
    /// range, not a list.
    pub list_members_per_function: bool,
    /// With parallel calls allowed, a call that chose one of an enum's values the user's
    /// message names beside others of the same enum is made again for each other one ("the
    /// status and the trial date" of a case is two calls).
    pub calls_for_named_choices: bool,
    /// With parallel calls allowed, the one call of a function is made again with a boolean
    /// argument the other way where the user's message asks for it both on and off ("the
    /// process is isothermal … what if it is not isothermal").
    pub flags_both_ways: bool,
    /// A boolean argument the calls of a function all set one way is set the other where the
    /// user's message writes a word of its name only that way: plainly ("the population and
    /// species of turtles": `species: true`) or only after a negation ("without the
    /// history": `include_history: false`).
    pub flags_as_written: bool,
    /// An optional flag, off by default, that every call of its function leaves out is set
    /// on where the user's message asks for it: writes a word of its name, or of its
    /// description that neither the tool's own words nor its other arguments' hold, plainly
    /// and never after a negation ("and please include a brief description of each protein":
    /// `include_description: true`).
    pub flags_asked_for: bool,
    /// With parallel calls allowed, a function called with the values another function was
    /// also called with is called again with that other's other values, where the user's
    /// message names it after writing them ("the origin of Buddhism, then of Hinduism, and
    /// the core beliefs of both").
    pub companion_calls: bool,
    /// With parallel calls allowed, a lone call whose optional values the user's message
    /// writes in different requests, each later one a variant ("again", "this time", "what
    /// if"), is made one call per request.
    pub variants_as_calls: bool,
    /// With parallel calls allowed, where the calls of one function fill two arguments from
    /// two lists the user wrote, every pairing is made ("the Lakers and the Bulls in 2018 and
    /// 2020" is four calls), unless the message pairs them ("respectively").
    pub calls_for_list_combinations: bool,
    /// With `probe_parallel_calls`: when the extra call asked for brings nothing new and the
    /// user wrote a number no call used, ask once more with the first argument held away
    /// from the values earlier calls of that function gave it.
    pub probe_other_values: bool,
    /// With `probe_parallel_calls`: when the extra call asked for brings nothing new (and
    /// holding its first argument away brought nothing either), ask once more with the
    /// first number argument of the last call that some unused written number can stand for
    /// chosen among those numbers ("$20000 and $50000 in Florida" after the California call).
    pub probe_unused_numbers: bool,
    /// With `probe_parallel_calls`: when the extra calls bring nothing new, ask once more
    /// with a string argument of the last call chosen among the names the user wrote that no
    /// call used and that follow the same word as its value ("from San Francisco to Tokyo …
    /// from Tokyo to Sydney": `destination_city` among ["Sydney"]).
    pub probe_unused_names: bool,
    /// In `auto`, a free string a call gives to more of its arguments than the conversation
    /// writes it (the model copied one argument into another) is left out of the optional
    /// arguments carrying it, and a call whose required arguments carry it is dropped
    /// (`start_location` and `end_location` both "Los Angeles"); when every call is dropped
    /// so, one of another tool the message asks for is asked for in their place.
    pub drop_copied_values: bool,
    /// A pronoun of the user or the assistant given as a value (`"location": "I"`) counts as
    /// written, as any word of the message does; off (the default), it grounds no call and is
    /// no new value of an extra call.
    pub pronouns_are_values: bool,
    /// A string value that is its parameter's description, or the description's first
    /// words (three at least), counts as found in the conversation when their words are
    /// (`"book": "The name of the holy book."` for "What is a holy book?"). Off by default:
    /// such a value is the schema's text, which a small model copies where it has no value.
    pub descriptions_are_values: bool,
    /// With `probe_parallel_calls` and `other_functions_asked`: the extra call asked for among
    /// the tools not called yet is kept for a word of its function's name the user's message
    /// holds, as the one asked for among all tools is ("also compute the total distance"
    /// keeps `kinematics.distance_traveled` with the values the velocity's call used); off, it
    /// must bring a value of its own.
    pub other_functions_by_name: bool,
    /// A word of two or three letters of a function's name counts as named by the user's
    /// message where it writes the word in capitals ("the GDP in these years" names
    /// `us_history.gdp`); off, only words of four letters or more name a function.
    pub acronyms_name_functions: bool,
    /// With parallel calls allowed, a call of a function other than those called is kept only
    /// when the user's message holds a word of its name or description that theirs do not
    /// (see [`crate::calls::AskedFunctions`]).
    pub other_functions_asked: bool,
    /// With `other_functions_asked`, in an English message that asks several things: a call
    /// of a function the message names no word of is still asked for when it carries two
    /// values the message writes and no other call used ("5000 Japanese Yen into US Dollars
    /// … 15 kilometers into miles" asks for `unit_conversion`, whose only telling word,
    /// "unit", nobody wrote): two values of the request nothing served are a part of it,
    /// where the model's own pick of another function fills it with values the called ones
    /// already carry.
    pub functions_asked_by_values: bool,
    /// With parallel calls allowed, where two calls of different functions hold each other's
    /// values of one argument (the message writes each once, nearest a word of the other
    /// function's name that the called functions' names do not share), the values are
    /// swapped back: "the scores of Manchester United soccer team … and of the Lakers
    /// basketball team" gives Manchester United to the soccer function.
    pub values_beside_their_functions: bool,
    /// With parallel calls allowed, where calls of one function share an optional value the
    /// user wrote once, in a sentence holding values of some of them and none of the others'
    /// own values, it is left out of the others: "a frequency of 440 Hz. After that, another
    /// of 300 Hz and a duration of 5 seconds" gives the first signal no duration.
    pub optionals_in_their_sentence: bool,
    /// With parallel calls allowed, where calls of one function each have a part of the
    /// message (from the first of its own values to the next call's) that names some items
    /// of a list argument the calls hold, each call holds the items its part names, among
    /// those the calls hold: "parks in New York with a Tennis Court and a Picnic Area, then in
    /// Los Angeles with a Playground" gives New York no Playground.
    pub list_items_in_their_parts: bool,
    /// With parallel calls allowed, a boolean argument of each call of a function called
    /// more than once is set as the call's own part of the message writes a word of its
    /// name (plainly, or only after a negation): "The first case … I would also like the
    /// verdict details. The second case … I do not need the verdict details" is
    /// `with_verdict: true` and `false`, where the whole message writes "verdict" both ways.
    pub flags_in_their_parts: bool,
    /// With parallel calls allowed, a call whose only values new to the calls before it are
    /// strings each part of the value an earlier call of its function gave the same argument
    /// ("Boreal Forests" after "Boreal Forests of Canada") is dropped: the same value cut
    /// short, not another one.
    pub parts_of_values_not_new: bool,
    /// In `auto`, answering a user's message: when the model's first choice is one the
    /// grammar refuses as the start of text (a bare JSON object, a ```json fence: a call in a
    /// form nobody parses), the answer takes the call path instead.
    pub call_on_refused_start: bool,
    /// Leave out of a call the optional arguments whose values are nowhere in the
    /// conversation (made up by the model), so that the tool's defaults apply.
    pub ground_optional_arguments: bool,
    /// Leave out of a call the optional choices (enum values) the user's message does not
    /// name, so that the tool's defaults apply.
    pub ground_optional_choices: bool,
    /// Leave out of a call an optional flag set to `true` (not its default) when the user's
    /// message names no word of its name or of its description beyond the tool's own
    /// (`include_description` for "the proteins in the plasma membrane").
    pub optional_flags_asked: bool,
    /// Where a list argument holds every value of its enum (the model copied the schema),
    /// leave out the choices the user's message does not name, when it names some.
    pub ground_listed_choices: bool,
    /// In a list of free strings, leave out the items nobody wrote beside some the user did.
    pub ground_list_items: bool,
    /// Leave out of a string argument a year another argument of the call carries
    /// (`league: "2021 La Liga"` beside `season: "2021"`).
    pub years_in_their_own_argument: bool,
    /// Leave out of an end of a string argument the value another argument of the call
    /// carries (`key: "C sharp major"` beside `scale_type: "major"`).
    pub values_in_their_own_argument: bool,
    /// Leave the user's sentence's article out of a string value that starts with it:
    /// `discovery: "The theory of evolution."` for "who first proposed the theory of
    /// evolution?" is `"theory of evolution"`, where the user writes it only after a
    /// lowercase "the" (a name written "The Godfather" keeps its own).
    pub drop_sentence_articles: bool,
    /// A call's start and end arguments (`start_location`/`end_location`, `origin`/
    /// `destination`, `from_unit`/`to_unit`) are swapped where the user's message writes
    /// "from <the end's value> to <the start's value>" and never the other way: "traffic
    /// from Las Vegas to Los Angeles" starts in Las Vegas.
    pub ends_as_written: bool,
    /// In `auto`, a text answer begun to a message that writes every telling word (two at
    /// least) of an offered function's name ("Get me the latest exchange rate from British
    /// Pounds to Japanese Yen": `latest_exchange_rate`) gives way to a call of it carrying
    /// only the conversation's values, which the relevance check keeps; the model's answer
    /// from memory is an invented fact.
    pub named_functions_called: bool,
    /// Write a string argument in the form its description lists the value in (`"hearts"`
    /// for `"heart"` where the description says "'spades', 'clubs', 'hearts', 'diamonds'").
    pub values_as_described: bool,
    /// A whole date the model wrote in words ("10th December 2022", "2022年12月10日") for a
    /// date parameter whose description asks for no form is written as ISO 8601
    /// (`"2022-12-10"`): the form a program behind a tool reads, where words are the
    /// model's habit, not the user's wish.
    pub dates_in_words_as_iso: bool,
    /// A coordinate's argument (its name or description says coordinate, latitude,
    /// longitude, GPS) that carries positive a number the user wrote as south or west
    /// ("112.0740 W", "22.9 south") carries it negative, as decimal degrees are written.
    pub hemispheres_as_signs: bool,
    /// An argument named for a unit (`unit`, `to_unit`) whose unit, as given or by default
    /// ("Default is 'cm'"), is not the one unit of its kind (length, speed, mass, …) the
    /// user wrote ("a radius of 4 inches") is set to the unit the user wrote.
    pub units_as_written: bool,
    /// An optional argument left out of a call is given the one of its choices (its enum's
    /// values, or those its description quotes) the user's message names as whole words,
    /// other than its default ("Find all the roots": `root_type: "all"`), unless another call
    /// of the function gives the argument.
    pub optional_choices_named: bool,
    /// A currency's name in a string argument named for a currency ("Japanese Yen",
    /// "us_dollars" in `base_currency`) is written as its ISO 4217 code (`JPY`, `USD`); a
    /// bare "dollars" only where the conversation names no other dollar.
    pub currencies_as_codes: bool,
    /// In `auto`, a number the user wrote that a call gives to more of its arguments than
    /// the conversation writes it (`velocity: 1000, distance: 1000` for "a distance of
    /// 1000 m") is left out of the optional arguments carrying it, and a call whose required
    /// arguments carry it is dropped when other calls are left.
    pub drop_copied_numbers: bool,
    /// Where an argument's description asks for a city and its state ("The city and state,
    /// e.g. Seattle, WA") and the call gives the city alone, ask the model for the state.
    pub city_with_state: bool,
    /// Set a number the user wrote with a scale word ("8.5 million") that a call carries off
    /// by a power of ten back to what was written.
    pub numbers_at_written_scale: bool,
    /// Set a percentage the user wrote ("5%") that a call carries as its points (5) to its
    /// value (0.05), in a number that is not said to be in percent.
    pub percentages_as_fractions: bool,
    /// Set a percentage the user wrote ("5%") that a call carries as its value (0.05) to its
    /// points (5), in a number said to be in percent and not a decimal.
    pub percentages_as_points: bool,
    /// Set a number nobody wrote whose digits are two neighbouring members of a number list
    /// the user wrote, run together (1520 for "15, 20 and 30"), to the first of them, and a
    /// time on the hour carried without its colon (2200 for "22:00") to its hour.
    pub numbers_run_together: bool,
    /// Set a number the user wrote as a percentage and plainly too ("7% … 7 years") to the
    /// percentage's value in the arguments that take fractions, where the calls use it more
    /// often than it is written plainly and no more such arguments hold it than that.
    pub percentages_beside_plain_numbers: bool,
    /// Where the message pairs its lists member by member ("respectively"), give each call
    /// filling two arguments from two such lists the pair the message writes.
    pub lists_paired_in_order: bool,
    /// A call whose values are all used is still new where it gives values to arguments no
    /// earlier call of its function gave them, each a string written more often than it is
    /// used
    /// ("from Miami back to New York" after "New York to Los Angeles", "Los Angeles to
    /// Miami").
    pub moved_values_are_new: bool,
    /// When the checks leave no call, generate the text answer from the conversation
    /// rendered without the tools (shown them, the model writes about the call it may not
    /// make).
    pub text_answer_without_tools: bool,
    /// In `auto`, answering a user's message: a text answer that writes a call of an offered
    /// tool as JSON or markup ("use the following function call: ```xml <name>…") is stopped
    /// there and takes the call path after the text sent; such blocks are held back from the
    /// stream until they close.
    pub calls_written_as_text: bool,
    /// In `auto`, answering a user's message: a text answer that only repeats the message
    /// (the default model does, to some short Chinese questions) is no answer; it is held
    /// back while it follows the message and, where it ends as the message did, the call path
    /// is taken in its place (under the `required` grammar, the calls checked as the model's
    /// own).
    pub call_after_echo: bool,
    /// Write a call's whole numbers that its tool's schema declares floats (`format: float`
    /// or `double`) with a fraction (`2.0`), the type the tool's language reads.
    pub floats_as_declared: bool,
    /// Write the whole numbers in an array whose items are plain `number` with a fraction:
    /// a schema generated from a typed language gives its float `number` and its int
    /// `integer` (pydantic's `list[float]`), and a typed tool converts no integer in a list.
    pub number_items_as_floats: bool,
    /// What the system prompt says about parallel calls in `auto`, where they are allowed.
    pub parallel_call_guidance: CallGuidance,
    /// In `auto`, answering a user's message: an answer whose calls are all of functions the
    /// message does not read as a request for is generated again as text. The model reads it:
    /// how much likelier it finds the message after each function's description than alone,
    /// per token, against `call_relevance_floor`. A message that asks several things is not
    /// weighed (it reads only in part as each function's). Needs an engine that scores a
    /// prompt (the embedded one); elsewhere calls are kept.
    pub call_relevance: bool,
    /// The relevance, in nats per token of the message, below which a call is dropped.
    pub call_relevance_floor: f32,
    /// The floor instead of `call_relevance_floor` for a function each of whose calls gives
    /// a required argument a value the conversation does not hold: a call for a request
    /// the tool does not serve fills what the request lacks by inventing it ("Kobe Bryant"
    /// for "who won the MVP in 2020"), so two weak signs together weigh as one strong one.
    pub call_relevance_floor_invented: f32,
    /// The floor for a function each of whose calls gives a required argument a number the
    /// conversation neither writes nor implies ("next week" implies 7 days) and the
    /// argument's description does not give: a number is the request's core input (a price,
    /// a level), and a call that makes one up ("the final price after a 25% discount" with a
    /// price of 100) answers a request the user did not make. Set it to
    /// `call_relevance_floor` to switch it off.
    pub call_relevance_floor_invented_number: f32,
    /// In the relevance check, a function named for the opposite of what the message asks
    /// (`calculate_sunrise` for "when is sunset?", `boiling_point` for "the freezing point")
    /// is not what was asked, whatever its score: the request reads much like its
    /// description, and one word and its opposite are all that tell them apart.
    pub call_relevance_opposites: bool,
}

impl Default for ToolCallTuning {
    fn default() -> Self {
        ToolCallTuning {
            tool_call_bias: DEFAULT_TOOL_CALL_BIAS,
            parallel_call_bias: DEFAULT_PARALLEL_CALL_BIAS,
            call_grounding: CallGrounding::default(),
            probe_parallel_calls: true,
            calls_for_lists: true,
            list_members_per_function: true,
            calls_for_named_choices: true,
            flags_both_ways: true,
            flags_as_written: true,
            flags_asked_for: true,
            companion_calls: true,
            variants_as_calls: true,
            calls_for_list_combinations: true,
            // Measured where it can act: +2 of 40 on the tuning half, none lost on either
            // half (EVAL.md), once held away from values as they begin (not `30` away from `3`).
            probe_other_values: true,
            probe_unused_numbers: true,
            probe_unused_names: true,
            drop_copied_values: true,
            pronouns_are_values: false,
            descriptions_are_values: false,
            // Measured on the 28 entries where it can act: +1 on the tuning half, none lost
            // (EVAL.md).
            other_functions_by_name: true,
            acronyms_name_functions: true,
            other_functions_asked: true,
            functions_asked_by_values: true,
            values_beside_their_functions: true,
            optionals_in_their_sentence: true,
            list_items_in_their_parts: true,
            flags_in_their_parts: true,
            parts_of_values_not_new: true,
            call_on_refused_start: true,
            ground_optional_arguments: true,
            ground_optional_choices: true,
            optional_flags_asked: true,
            ground_listed_choices: true,
            ground_list_items: true,
            years_in_their_own_argument: true,
            values_in_their_own_argument: true,
            drop_sentence_articles: true,
            ends_as_written: true,
            named_functions_called: true,
            values_as_described: true,
            dates_in_words_as_iso: true,
            hemispheres_as_signs: true,
            units_as_written: true,
            optional_choices_named: true,
            currencies_as_codes: true,
            drop_copied_numbers: true,
            city_with_state: true,
            numbers_at_written_scale: true,
            percentages_as_fractions: true,
            percentages_as_points: true,
            numbers_run_together: true,
            percentages_beside_plain_numbers: true,
            lists_paired_in_order: true,
            moved_values_are_new: true,
            text_answer_without_tools: true,
            calls_written_as_text: true,
            call_after_echo: true,
            floats_as_declared: true,
            number_items_as_floats: true,
            parallel_call_guidance: CallGuidance::default(),
            call_relevance: true,
            call_relevance_floor: DEFAULT_CALL_RELEVANCE_FLOOR,
            call_relevance_floor_invented: DEFAULT_CALL_RELEVANCE_FLOOR_INVENTED,
            call_relevance_floor_invented_number: DEFAULT_CALL_RELEVANCE_FLOOR_INVENTED_NUMBER,
            call_relevance_opposites: true,
        }
    }
}

impl ToolCallTuning {
    /// Which whole numbers of a finished call are written as floats.
    pub fn float_writing(&self) -> FloatWriting {
        FloatWriting {
            declared: self.floats_as_declared,
            number_items: self.number_items_as_floats,
        }
    }
}

/// Appends the when-to-call rule (and, where parallel calls are allowed, the `parallel`
/// guidance) to the system message, or adds one.
pub fn add_call_guidance(messages: &mut Vec<Message>, parallel: Option<CallGuidance>) {
    let guidance = match parallel.and_then(CallGuidance::text) {
        Some(text) => format!("{WHEN_TO_CALL}\n\n{text}"),
        None => WHEN_TO_CALL.to_string(),
    };
    match messages.first_mut() {
        Some(first) if first.role == Role::System => {
            let content = first.content.get_or_insert_with(String::new);
            if !content.is_empty() {
                content.push_str("\n\n");
            }
            content.push_str(&guidance);
        }
        _ => messages.insert(
            0,
            Message::system(format!("You are a helpful assistant.\n\n{guidance}")),
        ),
    }
}

/// Whether a generation over `messages` answers a user's new message (not tool results):
/// where the model decides between calling and answering.
pub fn answers_user(messages: &[Message]) -> bool {
    messages.last().is_some_and(|m| m.role == Role::User)
}

/// The call tag, which a generation that answers a user's message in `auto` (`deciding`)
/// generates in place of a first token the grammar refuses as text: asked to choose between
/// text and a tagged call, a small model often opens a bare JSON call (`{"name": …` or a
/// `json` code fence), which the grammar must refuse, and then writes whatever text is left
/// ("Mark the start of the response with …"). It meant the call.
pub fn call_instead_of_refused_start(
    tuning: ToolCallTuning,
    choice: &ToolChoice,
    deciding: bool,
) -> Option<RefusedStart> {
    (tuning.call_on_refused_start && deciding && *choice == ToolChoice::Auto).then(|| {
        RefusedStart {
            // Not `[`: refused too, it mostly opens a citation ("[1]"), not a list of calls.
            openers: BARE_CALL_OPENERS.iter().map(|o| o.to_string()).collect(),
            instead: CALL_TAG.to_string(),
        }
    })
}

/// How a call the grammar refuses as text opens: a JSON object, a fence.
const BARE_CALL_OPENERS: [&str; 2] = ["{", "```"];

/// The biases for a generation over `messages` with tools offered under `choice`.
pub fn call_biases(
    tuning: ToolCallTuning,
    messages: &[Message],
    choice: &ToolChoice,
    parallel: bool,
) -> Vec<LogitBias> {
    // Small models under-use the call path in `auto`; a bias on the opening tag evens that
    // out. The grammar decides text-or-calls at the first token and masks the tag inside text. Only on a user's new message: after tool results
    // the model should mostly answer, and a bias there makes it repeat the call it just made.
    step_biases(tuning, choice, parallel, answers_user(messages))
}

/// The biases of one generation; `deciding` says whether the model is choosing between
/// calling and answering (the opening-tag bias applies only then).
pub fn step_biases(
    tuning: ToolCallTuning,
    choice: &ToolChoice,
    parallel: bool,
    deciding: bool,
) -> Vec<LogitBias> {
    let answering_user = deciding;
    let mut biases = Vec::new();
    // Only where the choice is made: at the start of the answer, or right after a reasoning
    // block. A bias at every step would pull the tag into argument strings, where the grammar
    // cannot tell it from text.
    if *choice == ToolChoice::Auto && answering_user {
        biases.push(LogitBias::at_start(CALL_TAG, tuning.tool_call_bias));
        biases.push(LogitBias::after(
            "</think>",
            CALL_TAG,
            tuning.tool_call_bias,
        ));
    }
    // After a finished call the grammar allows only a separator (another call) or the end of
    // the turn, so a bias on the separator there acts on that decision alone.
    if *choice != ToolChoice::None && parallel && answering_user {
        biases.push(LogitBias::after(
            "</tool_call>",
            "\n",
            tuning.parallel_call_bias,
        ));
    }
    biases.retain(|bias| bias.bias != 0.0);
    biases
}
