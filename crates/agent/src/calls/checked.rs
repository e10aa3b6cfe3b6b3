//! A generation whose calls are checked before anyone sees them.
//!
//! The grammar makes every call well-formed; it cannot make a small model call only when it
//! should, nor make all the calls a request needs. So an answer that takes the call path is
//! held back until it ends, and then:
//! - a call whose required values appear nowhere in the conversation is dropped (see
//!   [`Grounds`]); when none is left, the answer is generated again as text (from the
//!   conversation without tools, when the caller rendered it);
//! - an answer whose only call the engine stopped short of its required values (the model
//!   wrote a free string on and on until the loop check stopped it) is asked for again as one
//!   call whose free strings and lists are bounded in the grammar, so that it ends; under a
//!   `tool_choice` that requires a call this is asked whenever no valid call was written, and
//!   a text answer is never given in its place (no call at all is an error);
//! - with parallel calls allowed, the model is asked for one more call after its last (it tends
//!   to stop after the first of several), and the extra call is kept only when it is grounded
//!   and carries a value from the conversation that no earlier call used; asked again until it
//!   brings nothing new;
//! - with parallel calls allowed, a call that used one member of a list the user wrote ("in
//!   2017, 2018 and 2019") is asked for again with that argument set to each other member
//!   (see [`Lists`]): the model's own extra call would copy the first;
//! - a kept call loses the optional arguments whose values are nowhere in the conversation
//!   (the model made them up; the tool's default applies), and the optional choices the user
//!   did not name;
//! - a number the user wrote with a scale word ("8.5 million") that a call carries off by a
//!   power of ten (850000000) is set back to what was written, and a percentage carried as its
//!   points ("5%" as 5) in a number that is not said to be in percent is set to its value (0.05);
//! - in `auto`, where the user's message names an offered function (its identifier, or every
//!   telling word of its name), a text answer the model begins gives way to a call of it that
//!   carries only the conversation's values, which the relevance check keeps; with parallel
//!   calls, an extra call of a named function not yet called is asked for.
//!
//! What the checks changed, with the model's own answer, is left in a [`CheckReportSlot`] for
//! the audit log.
//!
//! A text answer is decided at its first token (the grammar has no way from text into calls),
//! so it streams as it comes (but for the named function's call that may take its place);
//! only call answers wait.

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex};

use fulcrum_chat::tools::{
    close_cut_call, dedupe_calls, parse_answer, parse_output, ParsedCall, ToolChoice, ToolSet,
    ValueBounds,
};
use fulcrum_chat::{to_python_json, Message, Role, ToolDefinition};
use fulcrum_engine::{
    start_generation, Backend, EngineError, FinishReason, GenerationEvent, GenerationRequest,
    GenerationStream, SamplingParams, Usage,
};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc;

use super::articles::sentence_articles;
use super::asked::AskedFunctions;
use super::choices::NamedChoices;
use super::companions::companion_calls;
use super::currencies::currencies_as_codes;
use super::echo;
use super::flags::{flag_default, unasked_flags, FlagMentions};
use super::formats::{
    cities_without_state, dates_in_words_as_iso, values_as_described, STATE_GRAMMAR,
};
use super::grounding::{
    find_words, property, property_description, required_names, same_number, CallGrounding,
    CopiedValue, Grounds,
};
use super::hemispheres::{signed_by_hemisphere, south_or_west};
use super::journeys::ends_as_written;
use super::lists::{same_member, Lists};
use super::named::named_choices_left_out;
use super::names::{word_before, written_as_next_request, written_names};
use super::placement::Placement;
use super::relevance::{several_parts, CalledFunction, Relevance, RelevanceFloors};
use super::repeated::repeated_values;
use super::units::units_as_written;
use super::variants::calls_per_variant;
use super::written::WrittenCalls;
use super::years::repeated_years;
use crate::tuning::{answers_user, ToolCallTuning};

const OPEN: &str = "<tool_call>";
const THINK_OPEN: &str = "<think>";
const THINK_CLOSE: &str = "</think>";

/// The most calls one answer is grown to by asking for more.
const MAX_PROBED_CALLS: usize = 8;

/// Tokens a state after a city may take (" New Mexico\"": four).
const STATE_MAX_TOKENS: u32 = 8;

/// Tokens one extra call may take.
const PROBE_MAX_TOKENS: u32 = 512;

/// The free values of a call asked for again after the model's own ran on: room for a
/// sentence or two, and for a list's usual length.
const BOUNDED_VALUES: ValueBounds = ValueBounds {
    string_chars: 256,
    list_items: 16,
};

/// What the checks changed in one answer, for the audit log: the model's own answer and the
/// calls dropped from it or added to it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CheckReport {
    /// The answer as the model wrote it.
    pub model_answer: String,
    pub dropped: Vec<CheckedCall>,
    pub added: Vec<CheckedCall>,
    /// Optional arguments left out because their values were made up.
    pub dropped_arguments: Vec<DroppedArgument>,
    /// Items of list arguments left out: where a list held every value of its enum, the
    /// choices the user did not name beside some they did; in a list of free strings, the
    /// items nobody wrote beside some the user did.
    pub dropped_items: Vec<DroppedItems>,
    /// String arguments written otherwise: without a year another argument carries, as
    /// their description lists the value, a city with its state.
    pub rewritten_arguments: Vec<RewrittenArgument>,
    /// Numbers set back to the scale the user wrote them at, and percentages to their values.
    pub rescaled_arguments: Vec<RescaledArgument>,
    /// No call was left: the answer was generated again as text.
    pub answered_in_text: bool,
    /// The engine took the call path in place of the model's refused first choice (a bare
    /// JSON call): the model did not open the call itself.
    pub redirected_start: bool,
    /// The generation was stopped inside a call (the engine's loop check): the call was
    /// closed after its last complete value, its lists' repeats left out.
    pub closed_cut_call: bool,
    /// No valid call was written where one was wanted: one was asked for again with its free
    /// values bounded (kept in `added` with reason `bounded`, when valid).
    pub asked_bounded_call: bool,
    /// The model's text answer wrote a call of this offered tool as JSON or markup: the
    /// generation was stopped there and the answer took the call path after the text sent.
    pub call_written_as_text: Option<String>,
    /// The model began a text answer, but the user's message names this offered function
    /// (see `CallCheck::named`): its call was asked for in the text's place.
    pub named_function_called: Option<String>,
    /// The model's text answer repeated the user's message: the call path was taken in
    /// its place.
    pub echo_replaced_by_call: bool,
}

/// A call the checks dropped or added, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckedCall {
    pub name: String,
    pub arguments: Value,
    /// `not_in_conversation` (none of its values is), `copied_value` (one free string given to
    /// more of its arguments than the conversation writes it), `unrelated_to_request` (of a
    /// function the user's message does not read as asking for), `nothing_new` (no value of the request
    /// the other calls did not use), `not_asked_for` (another function than those called, of
    /// which the user's message says nothing), `listed` (another member of a list the user wrote),
    /// `asked` (the model asked for one more call), `steered` (asked for with its first
    /// argument held away from the earlier calls' values), `named_choice` (another of an enum's values
    /// the user named beside the call's own), `list_combination` (a pairing of members of two
    /// lists the user wrote that no call made), `incomplete` (a call cut short, closed, and
    /// still not valid against its tool's schema), `bounded` (asked for again, its free values
    /// bounded, in place of calls cut short), `instead_of_copy` (a call of another tool the
    /// message asks for, asked for when every call copied a value), `part_of_earlier_value`
    /// (its only new values are parts of those an earlier call of its function gave the same
    /// arguments: "Boreal Forests" after "Boreal Forests of Canada"), `crossed_pair` (where
    /// the message pairs its lists, a call of a crossed pair both of whose right pairs other
    /// calls made), `cut_not_in_conversation` (a call the token limit cut, whose written part
    /// fails the grounding rule as `not_in_conversation`).
    pub reason: &'static str,
}

impl CheckReport {
    /// Whether the checks left the model's answer as it was.
    fn changed_nothing(&self) -> bool {
        self.dropped.is_empty()
            && self.added.is_empty()
            && self.dropped_arguments.is_empty()
            && self.dropped_items.is_empty()
            && self.rewritten_arguments.is_empty()
            && self.rescaled_arguments.is_empty()
            && !self.answered_in_text
            && !self.redirected_start
            && !self.closed_cut_call
            && !self.asked_bounded_call
            && self.call_written_as_text.is_none()
            && self.named_function_called.is_none()
            && !self.echo_replaced_by_call
    }
}

impl CheckedCall {
    fn new(call: &ParsedCall, reason: &'static str) -> Self {
        CheckedCall {
            name: call.name.clone(),
            arguments: call.arguments.clone(),
            reason,
        }
    }
}

/// An optional argument the checks left out of a call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DroppedArgument {
    pub function: String,
    pub argument: String,
    pub value: Value,
    /// `not_in_conversation` (a value nobody wrote), `choice_not_named` (one of an enum's
    /// values the user did not name), `copied_value` (another argument's value, copied),
    /// `copied_number` (a number the user wrote, copied from another argument),
    /// `another_calls_sentence` (a value written once, in a sentence of another call's values
    /// and none of this one's) or `another_variant` (an option of another request the call
    /// was split into).
    pub reason: &'static str,
}

/// Items the checks left out of a list argument of a call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DroppedItems {
    pub function: String,
    pub argument: String,
    pub items: Vec<Value>,
    /// `choice_not_named` (the list held every value of its enum: the choices the user's
    /// message does not name, beside some it does) or `not_in_conversation` (free strings
    /// nobody wrote, beside some the user did).
    pub reason: &'static str,
}

/// An argument of a call that the checks wrote otherwise (a string but for
/// `items_of_its_part`'s lists).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RewrittenArgument {
    pub function: String,
    pub argument: String,
    pub value: Value,
    pub written: Value,
    /// `repeated_year` (left out: another argument of the call carries it), `as_described`
    /// (the value in the form its description lists it), `date_as_iso` (a date in words for
    /// a date parameter that asks for no form, as ISO 8601), `signed_by_hemisphere` (a
    /// coordinate the user wrote as south or west, negative), `choice_named` (an optional choice
    /// the user's message names, which the call left out; `null` as the value),
    /// `currency_code` (a currency's name in an argument named for one, as its code),
    /// `flag_as_written` (a flag set as the user's message writes a word of its name),
    /// `unit_as_written` (an argument named
    /// for a unit set to the one unit of its kind the user wrote; `null` as the value where
    /// the model left it out), `state_added` (the description asks
    /// for a city and its state; the model was asked for the state), `beside_its_function`
    /// (two calls of different functions held each other's values: the message writes each
    /// beside a word of the other function's name), `paired_in_order` (where the message
    /// pairs its lists, a crossed pair set to one the message writes), `items_of_its_part` (a
    /// list held to the items its call's part of the message names).
    pub reason: &'static str,
}

/// A number of a call set back to the scale the user wrote it at.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RescaledArgument {
    pub function: String,
    pub argument: String,
    pub value: Value,
    pub written: Value,
    /// `scale_word` (off by a power of ten from a number written with one), `percentage`
    /// (a percentage's points where its value belongs), `percentage_beside_plain` (the same,
    /// for a number written plainly too, which the calls use more often than it is written
    /// plainly) or `run_together` (two neighbouring
    /// members of a number list written as one number: the first of them).
    pub reason: &'static str,
}

/// Where a checked generation leaves its [`CheckReport`] once the answer has finished (before
/// its finish event is sent); empty when the checks changed nothing.
#[derive(Debug, Clone, Default)]
pub struct CheckReportSlot(Arc<Mutex<Option<CheckReport>>>);

impl CheckReportSlot {
    pub fn take(&self) -> Option<CheckReport> {
        self.0.lock().ok().and_then(|mut slot| slot.take())
    }

    fn put(&self, report: CheckReport) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(report);
        }
    }
}

/// What to check in one generation's calls.
#[derive(Debug, Clone)]
pub struct CallCheck {
    tools: Arc<ToolSet>,
    grounds: Grounds,
    /// Applied under `auto` only: elsewhere a call is required, so none is dropped.
    grounding: CallGrounding,
    /// Undo a call's copy of one free string into more arguments than the conversation
    /// writes it: leave out the optional copies, drop a call whose required arguments carry
    /// it (under `auto` only, as `grounding`).
    drop_copied_values: bool,
    probe: bool,
    /// When the extra call brings nothing new, ask again with its first argument held away
    /// from the values earlier calls gave it (see `Checking::steer`).
    probe_other_values: bool,
    /// When that brings nothing new either, ask with a number argument chosen among the
    /// numbers the user wrote that no call used (see `Checking::steer_to_unused_number`).
    probe_unused_numbers: bool,
    /// The user's message, when that brings nothing new either and a string argument is
    /// asked for among the names the user wrote that no call used, after the word its value
    /// follows, written as a next request (see `Checking::steer_to_unused_name`).
    probe_unused_names: Option<String>,
    /// The lists of the user's message, when a call is made for each member.
    lists: Option<Lists>,
    /// A call for each other member of a list a call used one member of.
    members: bool,
    /// With `members`: a member is new to each function no call of which used it, whatever
    /// other functions did (see `Checking::new_member_of_its_function`).
    members_per_function: bool,
    /// The calls of two lists made each with each (see `Checking::add_list_combinations`).
    combinations: bool,
    /// The words of the user's message, when a call is made for each enum value it names.
    choices: Option<NamedChoices>,
    /// The user's message read for flags it asks for both on and off, when a lone call is
    /// made again with such a flag the other way.
    flag_mentions: Option<FlagMentions>,
    /// The user's message read for flags, when a flag the calls of a function all set one
    /// way is set as the message writes it (see [`FlagMentions::as_written`]), or one they
    /// all leave out is set on where the message asks for it (see [`FlagMentions::asks_on`]).
    flags_written: Option<FlagMentions>,
    /// Set a flag the calls of a function all set one way as the message writes it.
    flags_as_written: bool,
    /// Set a flag the calls of a function all leave out on where the message asks for it.
    flags_asked: bool,
    /// The user's message, when a function called with another's values is called again
    /// with that other's other values (see [`companion_calls`]).
    companions: Option<String>,
    /// The user's message, when a lone call whose options it writes in different requests,
    /// each a variant of one before, is made one call per request (see [`calls_per_variant`]).
    variants: Option<String>,
    /// Leave out optional arguments whose values are not in the conversation.
    ground_optionals: bool,
    /// Leave out optional choices the user's message does not name.
    ground_choices: bool,
    /// Leave out optional flags set on that the user's message does not ask for.
    ground_flags: bool,
    /// Where a list argument holds every value of its enum, leave out the choices the user's
    /// message does not name, when it names some.
    ground_listed_choices: bool,
    /// In a list of free strings, leave out the items nobody wrote beside some the user did.
    ground_list_items: bool,
    /// Leave out of a string argument a year another argument of the call carries.
    trim_repeated_years: bool,
    /// Leave out of an end of a string argument a value another argument carries.
    trim_repeated_values: bool,
    /// The user's message, when the article of its sentence is left out of a string value
    /// that starts with it (see [`sentence_articles`]).
    articles: Option<String>,
    /// The user's message, when a call's start and end arguments are set as its "from … to
    /// …" writes them (see [`ends_as_written`]).
    journeys: Option<String>,
    /// Write a value in the form its description lists it.
    values_as_described: bool,
    /// Write a date in words as ISO 8601 where its parameter asks for no form.
    dates_in_words_as_iso: bool,
    /// The numbers the user's message writes as south or west ("112.0740 W"), which a
    /// coordinate's argument carries negative (see [`signed_by_hemisphere`]).
    south_or_west: Vec<f64>,
    /// Set an argument named for a unit to the one unit of its kind the user wrote.
    units_as_written: bool,
    /// Give a call the optional choice the user's message names that it left out.
    give_named_choices: bool,
    /// Write a currency named in an argument named for one as its ISO 4217 code.
    currency_codes: bool,
    /// Undo a call's copy of one written number into more arguments than the conversation
    /// writes it: leave out the optional copies, drop a call whose required arguments carry
    /// it when other calls are left (under `auto` only).
    drop_copied_numbers: bool,
    /// Ask for the state of a city given alone where the description asks for both.
    city_with_state: bool,
    /// Set numbers off by a power of ten back to the scale the user wrote them at.
    rescale_numbers: bool,
    /// Set a percentage carried as its points to its value.
    percentages: bool,
    /// Set a percentage carried as its value to its points where the argument takes them.
    percentage_points: bool,
    /// Set a percentage written plainly too to its value where the calls use the number more
    /// often than it is written plainly (see `Checking::percentages_beside_plain_numbers`).
    percentages_beside_plain: bool,
    /// Set a number that runs two neighbouring members of a number list together to the
    /// first of them (reads `lists`).
    run_together: bool,
    /// Where the message pairs its lists, give crossed calls the pairs it writes (see
    /// `Checking::pair_in_order`; reads `lists`).
    paired_in_order: bool,
    /// The user's message, when a call of a function other than those called must be asked
    /// for by it.
    asked: Option<AskedFunctions>,
    /// The extra call among the tools not called is kept for a word of its name the message
    /// holds (only where `asked` checks that the message asks for it).
    other_functions_by_name: bool,
    /// A call of a function the message names no word of is asked for by two values of the
    /// message no other call used (only where `asked` checks that the message asks for it,
    /// the message is English and asks several things).
    asked_by_values: bool,
    /// The user's message, read for where it writes values, when `values_beside_functions`,
    /// `stray_optionals`, `list_items_in_parts` or `moved_values_new` is on.
    placement: Option<Placement>,
    /// Swap back two calls' values the message writes each beside the other's function.
    values_beside_functions: bool,
    /// Leave an optional value written in another call's sentence out of a call.
    stray_optionals: bool,
    /// Set a flag of each call of one function as its own part of the message writes it.
    flags_in_parts: bool,
    /// Hold each call of one function to the list items its part of the message names.
    list_items_in_parts: bool,
    /// Drop a call whose only new values are parts of an earlier call's.
    parts_not_new: bool,
    /// A call that moves values to other arguments is new where the message writes them
    /// more often than the earlier calls use them (see `Checking::moved_values`).
    moved_values_new: bool,
    /// In `auto`, answering the user's message: the offered functions the message names, by
    /// their identifiers or every telling word of their names ("the latest exchange rate").
    /// A text answer begun there gives way to a call of one of them that carries only the
    /// conversation's values; such a call is not dropped by the relevance check, and an extra
    /// call of one is asked for.
    named: Vec<String>,
    /// The one function a named `tool_choice` allows; extra calls are of it alone.
    only: Option<String>,
    /// The `tool_choice` requires a call (`required` or named): a text answer is never given.
    call_required: bool,
    /// Parallel calls are allowed.
    parallel: bool,
    /// In `auto`, answering the user's message: an answer whose calls are all of functions
    /// the message does not read as a request for is answered in text (see [`Relevance`]).
    relevance: Option<Relevance>,
    /// A text answer that writes a call of an offered tool as JSON or markup takes the call
    /// path (see [`WrittenCalls`]).
    written_calls: bool,
    /// The user's message, against which a text answer that only repeats it is told apart
    /// (see [`echo::Echo`]).
    echo_of: Option<echo::Echo>,
    /// The conversation rendered without tools, for the text answer generated when no call
    /// is left: shown the tools, the model that wanted a call writes around the call it may
    /// not make ("Mark the start of the response with `{"name": …`").
    plain_prompt: Option<String>,
    /// Whether [`Self::with_plain_prompt`] renders it (`text_answer_without_tools`).
    wants_plain_prompt: bool,
    report: CheckReportSlot,
}

impl CallCheck {
    /// The check of a generation over `messages` with `tools` under `choice`, where
    /// `deciding` says the model is answering the user's message (the checks that read it
    /// apply only then); `None` when nothing applies (no tools, `none`, or every check
    /// switched off and no call required).
    pub fn new(
        tuning: &ToolCallTuning,
        tools: &Arc<ToolSet>,
        messages: &[Message],
        choice: &ToolChoice,
        parallel: bool,
        deciding: bool,
    ) -> Option<CallCheck> {
        let call_required = matches!(choice, ToolChoice::Required | ToolChoice::Named(_));
        if *choice == ToolChoice::None || tools.is_empty() || !(deciding || call_required) {
            return None;
        }
        let grounding = if *choice == ToolChoice::Auto {
            tuning.call_grounding
        } else {
            CallGrounding::Off
        };
        let on = |check: bool| check && deciding;
        let drop_copied_values = on(tuning.drop_copied_values) && *choice == ToolChoice::Auto;
        let probe = on(tuning.probe_parallel_calls) && parallel;
        let probe_other_values = probe && tuning.probe_other_values;
        let probe_unused_numbers = probe && tuning.probe_unused_numbers;
        let message = messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .and_then(|m| m.content.as_deref());
        let probe_unused_names = message
            .filter(|_| probe && tuning.probe_unused_names)
            .map(str::to_string);
        let members = on(tuning.calls_for_lists) && parallel;
        let members_per_function = members && tuning.list_members_per_function;
        let combinations = on(tuning.calls_for_list_combinations) && parallel;
        let run_together = on(tuning.numbers_run_together);
        let percentages_beside_plain = on(tuning.percentages_beside_plain_numbers);
        let paired_in_order = on(tuning.lists_paired_in_order) && parallel;
        let lists = message
            .filter(|_| members || combinations || run_together || paired_in_order)
            .map(Lists::new);
        let choices = message
            .filter(|_| on(tuning.calls_for_named_choices) && parallel)
            .map(NamedChoices::new);
        let flag_mentions = message
            .filter(|_| on(tuning.flags_both_ways) && parallel)
            .map(FlagMentions::new);
        let flags_as_written = on(tuning.flags_as_written);
        let flags_asked = on(tuning.flags_asked_for);
        let flags_written = message
            .filter(|_| flags_as_written || flags_asked)
            .map(FlagMentions::new);
        let companions = message
            .filter(|_| on(tuning.companion_calls) && parallel)
            .map(str::to_string);
        let variants = message
            .filter(|_| on(tuning.variants_as_calls) && parallel)
            .map(str::to_string);
        let asked = message
            .filter(|_| on(tuning.other_functions_asked) && parallel)
            .map(AskedFunctions::new);
        let other_functions_by_name = tuning.other_functions_by_name && asked.is_some();
        // One request's unused values are its details ("4 meters away from a charge":
        // `cooking_conversion` from meters nobody asked for), not a part of its own; and
        // in Chinese a value is found inside a run of characters, which makes two of them
        // no evidence (a returns question kept `book_room` in the ticket set).
        let asked_by_values = tuning.functions_asked_by_values
            && asked.as_ref().is_some_and(AskedFunctions::reads_words)
            && message.is_some_and(several_parts);
        let values_beside_functions = on(tuning.values_beside_their_functions) && parallel;
        let stray_optionals = on(tuning.optionals_in_their_sentence) && parallel;
        let list_items_in_parts = on(tuning.list_items_in_their_parts) && parallel;
        let flags_in_parts = on(tuning.flags_in_their_parts) && parallel;
        let parts_not_new = on(tuning.parts_of_values_not_new) && parallel;
        let moved_values_new = on(tuning.moved_values_are_new) && parallel;
        let placement = message
            .filter(|_| {
                values_beside_functions
                    || stray_optionals
                    || list_items_in_parts
                    || flags_in_parts
                    || moved_values_new
            })
            .map(Placement::new);
        let ground_optionals = on(tuning.ground_optional_arguments);
        let ground_choices = on(tuning.ground_optional_choices);
        let ground_flags = on(tuning.optional_flags_asked);
        let ground_listed_choices = on(tuning.ground_listed_choices);
        let ground_list_items = on(tuning.ground_list_items);
        let trim_repeated_years = on(tuning.years_in_their_own_argument);
        let trim_repeated_values = on(tuning.values_in_their_own_argument);
        let articles = message
            .filter(|_| on(tuning.drop_sentence_articles))
            .map(str::to_string);
        let journeys = message
            .filter(|_| on(tuning.ends_as_written))
            .map(str::to_string);
        let values_as_described = on(tuning.values_as_described);
        let dates_in_words_as_iso = on(tuning.dates_in_words_as_iso);
        let south_or_west = message
            .filter(|_| on(tuning.hemispheres_as_signs))
            .map(south_or_west)
            .unwrap_or_default();
        let units_as_written = on(tuning.units_as_written);
        let give_named_choices = on(tuning.optional_choices_named);
        let currency_codes = on(tuning.currencies_as_codes);
        let drop_copied_numbers = on(tuning.drop_copied_numbers) && *choice == ToolChoice::Auto;
        let city_with_state = on(tuning.city_with_state);
        let rescale_numbers = on(tuning.numbers_at_written_scale);
        let percentages = on(tuning.percentages_as_fractions);
        let percentage_points = on(tuning.percentages_as_points);
        let written_calls = on(tuning.calls_written_as_text) && *choice == ToolChoice::Auto;
        let echo_of = message
            .filter(|_| {
                on(tuning.call_after_echo) && *choice == ToolChoice::Auto && answers_user(messages)
            })
            .map(echo::Echo::of)
            .filter(echo::Echo::is_some);
        let named: Vec<String> = message
            .filter(|_| {
                on(tuning.named_functions_called)
                    && *choice == ToolChoice::Auto
                    && answers_user(messages)
            })
            .map(AskedFunctions::new)
            .map(|asked| {
                tools
                    .definitions()
                    .iter()
                    .filter(|tool| asked.names(tool))
                    .map(|tool| tool.name.clone())
                    .collect()
            })
            .unwrap_or_default();
        let relevance = message
            .filter(|_| on(tuning.call_relevance) && *choice == ToolChoice::Auto)
            .and_then(|message| {
                Relevance::new(
                    message,
                    RelevanceFloors {
                        any: tuning.call_relevance_floor,
                        invented: tuning.call_relevance_floor_invented,
                        invented_number: tuning.call_relevance_floor_invented_number,
                    },
                    tuning.call_relevance_opposites,
                )
            });
        if !call_required
            && !written_calls
            && echo_of.is_none()
            && named.is_empty()
            && relevance.is_none()
            && grounding == CallGrounding::Off
            && !drop_copied_values
            && !probe
            && lists.is_none()
            && choices.is_none()
            && flag_mentions.is_none()
            && flags_written.is_none()
            && companions.is_none()
            && variants.is_none()
            && asked.is_none()
            && placement.is_none()
            && !parts_not_new
            && !ground_optionals
            && !ground_choices
            && !ground_flags
            && !ground_listed_choices
            && !ground_list_items
            && !trim_repeated_years
            && !trim_repeated_values
            && articles.is_none()
            && journeys.is_none()
            && !values_as_described
            && !dates_in_words_as_iso
            && south_or_west.is_empty()
            && !units_as_written
            && !give_named_choices
            && !currency_codes
            && !drop_copied_numbers
            && !city_with_state
            && !rescale_numbers
            && !percentages
            && !percentage_points
            && !percentages_beside_plain
        {
            return None;
        }
        Some(CallCheck {
            tools: Arc::clone(tools),
            grounds: Grounds::from_messages(messages)
                .with_pronouns_as_values(tuning.pronouns_are_values)
                .with_descriptions_as_values(tuning.descriptions_are_values)
                .with_acronyms_naming_functions(tuning.acronyms_name_functions),
            grounding,
            drop_copied_values,
            probe,
            probe_other_values,
            probe_unused_numbers,
            probe_unused_names,
            lists,
            members,
            members_per_function,
            combinations,
            choices,
            flag_mentions,
            flags_written,
            flags_as_written,
            flags_asked,
            companions,
            variants,
            ground_optionals,
            ground_choices,
            ground_flags,
            ground_listed_choices,
            ground_list_items,
            trim_repeated_years,
            trim_repeated_values,
            articles,
            journeys,
            values_as_described,
            dates_in_words_as_iso,
            south_or_west,
            units_as_written,
            give_named_choices,
            currency_codes,
            drop_copied_numbers,
            city_with_state,
            rescale_numbers,
            percentages,
            percentage_points,
            percentages_beside_plain,
            run_together,
            paired_in_order,
            asked,
            other_functions_by_name,
            asked_by_values,
            placement,
            values_beside_functions,
            stray_optionals,
            list_items_in_parts,
            flags_in_parts,
            parts_not_new,
            moved_values_new,
            named,
            only: match choice {
                ToolChoice::Named(name) => Some(name.clone()),
                _ => None,
            },
            call_required,
            parallel,
            relevance,
            written_calls,
            echo_of,
            plain_prompt: None,
            // No text answer is generated where a call is required.
            wants_plain_prompt: tuning.text_answer_without_tools && !call_required,
            report: CheckReportSlot::default(),
        })
    }

    /// Gives the check the same conversation rendered without tools, which a text answer
    /// generated when no call is left starts from (see the field); `render` runs only when
    /// `text_answer_without_tools` is on.
    pub fn with_plain_prompt<E>(
        mut self,
        render: impl FnOnce() -> Result<String, E>,
    ) -> Result<Self, E> {
        if self.wants_plain_prompt {
            self.plain_prompt = Some(render()?);
        }
        Ok(self)
    }

    /// Gives the check the prompt a text answer generated when no call is left starts from,
    /// whatever `text_answer_without_tools` says: the agent's answer step after tool results
    /// (rendered without tools, as the turn's last step is).
    pub fn with_answer_prompt(mut self, prompt: String) -> Self {
        if !self.call_required {
            self.plain_prompt = Some(prompt);
        }
        self
    }

    /// Where the generation this check runs on will leave what the checks changed.
    pub fn report(&self) -> CheckReportSlot {
        self.report.clone()
    }

    fn schema(&self, name: &str) -> &Value {
        static NO_SCHEMA: Value = Value::Null;
        self.tools
            .definitions()
            .iter()
            .find(|tool| tool.name == name)
            .map_or(&NO_SCHEMA, |tool| &tool.parameters)
    }

    fn grounded(&self, call: &ParsedCall, rule: CallGrounding) -> bool {
        self.grounds
            .call(&call.arguments, self.schema(&call.name), rule)
    }

    /// Whether `call` gives one free string to more of its required arguments than the
    /// conversation writes it, when such calls are dropped (see [`Grounds::copied_values`];
    /// a copy in an optional argument is left out of the call instead, in `as_told`).
    fn copies_a_value(&self, call: &ParsedCall) -> bool {
        self.drop_copied_values
            && self
                .grounds
                .copied_values(&call.arguments, self.schema(&call.name))
                .iter()
                .any(CopiedValue::in_required_arguments)
    }

    /// Whether `call` gives one number the user wrote to more of its required arguments than
    /// the conversation writes it, when such calls are dropped (see
    /// [`Grounds::copied_numbers`]; a copy in an optional argument is left out of the call
    /// instead, in `as_told`).
    fn copies_a_number(&self, call: &ParsedCall) -> bool {
        self.drop_copied_numbers
            && self
                .grounds
                .copied_numbers(&call.arguments, self.schema(&call.name))
                .iter()
                .any(CopiedValue::in_required_arguments)
    }

    fn definition(&self, name: &str) -> Option<&ToolDefinition> {
        self.tools
            .definitions()
            .iter()
            .find(|tool| tool.name == name)
    }

    /// Whether `call`, next to `calls` (which used the values `used`), is of a function the
    /// user's message does not ask for (another function than those called, which the
    /// message neither names nor says anything of that theirs do not, and, with
    /// `asked_by_values`, to which it gives fewer than two values of its own).
    fn not_asked_for(
        &self,
        call: &ParsedCall,
        calls: &[ParsedCall],
        used: &HashSet<String>,
    ) -> bool {
        let Some(asked) = &self.asked else {
            return false;
        };
        if calls.is_empty() || calls.iter().any(|c| c.name == call.name) {
            return false;
        }
        let Some(tool) = self.definition(&call.name) else {
            return false;
        };
        let called: Vec<&ToolDefinition> = calls
            .iter()
            .filter_map(|c| self.definition(&c.name))
            .collect();
        if self.named.contains(&call.name) || asked.asks_for(tool, &called) != Some(false) {
            return false;
        }
        if self.asked_by_values && self.unused_values(call, used) >= VALUES_THAT_ASK {
            tracing::debug!(call = %call.name, arguments = %call.arguments, "a call of a function the message names no word of, asked for by values no other call used");
            return false;
        }
        true
    }

    /// How many distinct values the conversation writes `call` carries that are not among
    /// `used` (the same number given to three arguments is one).
    fn unused_values(&self, call: &ParsedCall, used: &HashSet<String>) -> usize {
        self.grounds
            .found_values(&call.arguments)
            .into_iter()
            .filter(|found| !used.contains(found))
            .collect::<HashSet<String>>()
            .len()
    }
}

/// Starts `request` on `backend` with its calls checked by `check` (see the module's
/// comment). The stream's usage counts the prompt once and every token generated, those of
/// dropped calls and extra attempts included.
pub async fn checked_generation(
    backend: &Arc<dyn Backend>,
    request: GenerationRequest,
    check: CallCheck,
) -> Result<GenerationStream, EngineError> {
    if request.logprobs.is_some() {
        // Log-probabilities describe the tokens sent; a rewritten answer would not match.
        return start_generation(backend, request).await;
    }
    let first = start_generation(backend, request.clone()).await?;
    let (sender, receiver) = mpsc::unbounded_channel();
    let backend = Arc::clone(backend);
    tokio::spawn(async move {
        let checking = Checking {
            backend,
            request,
            check,
            sender: sender.clone(),
            changes: Mutex::new(CheckReport::default()),
        };
        if let Err(err) = checking.run(first).await {
            let _ = sender.send(Err(err));
        }
    });
    Ok(GenerationStream::new(receiver))
}

type Sender = mpsc::UnboundedSender<Result<GenerationEvent, EngineError>>;

struct Checking {
    backend: Arc<dyn Backend>,
    request: GenerationRequest,
    check: CallCheck,
    sender: Sender,
    /// What the checks changed so far (locked for moments, never across an await).
    changes: Mutex<CheckReport>,
}

/// What an answer is, as far as its text so far tells.
#[derive(Debug, PartialEq)]
enum AnswerKind {
    Undecided,
    Text,
    /// Calls, opening at this byte.
    Calls(usize),
}

impl Checking {
    async fn run(self, mut first: GenerationStream) -> Result<(), EngineError> {
        let mut held = String::new();
        let mut passing = false;
        // Text is watched for calls written into it; dropped (and sent as it comes) when off.
        let mut watch = self.check.written_calls.then(|| {
            WrittenCalls::new(
                self.check
                    .tools
                    .definitions()
                    .iter()
                    .map(|d| d.name.as_str()),
            )
        });
        // Pieces generated, and how many of them the text sent so far took.
        let mut pieces: u32 = 0;
        let mut sent_pieces: u32 = 0;
        while let Some(event) = first.next().await {
            match event? {
                GenerationEvent::Text(piece) => {
                    pieces += 1;
                    let piece = if passing {
                        piece
                    } else {
                        held.push_str(&piece);
                        if answer_kind(&held) != AnswerKind::Text {
                            continue;
                        }
                        if !self.check.named.is_empty() {
                            drop(first);
                            return self.finish_named_call(held, pieces).await;
                        }
                        if self
                            .check
                            .echo_of
                            .as_ref()
                            .is_some_and(|m| m.begun_by(&held))
                        {
                            continue;
                        }
                        passing = true;
                        std::mem::take(&mut held)
                    };
                    let sendable = match watch.as_mut() {
                        Some(watch) => watch.push(&piece),
                        None => piece,
                    };
                    if !sendable.is_empty() {
                        sent_pieces = pieces;
                        if self.send(GenerationEvent::Text(sendable)).is_err() {
                            return Ok(());
                        }
                    }
                    if let Some(watch) = watch.as_ref().filter(|w| w.called().is_some()) {
                        // Stops the model's text where it writes the call out.
                        drop(first);
                        let generated = (pieces, sent_pieces);
                        return self.finish_after_written_call(watch, generated, None).await;
                    }
                }
                GenerationEvent::Finished { reason, usage } => {
                    if let Some(watch) = watch.as_mut().filter(|_| passing) {
                        let rest = watch.finish();
                        if watch.called().is_some() {
                            let generated = (pieces, sent_pieces);
                            return self
                                .finish_after_written_call(watch, generated, Some(usage))
                                .await;
                        }
                        held = rest;
                    }
                    let echoed = !passing
                        && reason == FinishReason::Stop
                        && self
                            .check
                            .echo_of
                            .as_ref()
                            .is_some_and(|m| m.whole_in(&held));
                    if echoed {
                        return self.finish_after_echo(held, usage).await;
                    }
                    let (text, reason, usage) = match answer_kind(&held) {
                        AnswerKind::Calls(start) if !passing && reason == FinishReason::Stop => {
                            let checked = self.checked(&held, start, usage).await?;
                            self.leave_report(held);
                            checked
                        }
                        AnswerKind::Calls(start) if !passing && reason == FinishReason::Length => {
                            let answer = self.after_limit(&held, start, usage).await?;
                            self.leave_report(held);
                            answer
                        }
                        _ => (held, reason, usage),
                    };
                    self.send_rest(text, reason, usage);
                    return Ok(());
                }
            }
        }
        Err(EngineError::Stopped(
            "the generation ended without a finish event".into(),
        ))
    }

    /// The answer after a text that wrote a call out (`watch`): calls generated after the text
    /// sent, then checked as the model's own. `generated` is how many pieces (tokens) the
    /// text took, and how many of them were sent; `usage` the text's generation's, when it
    /// ended on its own.
    async fn finish_after_written_call(
        &self,
        watch: &WrittenCalls,
        (pieces, sent_pieces): (u32, u32),
        usage: Option<Usage>,
    ) -> Result<(), EngineError> {
        let sent = watch.sent().to_string();
        let called = watch.called().unwrap_or_default().to_string();
        tracing::info!(tool = %called, "the text answer wrote a call out: asked for the call itself");
        self.note(|changes| changes.call_written_as_text = Some(called));
        let (calls, reason, more) = self.calls_in_place_of_text(sent.clone()).await?;
        // The text's tokens count as generated, not as the follow-up's prompt.
        let usage = Usage {
            prompt_tokens: usage.map_or(more.prompt_tokens.saturating_sub(sent_pieces), |usage| {
                usage.prompt_tokens
            }),
            completion_tokens: pieces + more.completion_tokens,
            ..more
        };
        let answer = format!("{sent}{calls}");
        let opens_calls = calls.trim_start().starts_with(OPEN);
        let (text, reason, usage) = match sent.len() + calls.len() - calls.trim_start().len() {
            start if opens_calls && reason == FinishReason::Stop => {
                self.checked(&answer, start, usage).await?
            }
            _ => (answer, reason, usage),
        };
        // The model's own answer is the text with the call written out, as far as it went.
        self.leave_report(watch.text().to_string());
        let unsent = text.get(sent.len()..).unwrap_or_default().to_string();
        self.send_rest(unsent, reason, usage);
        Ok(())
    }

    /// Calls asked for after `prefix` under the `required` grammar, where the model's text is
    /// not the answer (it wrote a call out, or said the message back): what was generated, how
    /// it ended, its usage.
    async fn calls_in_place_of_text(
        &self,
        prefix: String,
    ) -> Result<(String, FinishReason, Usage), EngineError> {
        let grammar = self
            .check
            .tools
            .grammar(&ToolChoice::Required, self.check.parallel);
        start_generation(&self.backend, self.follow_up(prefix, grammar))
            .await?
            .collect()
            .await
    }

    /// The answer where the model's text (`echo`) only repeated the user's message: calls
    /// asked for in its place, under the `required` grammar, checked as the model's own;
    /// without a valid one, the text stands.
    async fn finish_after_echo(&self, echo: String, usage: Usage) -> Result<(), EngineError> {
        tracing::info!("the text answer repeated the user's message: asked for calls instead");
        self.note(|changes| changes.echo_replaced_by_call = true);
        let (calls, reason, more) = self.calls_in_place_of_text(String::new()).await?;
        let usage = Usage {
            completion_tokens: usage.completion_tokens + more.completion_tokens,
            ..more
        };
        let start = calls.len() - calls.trim_start().len();
        let (text, reason, usage) =
            if calls[start..].starts_with(OPEN) && reason == FinishReason::Stop {
                self.checked(&calls, start, usage).await?
            } else {
                (echo.clone(), FinishReason::Stop, usage)
            };
        self.leave_report(echo);
        self.send_rest(text, reason, usage);
        Ok(())
    }

    /// The answer where the model began a text (`begun`, `pieces` tokens) though the user's
    /// message names offered functions (see `CallCheck::named`): one call of them is asked
    /// for and, when every required value it carries is the conversation's, checked as the
    /// model's own; otherwise the answer is generated again as text.
    async fn finish_named_call(&self, begun: String, pieces: u32) -> Result<(), EngineError> {
        let named = &self.check.named;
        let grammar = self
            .check
            .tools
            .one_call_grammar(&|name: &str| named.iter().any(|n| n == name));
        let (calls, reason, more) =
            start_generation(&self.backend, self.follow_up(String::new(), grammar))
                .await?
                .collect()
                .await?;
        let mut usage = Usage {
            completion_tokens: pieces + more.completion_tokens,
            ..more
        };
        let is_tool = |name: &str| self.check.tools.contains(name);
        let called = parse_output(&calls, &is_tool)
            .calls
            .into_iter()
            .find(|call| {
                self.check.tools.validate(call).is_ok()
                    && self.check.grounded(call, CallGrounding::Every)
            });
        let start = calls.find(OPEN);
        let (text, reason, usage) = match (called, start) {
            (Some(call), Some(start)) if reason == FinishReason::Stop => {
                tracing::info!(call = %call.name, arguments = %call.arguments, "the model began a text answer to a message that names the function: called it");
                self.note(|changes| changes.named_function_called = Some(call.name.clone()));
                self.checked(&calls, start, usage).await?
            }
            _ => {
                tracing::debug!(answer = %calls, "the call of a function the message names carries a value the conversation does not: answering in text");
                self.note(|changes| changes.answered_in_text = true);
                let (answer, reason, more) = self.text_instead("").await?;
                usage.completion_tokens += more.completion_tokens;
                (answer, reason, usage)
            }
        };
        self.leave_report(begun);
        self.send_rest(text, reason, usage);
        Ok(())
    }

    /// Leaves what the checks changed in the check's slot, when they changed anything.
    fn leave_report(&self, model_answer: String) {
        let Ok(mut changes) = self.changes.lock() else {
            return;
        };
        let changes = std::mem::take(&mut *changes);
        if changes.changed_nothing() {
            return;
        }
        self.check.report.put(CheckReport {
            model_answer,
            ..changes
        });
    }

    fn note(&self, change: impl FnOnce(&mut CheckReport)) {
        if let Ok(mut changes) = self.changes.lock() {
            change(&mut changes);
        }
    }

    fn send(&self, event: GenerationEvent) -> Result<(), ()> {
        self.sender.send(Ok(event)).map_err(|_| ())
    }

    /// Sends the answer's `text` not sent yet (when any) and its end. A reader gone away
    /// needs nothing more.
    fn send_rest(&self, text: String, reason: FinishReason, usage: Usage) {
        if !text.is_empty() {
            let _ = self.send(GenerationEvent::Text(text));
        }
        let _ = self.send(GenerationEvent::Finished { reason, usage });
    }

    /// The answer `text` (calls from byte `start`) that the token limit cut inside its last
    /// call. The cut stays a cut (`length`, so that a client knows to allow more tokens)
    /// unless what the call had written fails the grounding rule (`call_grounding`: by
    /// default, no required value it wrote is the conversation's): then the model was
    /// making a call up, not running out of room, and the calls before it
    /// are checked as an answer of their own, or the answer is generated as text (rather
    /// than leaving the user nothing).
    async fn after_limit(
        &self,
        text: &str,
        start: usize,
        usage: Usage,
    ) -> Result<(String, FinishReason, Usage), EngineError> {
        let is_tool = |name: &str| self.check.tools.contains(name);
        let Some(cut_at) = text.rfind(OPEN) else {
            return Ok((text.to_string(), FinishReason::Length, usage));
        };
        let whole = parse_output(&text[..cut_at], &is_tool).calls.len();
        // The closed text's last call is the cut one only when it reads as one more call.
        let invented = close_cut_call(text).and_then(|closed| {
            let mut calls = parse_output(&closed, &is_tool).calls;
            (calls.len() == whole + 1)
                .then(|| calls.pop())
                .flatten()
                .filter(|call| !self.check.grounded(call, self.check.grounding))
        });
        let Some(cut) = invented else {
            return Ok((text.to_string(), FinishReason::Length, usage));
        };
        tracing::info!(call = %cut.name, arguments = %cut.arguments, "the token limit cut a call whose values are not the conversation's: left it out");
        self.note(|changes| {
            changes
                .dropped
                .push(CheckedCall::new(&cut, "cut_not_in_conversation"))
        });
        self.checked(&text[..cut_at], start.min(cut_at), usage)
            .await
    }

    /// The answer `text` (calls from byte `start`) after the checks.
    async fn checked(
        &self,
        text: &str,
        start: usize,
        mut usage: Usage,
    ) -> Result<(String, FinishReason, Usage), EngineError> {
        let prefix = &text[..start];
        let is_tool = |name: &str| self.check.tools.contains(name);
        let closed = close_cut_call(text);
        if closed.is_some() {
            tracing::info!(
                "the generation was stopped inside a call: closed it after its last complete value"
            );
            self.note(|changes| changes.closed_cut_call = true);
        }
        let text = closed.as_deref().unwrap_or(text);
        let (calls, incomplete): (Vec<ParsedCall>, Vec<ParsedCall>) = parse_output(text, &is_tool)
            .calls
            .into_iter()
            .map(|call| {
                let (call, rescaled) = self.as_written(call);
                self.note(|changes| changes.rescaled_arguments.extend(rescaled));
                call
            })
            // A closed call may lack what the model had not written yet.
            .partition(|call| closed.is_none() || self.check.tools.validate(call).is_ok());
        self.note(|changes| {
            changes.dropped.extend(
                incomplete
                    .iter()
                    .map(|call| CheckedCall::new(call, "incomplete")),
            );
        });
        let calls = dedupe_calls(calls);
        let made = calls.len();
        if usage.redirected_start {
            self.note(|changes| changes.redirected_start = true);
        }
        let (kept, ungrounded): (Vec<ParsedCall>, Vec<ParsedCall>) = calls
            .into_iter()
            .partition(|call| self.check.grounded(call, self.check.grounding));
        let (kept, copying): (Vec<ParsedCall>, Vec<ParsedCall>) = kept
            .into_iter()
            .partition(|call| !self.check.copies_a_value(call));
        let (kept, copying_numbers): (Vec<ParsedCall>, Vec<ParsedCall>) = kept
            .into_iter()
            .partition(|call| !self.check.copies_a_number(call));
        // A lone call whose required arguments share a number may be what the user meant ("a
        // square of side 4": `length: 4, width: 4`): only a call beside others is dropped.
        let (kept, copying_numbers) = if kept.is_empty() {
            (copying_numbers, Vec::new())
        } else {
            (kept, copying_numbers)
        };
        let (mut kept, unrelated) = if self.asks_for_none_of(&kept).await {
            (Vec::new(), kept)
        } else {
            (kept, Vec::new())
        };
        self.note(|changes| {
            changes.dropped.extend(
                ungrounded
                    .iter()
                    .map(|call| CheckedCall::new(call, "not_in_conversation"))
                    .chain(
                        copying
                            .iter()
                            .map(|call| CheckedCall::new(call, "copied_value")),
                    )
                    .chain(
                        copying_numbers
                            .iter()
                            .map(|call| CheckedCall::new(call, "copied_number")),
                    )
                    .chain(
                        unrelated
                            .iter()
                            .map(|call| CheckedCall::new(call, "unrelated_to_request")),
                    ),
            );
        });
        for (dropped, reason) in [
            (&ungrounded, "not_in_conversation"),
            (&copying, "copied_value"),
            (&copying_numbers, "copied_number"),
            (&unrelated, "unrelated_to_request"),
        ] {
            for call in dropped {
                tracing::debug!(call = %call.name, arguments = %call.arguments, reason, "dropped a call");
            }
        }
        // Calls cut short and nothing else: the model wanted a call and ran on in it.
        let ran_on = made == 0 && !incomplete.is_empty();
        if kept.is_empty() && (ran_on || self.check.call_required) {
            let (call, tokens) = self.bounded_call(prefix).await?;
            usage.completion_tokens += tokens;
            kept.extend(call.filter(|call| {
                self.check.grounded(call, self.check.grounding) && !self.check.copies_a_value(call)
            }));
        }
        // Every call copied a value: the model may still want another tool ("the price of
        // tomatoes at the Whole Foods in Los Angeles" after a drive from Los Angeles to itself).
        if kept.is_empty() && !copying.is_empty() {
            let (call, tokens) = self.instead_of_copies(prefix, &copying).await?;
            usage.completion_tokens += tokens;
            if let Some(call) = call {
                self.note(|changes| {
                    changes
                        .added
                        .push(CheckedCall::new(&call, "instead_of_copy"))
                });
                kept.push(call);
            }
        }
        // No call read at all (one cut short past mending) is no answer either.
        if kept.is_empty() {
            if self.check.call_required {
                return Err(EngineError::NoValidCall);
            }
            tracing::info!(
                calls = made,
                "no call is left (none read, or none whose required values are in the conversation, each copying a value, or of a function the message does not ask for): answering in text"
            );
            self.note(|changes| changes.answered_in_text = true);
            let (answer, reason, more) = self.text_instead(prefix).await?;
            usage.completion_tokens += more.completion_tokens;
            return Ok((format!("{prefix}{answer}"), reason, usage));
        }
        if kept.len() < made {
            tracing::info!(
                dropped = made - kept.len(),
                "dropped calls whose required values are not in the conversation or that copy a value"
            );
        }
        let (mut calls, used) = self.each_new(kept);
        if (self.check.probe || self.check.members) && !calls.is_empty() {
            let more = self.more_calls(prefix, &mut calls, used).await?;
            usage.completion_tokens += more;
        }
        // After the calls asked for: a choice's own call may differ in more than the choice
        // ("stage 7 in easy mode and stage 3 in hard mode"), which the model writes itself.
        self.set_flags_as_written(&mut calls);
        self.pair_in_order(&mut calls);
        self.add_named_choices(&mut calls);
        self.split_variants(&mut calls);
        self.add_flags_both_ways(&mut calls);
        self.add_companion_calls(&mut calls);
        self.add_list_combinations(&mut calls);
        if self.check.city_with_state {
            usage.completion_tokens += self.with_states(prefix, &mut calls).await?;
        }
        self.drop_parts_of_earlier_values(&mut calls);
        self.place_values(&mut calls);
        self.percentages_beside_plain_numbers(&mut calls);
        self.give_named_choices(&mut calls);
        Ok((
            format!("{prefix}{}", render_calls(&calls)),
            FinishReason::Stop,
            usage,
        ))
    }

    /// Whether the user's message reads as a request for none of the functions of `calls`,
    /// when the relevance check is on.
    async fn asks_for_none_of(&self, calls: &[ParsedCall]) -> bool {
        let Some(relevance) = &self.check.relevance else {
            return false;
        };
        // The message names the function, and the call carries its values alone.
        if calls.iter().any(|call| {
            self.check.named.contains(&call.name) && self.check.grounded(call, CallGrounding::Every)
        }) {
            return false;
        }
        let mut functions: Vec<CalledFunction<'_>> = Vec::new();
        for call in calls {
            let Some(tool) = self.check.definition(&call.name) else {
                continue;
            };
            let grounds = &self.check.grounds;
            let schema = self.check.schema(&call.name);
            let invented = grounds.invents_a_required_value(&call.arguments, schema);
            let invented_number = grounds.invents_a_required_number(&call.arguments, schema);
            match functions.iter_mut().find(|f| f.tool.name == tool.name) {
                Some(function) => {
                    function.invented &= invented;
                    function.invented_number &= invented_number;
                }
                None => functions.push(CalledFunction {
                    tool,
                    invented,
                    invented_number,
                }),
            }
        }
        let Some(scores) = relevance.asks_for_none(&self.backend, &functions).await else {
            return false;
        };
        for function in &scores {
            tracing::info!(
                function = %function.name,
                score = function.score,
                "the message does not read as a request for the function called"
            );
        }
        true
    }

    /// `calls` less each whose only values new to the calls before it are strings each part
    /// of the value an earlier call of its function gave the same argument ("Boreal Forests"
    /// after "Boreal Forests of Canada", "Pan" after "Pan troglodytes"): the same value cut
    /// short, not another one.
    fn drop_parts_of_earlier_values(&self, calls: &mut Vec<ParsedCall>) {
        if !self.check.parts_not_new {
            return;
        }
        let mut kept: Vec<ParsedCall> = Vec::with_capacity(calls.len());
        for call in calls.drain(..) {
            if self.only_parts_of_earlier_values(&call, &kept) {
                tracing::debug!(call = %call.name, arguments = %call.arguments, "dropped a call whose only new values are parts of earlier ones");
                self.note(|changes| {
                    changes
                        .dropped
                        .push(CheckedCall::new(&call, "part_of_earlier_value"))
                });
            } else {
                kept.push(call);
            }
        }
        *calls = kept;
    }

    /// Whether `call` brings values of the request that `earlier` calls did not use, each a
    /// string standing as whole words inside (and short of) the value an earlier call of its
    /// function gave the same argument.
    fn only_parts_of_earlier_values(&self, call: &ParsedCall, earlier: &[ParsedCall]) -> bool {
        let grounds = &self.check.grounds;
        let used: HashSet<String> = earlier
            .iter()
            .flat_map(|c| grounds.found_values(&c.arguments))
            .collect();
        let Some(arguments) = call.arguments.as_object() else {
            return false;
        };
        let mut brings_new = false;
        for (name, value) in arguments {
            let new = grounds
                .found_values(value)
                .iter()
                .any(|key| !used.contains(key));
            if !new {
                continue;
            }
            brings_new = true;
            let Some(text) = value.as_str() else {
                return false;
            };
            let part_of_earlier = earlier
                .iter()
                .filter(|c| c.name == call.name)
                .filter_map(|c| c.arguments.get(name)?.as_str())
                .any(|whole| part_of(text, whole));
            if !part_of_earlier {
                return false;
            }
        }
        brings_new
    }

    /// Swaps back the values two calls of different functions hold the wrong way round, and
    /// leaves out of calls of one function an optional value written for another, as where
    /// the user wrote them tells (see [`Placement`]).
    fn place_values(&self, calls: &mut [ParsedCall]) {
        let Some(placement) = &self.check.placement else {
            return;
        };
        let valid = |call: &ParsedCall| self.check.tools.validate(call).is_ok();
        if self.check.values_beside_functions {
            for swap in placement.give_values_back(calls, valid) {
                let (first, second) = (&calls[swap.first], &calls[swap.second]);
                tracing::debug!(first = %first.name, second = %second.name, argument = %swap.argument, "gave two calls' values back to the functions the message writes them beside");
                let rewritten = |to: &ParsedCall, from: &ParsedCall| RewrittenArgument {
                    function: to.name.clone(),
                    argument: swap.argument.clone(),
                    value: from.arguments[&swap.argument].clone(),
                    written: to.arguments[&swap.argument].clone(),
                    reason: "beside_its_function",
                };
                let both = [rewritten(first, second), rewritten(second, first)];
                self.note(|changes| changes.rewritten_arguments.extend(both));
            }
        }
        if self.check.stray_optionals {
            let optional = |function: &str, argument: &str| {
                !required_names(self.check.schema(function)).contains(&argument)
            };
            for stray in placement.leave_out_stray_optionals(calls, optional, valid) {
                let function = calls[stray.call].name.clone();
                tracing::debug!(call = %function, argument = %stray.argument, "left out an optional value written in another call's sentence");
                self.note(|changes| {
                    changes.dropped_arguments.push(DroppedArgument {
                        function,
                        argument: stray.argument,
                        value: stray.value,
                        reason: "another_calls_sentence",
                    })
                });
            }
        }
        if self.check.list_items_in_parts {
            for list in placement.keep_list_items_in_their_parts(calls, valid) {
                let call = &calls[list.call];
                let value = call.arguments[&list.argument].clone();
                tracing::debug!(call = %call.name, argument = %list.argument, written = %list.written, %value, "held a list to the items its part of the message names");
                let rewritten = RewrittenArgument {
                    function: call.name.clone(),
                    argument: list.argument,
                    value: list.written,
                    written: value,
                    reason: "items_of_its_part",
                };
                self.note(|changes| changes.rewritten_arguments.push(rewritten));
            }
        }
        if self.check.flags_in_parts {
            self.set_flags_in_their_parts(placement, calls);
        }
    }

    /// Sets a boolean argument of each call of a function called more than once as the
    /// call's own part of the message writes a word of its name (see
    /// [`FlagMentions::as_written`] and [`Placement::call_parts`]): "The first case … I would
    /// also like the verdict details. The second case … I do not need the verdict details"
    /// is `with_verdict: true` in the first call and `false` in the second, where the whole
    /// message writes the word both ways. A call that leaves the flag out is left.
    fn set_flags_in_their_parts(&self, placement: &Placement, calls: &mut [ParsedCall]) {
        for group in placement.call_parts(calls) {
            for (at, part) in group {
                let function = calls[at].name.clone();
                let Some(properties) = self
                    .check
                    .schema(&function)
                    .get("properties")
                    .and_then(Value::as_object)
                else {
                    continue;
                };
                let mentions = FlagMentions::new(&part);
                for (name, property) in properties {
                    if property.get("type").and_then(Value::as_str) != Some("boolean") {
                        continue;
                    }
                    let Some(held) = calls[at].arguments.get(name).and_then(Value::as_bool) else {
                        continue;
                    };
                    if mentions.as_written(name, &function) != Some(!held) {
                        continue;
                    }
                    self.set_flag(&mut calls[at], name, !held, "flag_in_its_part");
                }
            }
        }
    }

    /// `calls` less those that bring nothing the earlier ones did not (the same request
    /// again with other made-up values, or every tool called with the same values), and the
    /// values of the request the kept ones used.
    fn each_new(&self, calls: Vec<ParsedCall>) -> (Vec<ParsedCall>, HashSet<String>) {
        let mut kept: Vec<ParsedCall> = Vec::with_capacity(calls.len());
        let mut used = HashSet::new();
        for call in calls {
            if self.check.not_asked_for(&call, &kept, &used) {
                tracing::debug!(call = %call.name, arguments = %call.arguments, "dropped a call of a function the request does not ask for");
                self.note(|changes| {
                    changes
                        .dropped
                        .push(CheckedCall::new(&call, "not_asked_for"))
                });
                continue;
            }
            let new = self.new_values(&call, &kept, &used, true);
            let new_member = || {
                let new_member = self.new_member_of_its_function(&call, &kept);
                if new_member {
                    tracing::debug!(call = %call.name, arguments = %call.arguments, "kept a call for a member of a list new to its function");
                }
                new_member
            };
            if kept.is_empty() || !new.is_empty() || new_member() {
                used.extend(new);
                used.extend(self.check.grounds.found_values(&call.arguments));
                self.keep(call, &mut kept, None);
            } else {
                tracing::debug!(call = %call.name, arguments = %call.arguments, "dropped a call that brought nothing new");
                self.note(|changes| changes.dropped.push(CheckedCall::new(&call, "nothing_new")));
            }
        }
        (kept, used)
    }

    /// `calls` with, after them, each call that chose one of an enum's values the user's
    /// message names beside others no call chose made again for each of those (see
    /// [`NamedChoices`]): "the status and trial date" of two cases is four calls. Added up to
    /// [`MAX_PROBED_CALLS`], each valid against its tool's schema.
    fn add_named_choices(&self, calls: &mut Vec<ParsedCall>) {
        let Some(choices) = &self.check.choices else {
            return;
        };
        let made = calls.len();
        for at in 0..made {
            let call = calls[at].clone();
            let chosen = |argument: &str| -> Vec<Value> {
                calls[..made]
                    .iter()
                    .filter(|c| c.name == call.name)
                    .filter_map(|c| c.arguments.get(argument).cloned())
                    .collect()
            };
            let others =
                choices.others_named(&call.arguments, self.check.schema(&call.name), &chosen);
            for (argument, values) in others {
                for value in values {
                    if calls.len() >= MAX_PROBED_CALLS {
                        return;
                    }
                    let mut copy = call.clone();
                    copy.arguments[&argument] = value;
                    if calls.contains(&copy) || self.check.tools.validate(&copy).is_err() {
                        continue;
                    }
                    tracing::debug!(call = %copy.name, arguments = %copy.arguments, "the call made again for another choice the user named");
                    self.note(|changes| {
                        changes.added.push(CheckedCall::new(&copy, "named_choice"))
                    });
                    calls.push(copy);
                }
            }
        }
    }

    /// Each lone call whose optional values the user's message writes in different requests,
    /// each later one a variant of one before ("then fetch the same sequence again but this
    /// time in 'genbank' format, and finally once more but now with 500 base pairs
    /// upstream"), made one call per request (see [`calls_per_variant`]): the first in the
    /// call's place, its options the others take reported left out, the others added after
    /// the calls. Only where every call is valid against the tool's schema and they fit in
    /// [`MAX_PROBED_CALLS`].
    fn split_variants(&self, calls: &mut Vec<ParsedCall>) {
        let Some(message) = &self.check.variants else {
            return;
        };
        let made = calls.len();
        for at in 0..made {
            let call = &calls[at];
            if !alone_of_its_function(&calls[..made], &call.name) {
                continue;
            }
            let schema = self.check.schema(&call.name);
            let Some(variants) = calls_per_variant(message, &call.arguments, schema) else {
                continue;
            };
            let variants: Vec<ParsedCall> = variants
                .into_iter()
                .map(|arguments| ParsedCall {
                    name: call.name.clone(),
                    arguments,
                })
                .collect();
            let fits = calls.len() + variants.len() - 1 <= MAX_PROBED_CALLS;
            if !fits
                || variants
                    .iter()
                    .any(|v| self.check.tools.validate(v).is_err())
            {
                continue;
            }
            let mut variants = variants.into_iter();
            let Some(first) = variants.next() else {
                continue;
            };
            let dropped: Vec<DroppedArgument> = call
                .arguments
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(name, _)| first.arguments.get(name.as_str()).is_none())
                .map(|(name, value)| DroppedArgument {
                    function: call.name.clone(),
                    argument: name.clone(),
                    value: value.clone(),
                    reason: "another_variant",
                })
                .collect();
            tracing::debug!(call = %call.name, arguments = %call.arguments, "made a call per request the message writes its options in");
            self.note(|changes| changes.dropped_arguments.extend(dropped));
            calls[at] = first;
            for variant in variants {
                self.note(|changes| changes.added.push(CheckedCall::new(&variant, "variant")));
                calls.push(variant);
            }
        }
    }

    /// `calls` with each boolean argument that every call of its function sets one way set
    /// the other, where the user's message writes a word of its name only that other way
    /// (see [`FlagMentions::as_written`]): "the population and species of turtles" asks for
    /// `species: true`. Calls of one function that set a flag differently had each its own
    /// part of the message ("as a decimal … this time as a ratio") and are left. A flag that
    /// every call of its function leaves out is set on where the message asks for it (see
    /// [`FlagMentions::asks_on`]): "please include a brief description of each protein".
    fn set_flags_as_written(&self, calls: &mut [ParsedCall]) {
        let Some(mentions) = &self.check.flags_written else {
            return;
        };
        let functions: BTreeSet<String> = calls.iter().map(|call| call.name.clone()).collect();
        for function in functions {
            let Some(properties) = self
                .check
                .schema(&function)
                .get("properties")
                .and_then(Value::as_object)
            else {
                continue;
            };
            for (name, property) in properties {
                if property.get("type").and_then(Value::as_str) != Some("boolean") {
                    continue;
                }
                let values: BTreeSet<Option<bool>> = calls
                    .iter()
                    .filter(|call| call.name == function)
                    .map(|call| call.arguments.get(name).and_then(Value::as_bool))
                    .collect();
                let (set, reason) = match values.into_iter().collect::<Vec<_>>()[..] {
                    [Some(held)] if self.check.flags_as_written => {
                        if mentions.as_written(name, &function) != Some(!held) {
                            continue;
                        }
                        (!held, "flag_as_written")
                    }
                    [None] if self.check.flags_asked => {
                        let asked = self
                            .check
                            .definition(&function)
                            .is_some_and(|tool| mentions.asks_on(tool, name));
                        if !asked {
                            continue;
                        }
                        (true, "flag_asked_for")
                    }
                    _ => continue,
                };
                for call in calls.iter_mut().filter(|call| call.name == function) {
                    self.set_flag(call, name, set, reason);
                }
            }
        }
    }

    /// Sets the boolean argument `name` of `call` to `value` where the call stays valid, and
    /// reports it as rewritten for `reason` (an argument the call left out as `null`).
    fn set_flag(&self, call: &mut ParsedCall, name: &str, value: bool, reason: &'static str) {
        let mut told = call.clone();
        let Some(arguments) = told.arguments.as_object_mut() else {
            return;
        };
        let held = arguments
            .insert(name.to_string(), Value::Bool(value))
            .unwrap_or(Value::Null);
        if self.check.tools.validate(&told).is_err() {
            return;
        }
        tracing::debug!(call = %call.name, argument = %name, value, reason, "set a flag as the user's message writes it");
        self.note(|changes| {
            changes.rewritten_arguments.push(RewrittenArgument {
                function: call.name.clone(),
                argument: name.to_string(),
                value: held,
                written: Value::Bool(value),
                reason,
            })
        });
        *call = told;
    }

    /// `calls` with, after the one call of a function, the same call with a boolean argument
    /// the other way where the user's message asks for that flag both on and off (see
    /// [`FlagMentions::both_ways`]): "is isothermal … what if it is not isothermal" is two
    /// calls. Where a function has several calls, each has its own part of the message
    /// ("the verdict for this case … I do not need the verdict for that one") and is left.
    /// One flag per call, valid against its tool's schema, up to [`MAX_PROBED_CALLS`].
    fn add_flags_both_ways(&self, calls: &mut Vec<ParsedCall>) {
        let Some(mentions) = &self.check.flag_mentions else {
            return;
        };
        let made = calls.len();
        for at in 0..made {
            if calls.len() >= MAX_PROBED_CALLS {
                return;
            }
            let call = &calls[at];
            if !alone_of_its_function(&calls[..made], &call.name) {
                continue;
            }
            let Some(properties) = self
                .check
                .schema(&call.name)
                .get("properties")
                .and_then(Value::as_object)
            else {
                continue;
            };
            let flag = properties.iter().find(|(name, property)| {
                property.get("type").and_then(Value::as_str) == Some("boolean")
                    && mentions.both_ways(name)
            });
            let Some((name, property)) = flag else {
                continue;
            };
            let set = call
                .arguments
                .get(name)
                .and_then(Value::as_bool)
                .unwrap_or_else(|| flag_default(property));
            let mut copy = call.clone();
            copy.arguments[name.as_str()] = Value::Bool(!set);
            if self.check.tools.validate(&copy).is_err() {
                continue;
            }
            tracing::debug!(call = %copy.name, arguments = %copy.arguments, "the call made again with a flag the user asked for both on and off");
            self.note(|changes| {
                changes
                    .added
                    .push(CheckedCall::new(&copy, "flag_both_ways"))
            });
            calls.push(copy);
        }
    }

    /// `calls` with, after them, the calls of a function called with another's values made
    /// again for that other's other values, where the message names it after them (see
    /// [`companion_calls`]): "the origin of Buddhism, then of Hinduism, and the core beliefs
    /// of both". Each valid against its tool's schema, up to [`MAX_PROBED_CALLS`].
    fn add_companion_calls(&self, calls: &mut Vec<ParsedCall>) {
        let Some(message) = &self.check.companions else {
            return;
        };
        for call in companion_calls(message, calls) {
            if calls.len() >= MAX_PROBED_CALLS {
                return;
            }
            if self.check.tools.validate(&call).is_err() {
                continue;
            }
            tracing::debug!(call = %call.name, arguments = %call.arguments, "a function called with another's values called again for that other's other values");
            self.note(|changes| changes.added.push(CheckedCall::new(&call, "companion")));
            calls.push(call);
        }
    }

    /// Where the message pairs its lists member by member ("Barcelona and Manchester United
    /// in the Champions League and La Liga respectively"), each call of a function that fills
    /// two arguments from two lists with as many members, holding a crossed pair (Manchester
    /// United in the Champions League), is given a pair the message writes that no call made
    /// yet, by setting either of its two values; where both are made, it is dropped.
    fn pair_in_order(&self, calls: &mut Vec<ParsedCall>) {
        let Some(lists) = self
            .check
            .lists
            .as_ref()
            .filter(|_| self.check.paired_in_order)
        else {
            return;
        };
        if calls.len() < 2 || !lists.paired() {
            return;
        }
        for (function, of_function) in calls_by_function(calls) {
            let Some(((first, firsts), (second, seconds))) =
                two_listed_arguments(lists, &of_function)
            else {
                continue;
            };
            if firsts.len() != seconds.len() {
                continue;
            }
            let (Some(firsts), Some(seconds)) = (
                lists.in_written_order(&firsts),
                lists.in_written_order(&seconds),
            ) else {
                continue;
            };
            let place = |members: &[Value], call: &ParsedCall, argument: &str| {
                let value = call.arguments.get(argument)?;
                members.iter().position(|member| same_member(member, value))
            };
            let made = |calls: &[ParsedCall], at: usize| {
                calls.iter().any(|call| {
                    call.name == function
                        && place(&firsts, call, &first) == Some(at)
                        && place(&seconds, call, &second) == Some(at)
                })
            };
            let mut index = 0;
            while index < calls.len() {
                let call = &calls[index];
                let (Some(at_first), Some(at_second)) = (
                    place(&firsts, call, &first).filter(|_| call.name == function),
                    place(&seconds, call, &second),
                ) else {
                    index += 1;
                    continue;
                };
                if at_first == at_second {
                    index += 1;
                    continue;
                }
                // Set the second value to the first's partner, or the first to the second's.
                let candidates = [
                    (at_first, &second, &seconds[at_first]),
                    (at_second, &first, &firsts[at_second]),
                ];
                let paired = candidates.into_iter().find_map(|(at, argument, member)| {
                    if made(calls, at) {
                        return None;
                    }
                    let mut paired = call.clone();
                    paired.arguments[argument.as_str()] = member.clone();
                    self.check
                        .tools
                        .validate(&paired)
                        .is_ok()
                        .then(|| (paired, argument.clone()))
                });
                match paired {
                    Some((paired, argument)) => {
                        tracing::debug!(call = %paired.name, arguments = %paired.arguments, "gave a crossed call the pair the message writes");
                        let rewritten = RewrittenArgument {
                            function: function.clone(),
                            argument: argument.clone(),
                            value: call.arguments[argument.as_str()].clone(),
                            written: paired.arguments[argument.as_str()].clone(),
                            reason: "paired_in_order",
                        };
                        self.note(|changes| changes.rewritten_arguments.push(rewritten));
                        calls[index] = paired;
                        index += 1;
                    }
                    None if made(calls, at_first) && made(calls, at_second) => {
                        tracing::debug!(call = %call.name, arguments = %call.arguments, "dropped a crossed call whose pairs are both made");
                        let dropped = CheckedCall::new(call, "crossed_pair");
                        self.note(|changes| changes.dropped.push(dropped));
                        calls.remove(index);
                    }
                    None => index += 1,
                }
            }
        }
    }

    /// `calls` with the pairings two lists of the user's message ask for, each member with
    /// each: where the calls of one function give one argument two or more members of one
    /// list and another argument members of another, each missing pairing is a call
    /// ("the Lakers and the Bulls in 2018 and 2020" is four calls, whatever two the model
    /// made), copied from one with the first member and the second set; not when the message
    /// pairs its lists ("respectively"). Up to [`MAX_PROBED_CALLS`], each valid.
    fn add_list_combinations(&self, calls: &mut Vec<ParsedCall>) {
        let Some(lists) = self
            .check
            .lists
            .as_ref()
            .filter(|_| self.check.combinations)
        else {
            return;
        };
        if calls.len() < 2 || lists.paired() {
            return;
        }
        for (function, of_function) in calls_by_function(calls) {
            let Some(((first, firsts), (second, seconds))) =
                two_listed_arguments(lists, &of_function)
            else {
                continue;
            };
            for a in &firsts {
                for b in &seconds {
                    if calls.len() >= MAX_PROBED_CALLS {
                        return;
                    }
                    let made = |call: &ParsedCall| {
                        call.name == function
                            && call
                                .arguments
                                .get(&first)
                                .is_some_and(|v| same_member(v, a))
                            && call
                                .arguments
                                .get(&second)
                                .is_some_and(|v| same_member(v, b))
                    };
                    if calls.iter().any(made) {
                        continue;
                    }
                    let Some(base) = of_function.iter().find(|call| {
                        call.arguments
                            .get(&first)
                            .is_some_and(|v| same_member(v, a))
                    }) else {
                        continue;
                    };
                    let mut combined = base.clone();
                    combined.arguments[&second] = b.clone();
                    if self.check.tools.validate(&combined).is_err() {
                        continue;
                    }
                    tracing::debug!(call = %combined.name, arguments = %combined.arguments, "a pairing of two lists the user wrote");
                    self.note(|changes| {
                        changes
                            .added
                            .push(CheckedCall::new(&combined, "list_combination"))
                    });
                    calls.push(combined);
                }
            }
        }
    }

    /// A further generation of this request: its prompt continued by `continuation`, under
    /// `grammar`, held until it ends, ahead of new requests in the engine's queue.
    fn follow_up(&self, continuation: String, grammar: String) -> GenerationRequest {
        GenerationRequest {
            prompt: format!("{}{continuation}", self.request.prompt),
            grammar: Some(grammar),
            logit_bias: Vec::new(),
            instead_of_refused_start: None,
            buffered: true,
            follow_up: true,
            ..self.request.clone()
        }
    }

    /// The answer generated again with no call allowed, after `prefix` (the reasoning), from
    /// the conversation without tools when the caller rendered it.
    async fn text_instead(
        &self,
        prefix: &str,
    ) -> Result<(String, FinishReason, Usage), EngineError> {
        let grammar = self.check.tools.grammar(&ToolChoice::None, false);
        let with_tools = self.follow_up(prefix.to_string(), grammar);
        let Some(plain) = &self.check.plain_prompt else {
            return start_generation(&self.backend, with_tools)
                .await?
                .collect()
                .await;
        };
        let request = GenerationRequest {
            prompt: format!("{plain}{prefix}"),
            ..with_tools.clone()
        };
        let (text, reason, usage) = start_generation(&self.backend, request)
            .await?
            .collect()
            .await?;
        if !text.trim().is_empty() {
            return Ok((text, reason, usage));
        }
        // Without its tools the model sometimes ends at once; an empty answer is none.
        let (text, reason, more) = start_generation(&self.backend, with_tools)
            .await?
            .collect()
            .await?;
        Ok((
            text,
            reason,
            Usage {
                completion_tokens: usage.completion_tokens + more.completion_tokens,
                ..more
            },
        ))
    }

    /// One call of an allowed tool, asked for again after `prefix` (the reasoning) with the
    /// free strings and lists of the schemas bounded, so that the model cannot run on in
    /// one; the call (when it is valid) and the tokens spent.
    async fn bounded_call(&self, prefix: &str) -> Result<(Option<ParsedCall>, u32), EngineError> {
        self.note(|changes| changes.asked_bounded_call = true);
        let allowed = |name: &str| self.check.only.as_deref().is_none_or(|only| only == name);
        let grammar = self
            .check
            .tools
            .bounded_call_grammar(&allowed, BOUNDED_VALUES);
        let request = GenerationRequest {
            // The bounds end every value; the loop check would stop a repetition inside one
            // as it stopped the model's own answer.
            loop_check: false,
            ..self.follow_up(prefix.to_string(), grammar)
        };
        let (text, reason, usage) = start_generation(&self.backend, request)
            .await?
            .collect()
            .await?;
        let is_tool = |name: &str| self.check.tools.contains(name);
        let stopped = reason == FinishReason::Stop;
        let (output, _) = parse_answer(&text, stopped, &is_tool, &self.check.tools);
        let call = output
            .calls
            .into_iter()
            .next()
            .filter(|call| stopped && self.check.tools.validate(call).is_ok())
            .map(|call| {
                let (call, rescaled) = self.as_written(call);
                self.note(|changes| {
                    changes.rescaled_arguments.extend(rescaled);
                    changes.added.push(CheckedCall::new(&call, "bounded"));
                });
                call
            });
        tracing::info!(
            valid = call.is_some(),
            "no valid call was written: asked for one again with its free values bounded"
        );
        Ok((call, usage.completion_tokens))
    }

    /// Asks for one more call after `calls` until none is kept; returns the tokens spent.
    /// Greedy decoding tends to copy the call just made, so when the call asked for among all
    /// tools is not kept, one among the tools not called yet is asked for (the second part
    /// of "do this, and also that").
    async fn more_calls(
        &self,
        prefix: &str,
        calls: &mut Vec<ParsedCall>,
        mut used: HashSet<String>,
    ) -> Result<u32, EngineError> {
        let mut spent = 0;
        let allowed = |name: &str| self.check.only.as_deref().is_none_or(|only| only == name);
        let mut tried = HashSet::new();
        let mut steered = HashSet::new();
        'calls: while calls.len() < MAX_PROBED_CALLS {
            while let Some(listed) = self.listed_call(calls, &used, &tried) {
                let grammar = self.check.tools.pinned_call_grammar(
                    &listed.function,
                    &listed.argument,
                    &listed.value,
                );
                let used_elsewhere = used.contains(&listed.key.2);
                tried.insert(listed.key);
                let Some(grammar) = grammar else {
                    continue;
                };
                let mut used_here = self.used_by_function(calls, &listed.function, &used);
                let (kept, tokens) = self
                    .extra_call(prefix, calls, &mut used_here, grammar, ExtraCall::Listed)
                    .await?;
                spent += tokens;
                if kept {
                    if used_elsewhere {
                        tracing::debug!(call = %listed.function, argument = %listed.argument, "asked for a member of a list another function used");
                    }
                    used.extend(used_here);
                    continue 'calls;
                }
            }
            if !self.check.probe {
                break;
            }
            let called: HashSet<String> = calls.iter().map(|c| c.name.clone()).collect();
            let not_called = |name: &str| allowed(name) && !called.contains(name);
            let any_not_called = self
                .check
                .tools
                .definitions()
                .iter()
                .any(|tool| not_called(&tool.name));
            let choices: [&(dyn Fn(&str) -> bool + Sync); 2] = [&allowed, &not_called];
            for (attempt, admits) in
                choices
                    .into_iter()
                    .enumerate()
                    .take(if any_not_called { 2 } else { 1 })
            {
                let grammar = self.check.tools.one_call_grammar(admits);
                // A function the model was made to pick must bring values of its own, unless
                // the message asks for it: its name alone echoes words of related requests.
                let by_name = attempt == 0 || self.check.other_functions_by_name;
                let (kept, tokens) = self
                    .extra_call(
                        prefix,
                        calls,
                        &mut used,
                        grammar,
                        ExtraCall::Asked { by_name },
                    )
                    .await?;
                spent += tokens;
                if kept {
                    continue 'calls;
                }
            }
            // Nothing new among all tools nor those not called: the model copied.
            for steering in [
                Self::steer,
                Self::steer_to_unused_number,
                Self::steer_to_unused_name,
            ] {
                let Some(steer) = steering(self, calls, &used, &mut steered) else {
                    continue;
                };
                let (kept, tokens) = self
                    .extra_call(
                        prefix,
                        calls,
                        &mut used,
                        steer.grammar.clone(),
                        ExtraCall::Steered(&steer),
                    )
                    .await?;
                spent += tokens;
                if kept {
                    continue 'calls;
                }
            }
            break;
        }
        Ok(spent)
    }

    /// Asks for one more call after `calls` under `grammar` and keeps it (added as `kind`
    /// says) when it brings a value of the request no call used (or, asked `by_name`, is
    /// another function the request names) and, steered, its held argument took another
    /// value the user wrote; whether it was kept, and the tokens spent.
    async fn extra_call(
        &self,
        prefix: &str,
        calls: &mut Vec<ParsedCall>,
        used: &mut HashSet<String>,
        grammar: String,
        kind: ExtraCall<'_>,
    ) -> Result<(bool, u32), EngineError> {
        let (by_name, reason, steered) = match kind {
            ExtraCall::Listed => (false, "listed", None),
            ExtraCall::Asked { by_name } => (by_name, "asked", None),
            ExtraCall::Steered(steer) => (false, "steered", Some(steer)),
        };
        let (call, tokens) = self.one_more_call(prefix, calls, grammar).await?;
        let Some(call) = call else {
            return Ok((false, tokens));
        };
        if let Some(steer) = steered.filter(|steer| !self.took_another_written_value(&call, steer))
        {
            tracing::debug!(call = %call.name, arguments = %call.arguments, argument = %steer.argument, "a steered call's held argument took no other value the user wrote");
            return Ok((false, tokens));
        }
        // Made to differ, the model fills the rest as it can ("1." of a numbered line
        // beside a `100` nobody wrote): a steered call keeps only values the user wrote.
        if steered.is_some() && !self.check.grounded(&call, CallGrounding::Every) {
            tracing::debug!(call = %call.name, arguments = %call.arguments, "a steered call carries a required value the user did not write");
            return Ok((false, tokens));
        }
        let (call, rescaled) = self.as_written(call);
        if self.check.not_asked_for(&call, calls, used) {
            tracing::debug!(call = %call.name, arguments = %call.arguments, "an extra call is of a function the request does not ask for");
            return Ok((false, tokens));
        }
        if self.check.copies_a_value(&call) || self.check.copies_a_number(&call) {
            tracing::debug!(call = %call.name, arguments = %call.arguments, "an extra call copies one value into several arguments");
            return Ok((false, tokens));
        }
        let new = self.new_values(&call, calls, used, by_name);
        if new.is_empty() {
            tracing::debug!(call = %call.name, arguments = %call.arguments, "an extra call brought nothing new");
            return Ok((false, tokens));
        }
        if new.iter().all(|value| value.starts_with(FUNCTION_WORD)) {
            tracing::debug!(call = %call.name, arguments = %call.arguments, "an extra call kept for a word of its function's name alone");
        }
        used.extend(new);
        self.note(|changes| changes.rescaled_arguments.extend(rescaled));
        self.keep(call, calls, Some(reason));
        Ok((true, tokens))
    }

    /// One more call of the last call's function with its first argument (in the schema's
    /// order) held away from every value `calls` gave it, when the user wrote a number no
    /// call used (see [`Grounds::unused_written_number`]): asked for another call, a small
    /// model copies the one it made ("solar for 12 months and wind for 8 months" stops at
    /// solar), and the copy's first value is where the next call differs most often. Once
    /// per function and excluded values (`steered`).
    fn steer(
        &self,
        calls: &[ParsedCall],
        used: &HashSet<String>,
        steered: &mut HashSet<String>,
    ) -> Option<Steer> {
        if !self.check.probe_other_values || !self.check.grounds.unused_written_number(used) {
            return None;
        }
        let last = calls.last()?;
        let schema = self.check.schema(&last.name);
        let first = schema
            .get("properties")?
            .as_object()?
            .keys()
            .find(|property| last.arguments.get(property.as_str()).is_some())?;
        let mut excluded: Vec<Value> = Vec::new();
        for call in calls.iter().filter(|call| call.name == last.name) {
            if let Some(value) = call.arguments.get(first.as_str()) {
                if !excluded.contains(value) {
                    excluded.push(value.clone());
                }
            }
        }
        if !first_steer(steered, "away", &last.name, first, &excluded) {
            return None;
        }
        let grammar = self.check.tools.call_grammar_without(
            &last.name,
            first,
            &excluded,
            self.check.grounds.largest_number(),
        )?;
        Some(Steer {
            grammar,
            argument: first.clone(),
            excluded,
        })
    }

    /// One more call of the last call's function with its first number argument (in the
    /// schema's order) that an unused written number can stand for (see
    /// [`Grounds::unused_numbers_like`]) chosen among those numbers: held away from its
    /// value, a small model writes a number nobody wrote (`1500` beside "15000") or the
    /// same call in another order; given the numbers left, it takes the next request's and
    /// fills the rest from beside it. The call gives every argument the last one gave. Once
    /// per function, argument and choices (`steered`).
    fn steer_to_unused_number(
        &self,
        calls: &[ParsedCall],
        used: &HashSet<String>,
        steered: &mut HashSet<String>,
    ) -> Option<Steer> {
        if !self.check.probe_unused_numbers {
            return None;
        }
        let last = calls.last()?;
        let properties = self
            .check
            .schema(&last.name)
            .get("properties")?
            .as_object()?;
        let (argument, choices) = properties.iter().find_map(|(property, schema)| {
            let like = last.arguments.get(property)?;
            let integer = schema.get("type").and_then(Value::as_str) == Some("integer");
            let choices: Vec<Value> = self
                .check
                .grounds
                .unused_numbers_like(used, like.as_f64()?)
                .into_iter()
                .filter(|number| !integer || number.fract() == 0.0)
                .map(|number| written_number(number, like))
                .collect();
            (!choices.is_empty()).then(|| (property.clone(), choices))
        })?;
        if !first_steer(steered, "choosing", &last.name, &argument, &choices) {
            return None;
        }
        tracing::debug!(call = %last.name, %argument, choices = ?choices, "asked for the call again with a number the user wrote that no call used");
        self.choosing_steer(calls, argument, choices)
    }

    /// The steer of one more call of the last of `calls`'s function with `argument` chosen
    /// among `choices`, held away from the values the function's calls gave it. "The same
    /// again with this value" keeps what the call gave: a model that chose the value first
    /// tends to close the call after the argument its request names.
    fn choosing_steer(
        &self,
        calls: &[ParsedCall],
        argument: String,
        choices: Vec<Value>,
    ) -> Option<Steer> {
        let last = calls.last()?;
        let given: Vec<&str> = last
            .arguments
            .as_object()?
            .keys()
            .map(String::as_str)
            .collect();
        let grammar = self
            .check
            .tools
            .call_grammar_choosing(&last.name, &argument, &choices, &given)?;
        let excluded = calls
            .iter()
            .filter(|call| call.name == last.name)
            .filter_map(|call| call.arguments.get(&argument).cloned())
            .collect();
        Some(Steer {
            grammar,
            argument,
            excluded,
        })
    }

    /// One more call of the last call's function with a string argument chosen among the
    /// names the user wrote that no call used (see [`written_names`]) and that follow the
    /// same word as its value, after it and a word opening another request (see
    /// [`written_as_next_request`]): "a flight from San Francisco to Tokyo … and another from
    /// Tokyo to Sydney" copied, Sydney follows "to" as Tokyo does, and `destination_city`
    /// chosen among ["Sydney"] makes the model write the second flight. The first such
    /// argument in the schema's order; the call gives every argument the last one gave (see
    /// [`Self::choosing_steer`]). Once per function, argument and choices (`steered`).
    fn steer_to_unused_name(
        &self,
        calls: &[ParsedCall],
        used: &HashSet<String>,
        steered: &mut HashSet<String>,
    ) -> Option<Steer> {
        let message = self.check.probe_unused_names.as_deref()?;
        let grounds = &self.check.grounds;
        // A name inside a value a call gave ("Maroon" of "Maroon 5", "Chicago" of "Chicago,
        // IL") is that value's.
        let mut given: Vec<String> = Vec::new();
        for call in calls {
            collect_strings(&call.arguments, &mut given);
        }
        let names = written_names(message);
        let unused: Vec<_> = names
            .iter()
            .filter(|written| {
                let name = written.name.to_lowercase();
                let found = grounds.found_values(&Value::String(written.name.clone()));
                !found.is_empty()
                    && !found.iter().any(|key| used.contains(key))
                    && !given.iter().any(|value| value.contains(&name))
            })
            .collect();
        if unused.is_empty() {
            return None;
        }
        let last = calls.last()?;
        let properties = self
            .check
            .schema(&last.name)
            .get("properties")?
            .as_object()?;
        let (argument, choices) = properties.iter().find_map(|(property, schema)| {
            if schema.get("enum").is_some() {
                return None;
            }
            let value = last.arguments.get(property)?.as_str()?;
            // Names are chosen for a name ("Tokyo"), not for "kilometers".
            if !names
                .iter()
                .any(|written| written.name.eq_ignore_ascii_case(value))
            {
                return None;
            }
            let after = word_before(message, value)?;
            let mut choices: Vec<Value> = Vec::new();
            // The same place written longer ("Louvre Museum" beside `"Louvre"`) is no other
            // value; a name that is no next request ("on Mars if my weight on Earth") no call.
            let next = unused.iter().filter(|written| {
                written.after.as_deref() == Some(&after)
                    && !written.name.to_lowercase().contains(&value.to_lowercase())
                    && written_as_next_request(message, value, &written.name)
            });
            for written in next {
                let choice = Value::String(written.name.clone());
                if !choices.contains(&choice) {
                    choices.push(choice);
                }
            }
            (!choices.is_empty()).then(|| (property.clone(), choices))
        })?;
        if !first_steer(steered, "naming", &last.name, &argument, &choices) {
            return None;
        }
        tracing::debug!(call = %last.name, %argument, choices = ?choices, "asked for the call again with a name the user wrote that no call used");
        self.choosing_steer(calls, argument, choices)
    }

    /// Whether the argument `steer` held away took a value the user wrote that is none of
    /// the excluded ones as the text writes them: held away from `5`, the model writes `50`,
    /// from `10.0` it writes `10.00000001`, and from "London" it writes "London, UK" — the
    /// same value again, or one nobody wrote.
    fn took_another_written_value(&self, call: &ParsedCall, steer: &Steer) -> bool {
        let grounds = &self.check.grounds;
        let Some(value) = call.arguments.get(&steer.argument) else {
            return false;
        };
        let found = grounds.found_values(value);
        let excluded: HashSet<String> = steer
            .excluded
            .iter()
            .flat_map(|excluded| grounds.found_values(excluded))
            .collect();
        let extends_an_excluded = value.as_str().is_some_and(|text| {
            let text = text.to_lowercase();
            steer
                .excluded
                .iter()
                .filter_map(Value::as_str)
                .any(|excluded| text.starts_with(&excluded.to_lowercase()))
        });
        !found.is_empty() && !found.iter().any(|key| excluded.contains(key)) && !extends_an_excluded
    }

    /// A call the lists of the user's message ask for and `calls` lack: the function and
    /// argument of a call that used one member of a list, with another member no call used
    /// (and not `tried` already).
    fn listed_call(
        &self,
        calls: &[ParsedCall],
        used: &HashSet<String>,
        tried: &HashSet<ListedKey>,
    ) -> Option<ListedCall> {
        let lists = self.check.lists.as_ref().filter(|_| self.check.members)?;
        calls.iter().find_map(|call| {
            let arguments = call.arguments.as_object()?;
            let used_here = self.used_by_function(calls, &call.name, used);
            arguments.iter().find_map(|(argument, value)| {
                lists.siblings(value).into_iter().find_map(|sibling| {
                    let found = self.check.grounds.found_values(&sibling).pop()?;
                    let key = (call.name.clone(), argument.clone(), found.clone());
                    // Asked only because another function used it: the call's value must be
                    // the list's (a "5" also written as "five" may come from elsewhere).
                    let new_here = !used_here.contains(&found)
                        && (!used.contains(&found) || lists.only_in_lists(value));
                    (new_here && !tried.contains(&key)).then(|| ListedCall {
                        function: call.name.clone(),
                        argument: argument.clone(),
                        value: sibling,
                        key,
                    })
                })
            })
        })
    }

    /// The values a list member must be new against for a call of `function`: those the
    /// calls of `function` used, where members are new to each function, else `used` (those
    /// of every call).
    fn used_by_function(
        &self,
        calls: &[ParsedCall],
        function: &str,
        used: &HashSet<String>,
    ) -> HashSet<String> {
        if !self.check.members_per_function {
            return used.clone();
        }
        self.function_values(calls, function)
    }

    /// The values of the conversation the calls of `function` among `calls` used.
    fn function_values(&self, calls: &[ParsedCall], function: &str) -> HashSet<String> {
        calls
            .iter()
            .filter(|call| call.name == function)
            .flat_map(|call| self.check.grounds.found_values(&call.arguments))
            .collect()
    }

    /// Whether `call` gives an argument a member of a list that no earlier call of its
    /// function used, where an earlier one gave that argument another member: the list asks
    /// each function for each member, whatever other functions used ("the current time in
    /// Beijing and Tokyo, and the time difference" makes `current_time("Tokyo")` new beside
    /// `time_difference("Beijing", "Tokyo")`).
    fn new_member_of_its_function(&self, call: &ParsedCall, earlier: &[ParsedCall]) -> bool {
        let Some(lists) = self
            .check
            .lists
            .as_ref()
            .filter(|_| self.check.members_per_function)
        else {
            return false;
        };
        let Some(arguments) = call.arguments.as_object() else {
            return false;
        };
        let same_function: Vec<&ParsedCall> =
            earlier.iter().filter(|c| c.name == call.name).collect();
        let used = self.function_values(earlier, &call.name);
        let new_member = arguments.iter().any(|(argument, value)| {
            let found = self.check.grounds.found_values(value);
            !found.is_empty()
                && found.iter().all(|value| !used.contains(value))
                && same_function.iter().any(|other| {
                    other.arguments.get(argument).is_some_and(|sibling| {
                        lists.same_list(sibling, value) && lists.only_in_lists(sibling)
                    })
                })
        });
        new_member && self.check.grounded(call, self.new_value_grounding())
    }

    /// One more call after `calls` under `grammar`, if a valid one came.
    async fn one_more_call(
        &self,
        prefix: &str,
        calls: &[ParsedCall],
        grammar: String,
    ) -> Result<(Option<ParsedCall>, u32), EngineError> {
        let request = GenerationRequest {
            sampling: SamplingParams {
                temperature: 0.0,
                ..SamplingParams::default()
            },
            max_tokens: Some(
                self.request
                    .max_tokens
                    .unwrap_or(PROBE_MAX_TOKENS)
                    .min(PROBE_MAX_TOKENS),
            ),
            ..self.follow_up(
                if calls.is_empty() {
                    prefix.to_string()
                } else {
                    format!("{prefix}{}\n", render_calls(calls))
                },
                grammar,
            )
        };
        let (text, reason, usage) = start_generation(&self.backend, request)
            .await?
            .collect()
            .await?;
        let is_tool = |name: &str| self.check.tools.contains(name);
        let call = parse_output(&text, &is_tool)
            .calls
            .into_iter()
            .next()
            .filter(|call| reason == FinishReason::Stop && self.check.tools.validate(call).is_ok());
        if call.is_none() {
            tracing::debug!(
                ?reason,
                ?text,
                "an extra call was asked for and none was read"
            );
        }
        Ok((call, usage.completion_tokens))
    }

    /// When every call of the answer was dropped for a copied value, one call of another tool
    /// the user's message asks for (see [`AskedFunctions`]), kept when grounded and not a copy
    /// itself; with the tokens spent. Nothing is asked where the message cannot be read for
    /// the functions it asks for (no parallel calls, `other_functions_asked` off) or there is
    /// no other tool.
    async fn instead_of_copies(
        &self,
        prefix: &str,
        copies: &[ParsedCall],
    ) -> Result<(Option<ParsedCall>, u32), EngineError> {
        // Copies are dropped under `auto` only, so no named or required choice limits the tools.
        let check = &self.check;
        let admits = |name: &str| copies.iter().all(|copy| copy.name != name);
        let other_tool = check
            .tools
            .definitions()
            .iter()
            .any(|tool| admits(&tool.name));
        if check.asked.is_none() || !other_tool {
            return Ok((None, 0));
        }
        let grammar = check.tools.one_call_grammar(&admits);
        let (call, tokens) = self.one_more_call(prefix, &[], grammar).await?;
        let Some((call, rescaled)) = call.map(|call| self.as_written(call)) else {
            return Ok((None, tokens));
        };
        let used: HashSet<String> = copies
            .iter()
            .flat_map(|copy| check.grounds.found_values(&copy.arguments))
            .collect();
        let kept = check.grounded(&call, check.grounding)
            && !check.copies_a_value(&call)
            && !check.not_asked_for(&call, copies, &used);
        if !kept {
            return Ok((None, tokens));
        }
        self.note(|changes| changes.rescaled_arguments.extend(rescaled));
        Ok((Some(call), tokens))
    }

    /// Keeps `call` in `calls`, without the optional arguments the model made up (when that
    /// check is on and the call stays valid without them).
    fn keep(&self, call: ParsedCall, calls: &mut Vec<ParsedCall>, reason: Option<&'static str>) {
        let call = self.as_told(call);
        if let Some(reason) = reason {
            self.note(|changes| changes.added.push(CheckedCall::new(&call, reason)));
        }
        calls.push(call);
    }

    /// `call` without the optional arguments whose values are not in the conversation, the
    /// optional choices the user did not name, the optional flags nobody asked for, and the
    /// listed choices the user did not name beside those named (each when its check is on,
    /// and when the call stays valid without them), its values in the forms the user and the
    /// descriptions write them.
    fn as_told(&self, call: ParsedCall) -> ParsedCall {
        let call = self.with_iso_dates(self.as_described(self.with_ends_as_written(
            self.without_sentence_articles(
                self.values_once(self.years_once(self.listed_as_told(call))),
            ),
        )));
        // Currencies and units last: a default the model copied ("cm") goes first as written
        // by nobody, and the code or unit set here need not be a word the grounding finds
        // ("JPY" for "Japanese Yen", "m" for "5m").
        self.with_hemisphere_signs(
            self.in_written_units(self.as_currency_codes(self.without_untold(call))),
        )
    }

    /// `call` with the coordinates the user wrote as south or west negative (see
    /// [`signed_by_hemisphere`]), when that check is on and the call stays valid.
    fn with_hemisphere_signs(&self, call: ParsedCall) -> ParsedCall {
        let signed = signed_by_hemisphere(
            &self.check.south_or_west,
            &call.arguments,
            self.check.schema(&call.name),
        );
        self.rewritten_values(call, signed, "signed_by_hemisphere")
    }

    /// `call` with the currencies named in its arguments named for a currency written as
    /// their codes (see [`currencies_as_codes`]), when that check is on and the call stays
    /// valid.
    fn as_currency_codes(&self, call: ParsedCall) -> ParsedCall {
        if !self.check.currency_codes {
            return call;
        }
        let codes = currencies_as_codes(
            &self.check.grounds,
            &call.arguments,
            self.check.schema(&call.name),
        );
        self.rewritten(call, codes, "currency_code")
    }

    /// `call` without the optional arguments, choices and flags nobody gave (see
    /// [`Self::as_told`]).
    fn without_untold(&self, call: ParsedCall) -> ParsedCall {
        let schema = self.check.schema(&call.name);
        let grounds = &self.check.grounds;
        let mut left_out: Vec<(String, &'static str)> = Vec::new();
        if self.check.ground_optionals {
            left_out.extend(
                grounds
                    .invented_optionals(&call.arguments, schema)
                    .into_iter()
                    .map(|name| (name, "not_in_conversation")),
            );
        }
        if self.check.drop_copied_values {
            left_out.extend(
                grounds
                    .copied_values(&call.arguments, schema)
                    .iter()
                    .flat_map(|copy| copy.optional_copies().to_vec())
                    .map(|name| (name, "copied_value")),
            );
        }
        if self.check.drop_copied_numbers {
            left_out.extend(
                grounds
                    .copied_numbers(&call.arguments, schema)
                    .iter()
                    .flat_map(|copy| copy.optional_copies().to_vec())
                    .map(|name| (name, "copied_number")),
            );
        }
        if self.check.ground_choices {
            left_out.extend(
                grounds
                    .unnamed_optional_choices(&call.arguments, schema)
                    .into_iter()
                    .map(|name| (name, "choice_not_named")),
            );
        }
        if self.check.ground_flags {
            if let Some(tool) = self.check.definition(&call.name) {
                left_out.extend(
                    unasked_flags(grounds, tool, &call.arguments)
                        .into_iter()
                        .map(|name| (name, "flag_not_asked")),
                );
            }
        }
        if left_out.is_empty() {
            return call;
        }
        let mut told = call.clone();
        let mut dropped = Vec::new();
        if let Some(arguments) = told.arguments.as_object_mut() {
            for (name, reason) in left_out {
                if let Some(value) = arguments.remove(&name) {
                    dropped.push(DroppedArgument {
                        function: call.name.clone(),
                        argument: name,
                        value,
                        reason,
                    });
                }
            }
        }
        if self.check.tools.validate(&told).is_err() {
            return call;
        }
        tracing::debug!(call = %call.name, ?dropped, "left out optional arguments the user did not give");
        self.note(|changes| changes.dropped_arguments.extend(dropped));
        told
    }

    /// `call` without the items of its list arguments that the user did not name beside
    /// others that were (see [`Grounds::unnamed_listed_choices`]) and those of free-string
    /// lists nobody wrote beside others the user did (see [`Grounds::invented_list_items`]),
    /// each when its check is on, when the call stays valid.
    fn listed_as_told(&self, call: ParsedCall) -> ParsedCall {
        let grounds = &self.check.grounds;
        let schema = self.check.schema(&call.name);
        let mut cut: Vec<(String, Vec<Value>, &'static str)> = Vec::new();
        if self.check.ground_listed_choices {
            cut.extend(
                grounds
                    .unnamed_listed_choices(&call.arguments, schema)
                    .into_iter()
                    .map(|(name, items)| (name, items, "choice_not_named")),
            );
        }
        if self.check.ground_list_items {
            cut.extend(
                grounds
                    .invented_list_items(&call.arguments, schema)
                    .into_iter()
                    .map(|(name, items)| (name, items, "not_in_conversation")),
            );
        }
        if cut.is_empty() {
            return call;
        }
        let mut told = call.clone();
        let mut dropped = Vec::new();
        if let Some(arguments) = told.arguments.as_object_mut() {
            for (name, items, reason) in cut {
                if let Some(Value::Array(listed)) = arguments.get_mut(&name) {
                    listed.retain(|item| !items.contains(item));
                    dropped.push(DroppedItems {
                        function: call.name.clone(),
                        argument: name,
                        items,
                        reason,
                    });
                }
            }
        }
        if self.check.tools.validate(&told).is_err() {
            return call;
        }
        tracing::debug!(call = %call.name, "left out list items the user did not ask for");
        self.note(|changes| changes.dropped_items.extend(dropped));
        told
    }

    /// `call` with its string arguments written without a year another argument carries
    /// (see [`repeated_years`]), when that check is on and the call stays valid.
    fn years_once(&self, call: ParsedCall) -> ParsedCall {
        if !self.check.trim_repeated_years {
            return call;
        }
        let repeated = repeated_years(&call.arguments);
        self.rewritten(call, repeated, "repeated_year")
    }

    /// `call` without the value another argument carries at an end of a string argument
    /// (see [`repeated_values`]), when that check is on, what is left is still the user's
    /// words, and the call stays valid.
    fn values_once(&self, call: ParsedCall) -> ParsedCall {
        if !self.check.trim_repeated_values {
            return call;
        }
        let schema = self.check.schema(&call.name);
        let repeated = repeated_values(&call.arguments)
            .into_iter()
            .filter(|(name, left)| {
                self.check
                    .grounds
                    .value(&Value::String(left.clone()), property(schema, name))
                    != Some(false)
            })
            .collect();
        self.rewritten(call, repeated, "repeated_value")
    }

    /// `call` without the article of the user's sentence at the start of its string values
    /// (see [`sentence_articles`]), when that check is on and the call stays valid.
    fn without_sentence_articles(&self, call: ParsedCall) -> ParsedCall {
        let Some(message) = &self.check.articles else {
            return call;
        };
        let trimmed = sentence_articles(message, &call.arguments);
        self.rewritten(call, trimmed, "sentence_article")
    }

    /// `call` with its start and end arguments the other way round where the user's message
    /// writes "from <end> to <start>" (see [`ends_as_written`]), when that check is on and
    /// the call stays valid.
    fn with_ends_as_written(&self, call: ParsedCall) -> ParsedCall {
        let Some(message) = &self.check.journeys else {
            return call;
        };
        let swapped = ends_as_written(message, &call.arguments);
        self.rewritten(call, swapped, "ends_as_written")
    }

    /// `call` with its string arguments in the form their descriptions list them (see
    /// [`values_as_described`]), when that check is on and the call stays valid.
    fn as_described(&self, call: ParsedCall) -> ParsedCall {
        if !self.check.values_as_described {
            return call;
        }
        let described = values_as_described(&call.arguments, self.check.schema(&call.name));
        self.rewritten(call, described, "as_described")
    }

    /// `call` with its dates written in words as ISO 8601 where their parameters ask for no
    /// form (see [`dates_in_words_as_iso`]), when that check is on and the call stays valid.
    fn with_iso_dates(&self, call: ParsedCall) -> ParsedCall {
        if !self.check.dates_in_words_as_iso {
            return call;
        }
        let dates = dates_in_words_as_iso(&call.arguments, self.check.schema(&call.name));
        self.rewritten(call, dates, "date_as_iso")
    }

    /// `call` with its arguments named for a unit set to the one unit of their kind the user
    /// wrote (see [`units_as_written`]), when that check is on and the call stays valid.
    fn in_written_units(&self, call: ParsedCall) -> ParsedCall {
        if !self.check.units_as_written {
            return call;
        }
        let units = units_as_written(
            &self.check.grounds,
            &call.arguments,
            self.check.schema(&call.name),
        );
        self.rewritten(call, units, "unit_as_written")
    }

    /// Gives each of `calls` the optional choices the user's message names that it left out
    /// and no other call of its function gives (see [`named_choices_left_out`]), when that
    /// check is on and the call stays valid.
    fn give_named_choices(&self, calls: &mut [ParsedCall]) {
        if !self.check.give_named_choices {
            return;
        }
        for at in 0..calls.len() {
            let call = &calls[at];
            let given_elsewhere = |argument: &str| {
                calls.iter().enumerate().any(|(other, c)| {
                    other != at && c.name == call.name && c.arguments.get(argument).is_some()
                })
            };
            let named = named_choices_left_out(
                &self.check.grounds,
                &call.arguments,
                self.check.schema(&call.name),
                given_elsewhere,
            );
            if !named.is_empty() {
                calls[at] = self.rewritten(calls[at].clone(), named, "choice_named");
            }
        }
    }

    /// `call` with each argument of `rewrites` set to its new string value, recorded with
    /// `reason`; the call as it was when it would not stay valid.
    fn rewritten(
        &self,
        call: ParsedCall,
        rewrites: Vec<(String, String)>,
        reason: &'static str,
    ) -> ParsedCall {
        let rewrites = rewrites
            .into_iter()
            .map(|(name, written)| (name, Value::String(written)))
            .collect();
        self.rewritten_values(call, rewrites, reason)
    }

    /// [`Self::rewritten`] with values of any type.
    fn rewritten_values(
        &self,
        call: ParsedCall,
        rewrites: Vec<(String, Value)>,
        reason: &'static str,
    ) -> ParsedCall {
        if rewrites.is_empty() {
            return call;
        }
        let mut told = call.clone();
        let mut rewritten = Vec::new();
        if let Some(arguments) = told.arguments.as_object_mut() {
            for (name, written) in rewrites {
                // An argument the model left out is reported with `null` as its value.
                let value = arguments
                    .insert(name.clone(), written.clone())
                    .unwrap_or(Value::Null);
                rewritten.push(RewrittenArgument {
                    function: call.name.clone(),
                    argument: name,
                    value,
                    written,
                    reason,
                });
            }
        }
        if self.check.tools.validate(&told).is_err() {
            return call;
        }
        tracing::debug!(call = %call.name, reason, "wrote arguments otherwise");
        self.note(|changes| changes.rewritten_arguments.extend(rewritten));
        told
    }

    /// `calls` with the state asked for of each city given alone where the argument's
    /// description asks for a city and its state (see [`cities_without_state`]): the model
    /// continues the call after the city and its comma, under [`STATE_GRAMMAR`]; the tokens
    /// spent.
    async fn with_states(
        &self,
        prefix: &str,
        calls: &mut [ParsedCall],
    ) -> Result<u32, EngineError> {
        let mut spent = 0;
        for at in 0..calls.len() {
            let cities =
                cities_without_state(&calls[at].arguments, self.check.schema(&calls[at].name));
            if cities.is_empty() {
                continue;
            }
            let earlier = render_calls(&calls[..at]);
            let separator = if earlier.is_empty() { "" } else { "\n" };
            let mut states = Vec::new();
            for (argument, city) in cities {
                let Some(opening) = opened_at_value(&calls[at], &argument, &city) else {
                    continue;
                };
                let request = GenerationRequest {
                    sampling: SamplingParams {
                        temperature: 0.0,
                        ..SamplingParams::default()
                    },
                    max_tokens: Some(STATE_MAX_TOKENS),
                    loop_check: false,
                    ..self.follow_up(
                        format!("{prefix}{earlier}{separator}{opening}"),
                        STATE_GRAMMAR.to_string(),
                    )
                };
                let (text, reason, usage) = start_generation(&self.backend, request)
                    .await?
                    .collect()
                    .await?;
                spent += usage.completion_tokens;
                let state = text.strip_suffix('"').map(str::trim);
                match state.filter(|state| reason == FinishReason::Stop && !state.is_empty()) {
                    Some(state) => states.push((argument, format!("{city}, {state}"))),
                    None => tracing::debug!(%text, "no state was written"),
                }
            }
            calls[at] = self.rewritten(calls[at].clone(), states, "state_added");
        }
        Ok(spent)
    }

    /// `call` with each number (an argument, or an item of one) set to what the user wrote
    /// when the model carried it at another scale, when the checks are on and the call stays
    /// valid; and what was set back:
    /// - off by a power of ten from a number written with a scale word ("8.5 million" as
    ///   850000000), `numbers_at_written_scale`;
    /// - a percentage as its points ("5%" as 5) in a number that is not said to be in percent
    ///   (a rate, a probability), `percentages_as_fractions`;
    /// - a percentage as its value ("5%" as 0.05) in a number said to be in percent and not
    ///   a decimal ("The interest rate for a year as a percentage"), `percentages_as_points`.
    fn as_written(&self, call: ParsedCall) -> (ParsedCall, Vec<RescaledArgument>) {
        let check = &self.check;
        let run_together = check.lists.as_ref().filter(|_| check.run_together);
        if !check.rescale_numbers
            && !check.percentages
            && !check.percentage_points
            && run_together.is_none()
        {
            return (call, Vec::new());
        }
        let schema = check.schema(&call.name);
        let mut told = call.clone();
        let mut rescaled = Vec::new();
        if let Some(arguments) = told.arguments.as_object_mut() {
            for (name, value) in arguments.iter_mut() {
                let described = property(schema, name);
                let takes_fraction = check.percentages
                    && described.is_some_and(|described| takes_fractions(name, described));
                let takes_points = check.percentage_points
                    && described.is_some_and(|described| takes_percentage_points(name, described));
                let numbers: Vec<&mut Value> = match value {
                    Value::Array(items) => items.iter_mut().collect(),
                    other => vec![other],
                };
                for number in numbers {
                    let Some(model_value) = number.as_f64() else {
                        continue;
                    };
                    let at_scale = check
                        .rescale_numbers
                        .then(|| check.grounds.as_written_scale(model_value))
                        .flatten()
                        .map(|written| (written, "scale_word"));
                    let as_fraction = || {
                        takes_fraction
                            .then(|| check.grounds.as_percentage(model_value))
                            .flatten()
                            .map(|written| (written, "percentage"))
                    };
                    let as_points = || {
                        takes_points
                            .then(|| check.grounds.as_percentage_points(model_value))
                            .flatten()
                            .map(|written| (written, "percentage_points"))
                    };
                    let first_of_run = || {
                        run_together
                            .and_then(|lists| lists.run_together(model_value))
                            .map(|first| (first, "run_together"))
                    };
                    let Some((written, reason)) = at_scale
                        .or_else(as_fraction)
                        .or_else(as_points)
                        .or_else(first_of_run)
                    else {
                        continue;
                    };
                    let written = written_number(written, number);
                    rescaled.push(RescaledArgument {
                        function: call.name.clone(),
                        argument: name.clone(),
                        value: number.clone(),
                        written: written.clone(),
                        reason,
                    });
                    *number = written;
                }
            }
        }
        if rescaled.is_empty() || check.tools.validate(&told).is_err() {
            return (call, Vec::new());
        }
        tracing::debug!(call = %call.name, rescaled = rescaled.len(), "set numbers back to the scale the user wrote them at");
        (told, rescaled)
    }

    /// Sets to its value a percentage the user wrote plainly too ("$5000 at 7% for 5 years,
    /// $8000 at 5% for 7 years": `percentages_as_fractions` cannot tell which a 7 is) where
    /// the final calls use the number more often than the text writes it plainly: the extra
    /// uses are the percentage, when no more arguments that take fractions hold it than that.
    fn percentages_beside_plain_numbers(&self, calls: &mut [ParsedCall]) {
        if !self.check.percentages_beside_plain {
            return;
        }
        let uses = self.number_uses(calls);
        let grounds = &self.check.grounds;
        for call in calls.iter_mut() {
            let schema = self.check.schema(&call.name);
            let mut told = call.clone();
            let mut rescaled = Vec::new();
            let Some(arguments) = told.arguments.as_object_mut() else {
                continue;
            };
            for (name, value) in arguments.iter_mut() {
                let takes_fraction = schema
                    .get("properties")
                    .and_then(|properties| properties.get(name))
                    .is_some_and(|property| takes_fractions(name, property));
                let Some(number) = value.as_f64().filter(|_| takes_fraction) else {
                    continue;
                };
                let Some((percentage, plain)) = grounds.as_percentage_beside_plain(number) else {
                    continue;
                };
                let (all, in_fractions) = uses.of(number);
                if all <= plain || in_fractions > all - plain {
                    continue;
                }
                let written = written_number(percentage, value);
                rescaled.push(RescaledArgument {
                    function: call.name.clone(),
                    argument: name.clone(),
                    value: value.clone(),
                    written: written.clone(),
                    reason: "percentage_beside_plain",
                });
                *value = written;
            }
            if rescaled.is_empty() || self.check.tools.validate(&told).is_err() {
                continue;
            }
            tracing::debug!(call = %told.name, arguments = %told.arguments, "set percentages written plainly too to their values");
            self.note(|changes| changes.rescaled_arguments.extend(rescaled));
            *call = told;
        }
    }

    /// How often `calls` use each number (list items too), and how often in an argument that
    /// takes fractions (see [`takes_fractions`]).
    fn number_uses(&self, calls: &[ParsedCall]) -> NumberUses {
        let mut uses = NumberUses::default();
        for call in calls {
            let schema = self.check.schema(&call.name);
            let Some(arguments) = call.arguments.as_object() else {
                continue;
            };
            for (name, value) in arguments {
                let fraction = schema
                    .get("properties")
                    .and_then(|properties| properties.get(name))
                    .is_some_and(|property| takes_fractions(name, property));
                let numbers: Vec<f64> = match value {
                    Value::Array(items) => items.iter().filter_map(Value::as_f64).collect(),
                    other => other.as_f64().into_iter().collect(),
                };
                for number in numbers {
                    uses.add(number, fraction);
                }
            }
        }
        uses
    }

    /// The grounding a call's new values must pass: the request's, and at least `some`
    /// where grounding is off (a value nobody wrote is never new).
    fn new_value_grounding(&self) -> CallGrounding {
        match self.check.grounding {
            CallGrounding::Off => CallGrounding::Some,
            rule => rule,
        }
    }

    /// The values of the conversation `call` brings that no call of `calls` used (and, `by_name`,
    /// the words of its function's name the conversation holds, when it is another function,
    /// or the function itself where the message names it); none when it repeats a call or
    /// fails the grounding rule.
    fn new_values(
        &self,
        call: &ParsedCall,
        calls: &[ParsedCall],
        used: &HashSet<String>,
        by_name: bool,
    ) -> Vec<String> {
        if calls.contains(call) || !self.check.grounded(call, self.new_value_grounding()) {
            return Vec::new();
        }
        let earlier: Vec<&str> = calls.iter().map(|c| c.name.as_str()).collect();
        let name_words = if by_name {
            self.check.grounds.found_name_words(&call.name, &earlier)
        } else {
            Vec::new()
        };
        // A function the message names is new in itself until called.
        let named = (by_name
            && self.check.named.contains(&call.name)
            && !earlier.contains(&call.name.as_str()))
        .then(|| call.name.clone());
        let name_words = name_words
            .into_iter()
            .chain(named)
            .map(|word| format!("{FUNCTION_WORD}{word}"));
        let new: Vec<String> = self
            .check
            .grounds
            .found_values(&call.arguments)
            .into_iter()
            .chain(name_words)
            .filter(|value| !used.contains(value))
            .collect();
        if new.is_empty() {
            self.moved_values(call, calls)
        } else {
            new
        }
    }

    /// The values `call` gives to an argument where no earlier call of its function gave
    /// them, each given to another argument by one of those, when every such value is a
    /// string written in the message more often than the earlier calls use it ("from New York to Los
    /// Angeles, then to Miami, and from Miami back to New York": the third leg's values are
    /// all used, each in the other place, and each written twice). As keys that mark the
    /// argument, so that the same move is not new twice. Empty when a moved value is written
    /// no more often than it is used: a copy with two values swapped ("from Tokyo to San
    /// Francisco" after "from San Francisco to Tokyo") is nothing new.
    fn moved_values(&self, call: &ParsedCall, calls: &[ParsedCall]) -> Vec<String> {
        let Some(placement) = self
            .check
            .placement
            .as_ref()
            .filter(|_| self.check.moved_values_new)
        else {
            return Vec::new();
        };
        let Some(arguments) = call.arguments.as_object() else {
            return Vec::new();
        };
        let same_function: Vec<&ParsedCall> =
            calls.iter().filter(|c| c.name == call.name).collect();
        let mut moved = Vec::new();
        for (argument, value) in arguments {
            let in_place = same_function.iter().any(|earlier| {
                earlier
                    .arguments
                    .get(argument)
                    .is_some_and(|v| same_member(v, value))
            });
            let elsewhere = same_function.iter().any(|earlier| {
                earlier.arguments.as_object().is_some_and(|others| {
                    others
                        .iter()
                        .any(|(other, v)| other != argument && same_member(v, value))
                })
            });
            if in_place || !elsewhere {
                continue;
            }
            // Small numbers come back in a message for other things ("a = 2, b = 4, c = 2"):
            // a number moved is the model's shuffle, not a new value.
            if !value.is_string() {
                return Vec::new();
            }
            let uses: usize = calls
                .iter()
                .filter_map(|earlier| earlier.arguments.as_object())
                .map(|others| others.values().filter(|v| same_member(v, value)).count())
                .sum();
            if placement.times_written(value) <= uses {
                return Vec::new();
            }
            moved.push(format!("{MOVED_VALUE}{argument}={value}"));
        }
        if !moved.is_empty() {
            tracing::debug!(call = %call.name, arguments = %call.arguments, "a call moving values the message writes again is new");
        }
        moved
    }
}

/// The fewest values no other call used that ask for a function the message names no word
/// of (see `functions_asked_by_values`): one is as often a detail of the request's other
/// part carried over ("degrees Celsius" of an energy calculation into a temperature
/// conversion nobody asked for).
const VALUES_THAT_ASK: usize = 2;

/// What marks a word of a function's name among the values a call brings (see
/// `Checking::new_values`).
const FUNCTION_WORD: &str = "function:";

/// What marks a value a call brings to another argument (see `Checking::moved_values`).
const MOVED_VALUE: &str = "moved:";

/// Whether a steer of this `kind` (held away from or chosen among `values`) of `function`'s
/// `argument` is asked for the first time; notes it in `steered`.
fn first_steer(
    steered: &mut HashSet<String>,
    kind: &str,
    function: &str,
    argument: &str,
    values: &[Value],
) -> bool {
    steered.insert(format!(
        "{kind}\u{1f}{function}\u{1f}{argument}\u{1f}{}",
        Value::Array(values.to_vec())
    ))
}

/// Whether `calls` hold exactly one call of `function`.
fn alone_of_its_function(calls: &[ParsedCall], function: &str) -> bool {
    calls.iter().filter(|call| call.name == function).count() == 1
}

/// Every string `value` holds, at any depth, lowercased, added to `strings`.
fn collect_strings(value: &Value, strings: &mut Vec<String>) {
    match value {
        Value::String(text) => strings.push(text.to_lowercase()),
        Value::Array(items) => items.iter().for_each(|item| collect_strings(item, strings)),
        Value::Object(fields) => fields
            .values()
            .for_each(|field| collect_strings(field, strings)),
        _ => {}
    }
}

/// The functions `calls` call, in the order first called, each with its calls.
fn calls_by_function(calls: &[ParsedCall]) -> Vec<(String, Vec<ParsedCall>)> {
    let mut functions: Vec<(String, Vec<ParsedCall>)> = Vec::new();
    for call in calls {
        match functions.iter_mut().find(|(name, _)| *name == call.name) {
            Some((_, of_function)) => of_function.push(call.clone()),
            None => functions.push((call.name.clone(), vec![call.clone()])),
        }
    }
    functions
}

/// An argument and the distinct values `calls` give it.
type ListedArgument = (String, Vec<Value>);

/// Two arguments that `calls` (of one function) each fill with two or more members of a
/// list of `lists`, of two lists; the first two such, in the first call's order.
fn two_listed_arguments(
    lists: &Lists,
    calls: &[ParsedCall],
) -> Option<(ListedArgument, ListedArgument)> {
    let first = calls.first()?.arguments.as_object()?;
    let mut listed: Vec<ListedArgument> = Vec::new();
    'arguments: for argument in first.keys() {
        let mut values: Vec<Value> = Vec::new();
        for call in calls {
            // An argument some calls leave out is not filled from a list.
            let Some(value) = call.arguments.get(argument) else {
                continue 'arguments;
            };
            if !values.iter().any(|v| same_member(v, value)) {
                values.push(value.clone());
            }
        }
        let one_list = values.len() >= 2
            && values.iter().enumerate().all(|(index, value)| {
                values[index + 1..]
                    .iter()
                    .all(|other| lists.same_list(value, other))
            });
        if !one_list {
            continue;
        }
        if let Some(earlier) = listed
            .iter()
            .find(|(_, earlier)| !lists.same_list(&earlier[0], &values[0]))
        {
            return Some((earlier.clone(), (argument.clone(), values)));
        }
        listed.push((argument.clone(), values));
    }
    None
}

/// Why one more call is asked for (see `Checking::extra_call`).
enum ExtraCall<'a> {
    /// For a member of a list the user wrote.
    Listed,
    /// After the model's last call; `by_name`, kept for a word of its function's name too.
    Asked { by_name: bool },
    /// With one argument held away from earlier values.
    Steered(&'a Steer),
}

/// One more call asked for with one argument held away from the values earlier calls gave
/// it (see `Checking::steer`).
struct Steer {
    grammar: String,
    argument: String,
    excluded: Vec<Value>,
}

/// One more call a list asks for.
struct ListedCall {
    function: String,
    argument: String,
    value: Value,
    key: ListedKey,
}

/// Function, argument and value (as the conversation holds it) of a call a list asked for:
/// not to be asked again.
type ListedKey = (String, String, String);

/// Whether `text` (the answer so far) is text or calls, once it can tell.
fn answer_kind(text: &str) -> AnswerKind {
    let trimmed = text.trim_start();
    let answer_start = if let Some(after_open) = trimmed.strip_prefix(THINK_OPEN) {
        match after_open.find(THINK_CLOSE) {
            Some(end) => text.len() - after_open.len() + end + THINK_CLOSE.len(),
            None => return AnswerKind::Undecided,
        }
    } else if !trimmed.is_empty() && THINK_OPEN.starts_with(trimmed) {
        return AnswerKind::Undecided;
    } else {
        0
    };
    let answer = &text[answer_start..];
    let leading = answer.len() - answer.trim_start().len();
    let answer = answer.trim_start();
    if answer.starts_with(OPEN) {
        AnswerKind::Calls(answer_start + leading)
    } else if answer.is_empty() || OPEN.starts_with(answer) {
        AnswerKind::Undecided
    } else {
        AnswerKind::Text
    }
}

/// Whether a property takes a rate as a fraction: typed `number` (an integer cannot hold
/// 0.05), alone or as an array's items, and not said to be in percent by its name or
/// description.
/// How often an answer's calls use each number: in all, and in arguments that take fractions.
#[derive(Debug, Default)]
struct NumberUses(Vec<(f64, usize, usize)>);

impl NumberUses {
    fn add(&mut self, number: f64, in_fraction: bool) {
        let fraction = usize::from(in_fraction);
        match self
            .0
            .iter_mut()
            .find(|(seen, _, _)| same_number(*seen, number))
        {
            Some((_, all, in_fractions)) => {
                *all += 1;
                *in_fractions += fraction;
            }
            None => self.0.push((number, 1, fraction)),
        }
    }

    /// How often `number` is used: in all, and in arguments that take fractions.
    fn of(&self, number: f64) -> (usize, usize) {
        self.0
            .iter()
            .find(|(seen, _, _)| same_number(*seen, number))
            .map_or((0, 0), |(_, all, in_fractions)| (*all, *in_fractions))
    }
}

fn takes_fractions(name: &str, property: &Value) -> bool {
    takes_numbers(property) && !said_in_percent(name, property)
}

/// Whether a property takes percentage points: a number said to be given in percent ("as a
/// percentage", "in percentage") and not said to be a decimal or a fraction ("as a decimal,
/// e.g. 5% is 0.05", "percentage contributions … which must sum to 1").
fn takes_percentage_points(name: &str, property: &Value) -> bool {
    let said = said_of(name, property);
    takes_numbers(property)
        && PERCENT_UNIT_PHRASES
            .iter()
            .any(|phrase| says_phrase(&said, phrase))
        && !FRACTION_PHRASES
            .iter()
            .any(|phrase| says_phrase(&said, phrase))
}

/// Whether `said` holds `phrase` not run on into a number ("0 to 1", not "0 to 100").
fn says_phrase(said: &str, phrase: &str) -> bool {
    said.match_indices(phrase).any(|(at, _)| {
        !said[at + phrase.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    })
}

/// Whether a property's type, or its items', is `number`.
fn takes_numbers(property: &Value) -> bool {
    let number = |schema: &Value| match schema.get("type") {
        Some(Value::String(kind)) => kind == "number",
        Some(Value::Array(kinds)) => kinds.iter().any(|kind| kind == "number"),
        _ => false,
    };
    number(property) || property.get("items").is_some_and(number)
}

fn said_in_percent(name: &str, property: &Value) -> bool {
    let said = said_of(name, property);
    PERCENT_WORDS.iter().any(|word| said.contains(word))
}

/// A property's name and description, lowercased.
fn said_of(name: &str, property: &Value) -> String {
    format!("{name} {}", property_description(property)).to_lowercase()
}

/// What a property's name or description says when it takes percentage points.
const PERCENT_WORDS: [&str; 4] = ["percent", "pct", "%", "百分"];

/// What a property's name or description says when it is given in percentage points.
const PERCENT_UNIT_PHRASES: [&str; 7] = [
    "as a percentage",
    "in percent",
    "in percentage",
    "percentage points",
    "in %",
    "(%)",
    "百分数",
];

/// What a description says when a rate is a fraction, even where it speaks of percent.
const FRACTION_PHRASES: [&str; 10] = [
    "decimal",
    "fraction",
    "0.",
    "ratio",
    "0 to 1",
    "0 and 1",
    "sum to 1",
    "sums to 1",
    "100%",
    "小数",
];

/// `value` as a JSON number of the kind `like` is (an integer stays an integer when it can).
fn written_number(value: f64, like: &Value) -> Value {
    let integral = value.fract() == 0.0 && value.abs() < 9.0e15;
    if integral && (like.is_i64() || like.is_u64()) {
        Value::from(value as i64)
    } else {
        serde_json::Number::from_f64(value).map_or_else(|| like.clone(), Value::Number)
    }
}

/// `call` rendered as [`render_calls`] renders it, up to and with the comma that follows
/// `city` in its argument `argument`: where the model continues with the state. `None` when
/// the rendering does not hold that place.
fn opened_at_value(call: &ParsedCall, argument: &str, city: &str) -> Option<String> {
    // Printable: the rendering escapes control characters.
    const MARK: &str = "@@state@@";
    let mut marked = call.clone();
    marked.arguments.as_object_mut()?.insert(
        argument.to_string(),
        Value::String(format!("{city},{MARK}")),
    );
    let rendered = render_calls(std::slice::from_ref(&marked));
    let at = rendered.find(MARK)?;
    Some(rendered[..at].to_string())
}

/// Calls as the model writes them (Qwen's Hermes tags, Python's JSON separators).
/// Whether `part` stands as whole words inside `whole`, in any case, and is not all of it.
fn part_of(part: &str, whole: &str) -> bool {
    let (part, whole) = (part.trim().to_lowercase(), whole.trim().to_lowercase());
    let needle: Vec<char> = part.chars().collect();
    let haystack: Vec<char> = whole.chars().collect();
    part != whole && find_words(&haystack, &needle).is_some()
}

fn render_calls(calls: &[ParsedCall]) -> String {
    calls
        .iter()
        .map(|call| {
            let name = to_python_json(&call.name).unwrap_or_default();
            let arguments =
                to_python_json(&call.arguments).unwrap_or_else(|_| call.arguments.to_string());
            format!("{OPEN}\n{{\"name\": {name}, \"arguments\": {arguments}}}\n</tool_call>")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_answer_is_known_as_text_or_calls_once_its_first_words_tell() {
        assert_eq!(answer_kind(""), AnswerKind::Undecided);
        assert_eq!(answer_kind("<tool"), AnswerKind::Undecided);
        assert_eq!(answer_kind("<think>hmm"), AnswerKind::Undecided);
        assert_eq!(answer_kind("The answer"), AnswerKind::Text);
        assert_eq!(answer_kind("<tool_call>\n{"), AnswerKind::Calls(0));
        let thought = "<think>weather?</think>\n\n<tool_call>";
        assert_eq!(
            answer_kind(thought),
            AnswerKind::Calls(thought.find(OPEN).unwrap_or(0))
        );
        assert_eq!(answer_kind("<think>x</think>\nIt is"), AnswerKind::Text);
    }

    #[test]
    fn calls_are_rendered_as_the_model_writes_them() {
        let calls = vec![
            ParsedCall {
                name: "f".into(),
                arguments: json!({"a": 1, "b": "x"}),
            },
            ParsedCall {
                name: "g".into(),
                arguments: json!({}),
            },
        ];
        assert_eq!(
            render_calls(&calls),
            "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1, \"b\": \"x\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"g\", \"arguments\": {}}\n</tool_call>"
        );
    }

    fn tools() -> Arc<ToolSet> {
        let definition = |name: &str, required: serde_json::Value| fulcrum_chat::ToolDefinition {
            name: name.into(),
            description: None,
            parameters: json!({
                "type": "object",
                "properties": {
                    "artist": {"type": "string"},
                    "minutes": {"type": "integer"},
                    "distance": {"type": "number"},
                    "speed": {"type": "number"},
                    "order": {"type": "string", "enum": ["shuffled", "as listed"]},
                    "rate": {"type": "number", "description": "The annual interest rate."},
                    "years": {"type": "integer"},
                    "discount": {"type": "number", "description": "Discount in percent."},
                    "genres": {"type": "array",
                               "items": {"type": "string", "enum": ["rock", "jazz", "pop", "classical"]}},
                    "songs": {"type": "array", "items": {"type": "string"}},
                    "tour": {"type": "string"},
                    "lyrics": {"type": "boolean", "description": "If true, each song comes with its words."},
                    "city": {"type": "string", "description": "The city and state, e.g. Seattle, WA"},
                    "year": {"type": "integer"},
                    "start": {"type": "string"},
                    "end": {"type": "string"},
                    "unit": {"type": "string", "description": "The unit of the distance. Default is 'km'."}
                },
                "required": required
            }),
            strict: false,
        };
        Arc::new(
            ToolSet::new(vec![
                definition("play", json!(["artist", "minutes"])),
                definition("travel_time", json!(["distance", "speed"])),
                definition("grow", json!(["distance", "rate", "years"])),
                definition("route", json!(["start", "end"])),
            ])
            .expect("tools"),
        )
    }

    fn call(name: &str, arguments: serde_json::Value) -> String {
        render_calls(&[ParsedCall {
            name: name.into(),
            arguments,
        }])
    }

    /// Runs one checked generation of the scripted `outputs` for the user's `question`.
    async fn answer(
        question: &str,
        choice: ToolChoice,
        outputs: Vec<String>,
    ) -> (String, Usage, Vec<GenerationRequest>) {
        let (text, usage, requests, _) = answer_reported(question, choice, outputs).await;
        (text, usage, requests)
    }

    /// [`answer`] with what the checks reported.
    async fn answer_reported(
        question: &str,
        choice: ToolChoice,
        outputs: Vec<String>,
    ) -> (String, Usage, Vec<GenerationRequest>, Option<CheckReport>) {
        let (answer, requests, report) = try_answer(question, choice, outputs).await;
        let (text, usage) = answer.expect("generated");
        (text, usage, requests, report)
    }

    /// [`answer_reported`], where the checked generation may end in an error.
    async fn try_answer(
        question: &str,
        choice: ToolChoice,
        outputs: Vec<String>,
    ) -> (
        Result<(String, Usage), EngineError>,
        Vec<GenerationRequest>,
        Option<CheckReport>,
    ) {
        try_answer_tuned(&ToolCallTuning::default(), question, choice, outputs).await
    }

    /// [`try_answer`] under `tuning`.
    /// Asserts that under `off` (a check switched off) the model's `output` for `question`
    /// is sent as the model wrote it.
    async fn sent_as_written_under(off: ToolCallTuning, question: &str, output: &str) {
        let (kept, _, _) =
            try_answer_tuned(&off, question, ToolChoice::Auto, vec![output.to_string()]).await;
        assert_eq!(kept.expect("generated").0, output);
    }

    async fn try_answer_tuned(
        tuning: &ToolCallTuning,
        question: &str,
        choice: ToolChoice,
        outputs: Vec<String>,
    ) -> (
        Result<(String, Usage), EngineError>,
        Vec<GenerationRequest>,
        Option<CheckReport>,
    ) {
        let scripted = Arc::new(fulcrum_engine::scripted::ScriptedBackend::new(outputs));
        answer_on(scripted, &tools(), tuning, question, choice).await
    }

    /// One checked generation on `scripted` with `tools` under `tuning`.
    async fn answer_on(
        scripted: Arc<fulcrum_engine::scripted::ScriptedBackend>,
        tools: &Arc<ToolSet>,
        tuning: &ToolCallTuning,
        question: &str,
        choice: ToolChoice,
    ) -> (
        Result<(String, Usage), EngineError>,
        Vec<GenerationRequest>,
        Option<CheckReport>,
    ) {
        let backend: Arc<dyn Backend> = scripted.clone();
        let check = CallCheck::new(
            tuning,
            tools,
            &[Message::user(question)],
            &choice,
            true,
            true,
        )
        .expect("a check applies");
        let report = check.report();
        let request = GenerationRequest::greedy("PROMPT ".into(), 200);
        let stream = checked_generation(&backend, request, check)
            .await
            .expect("started");
        let answer = stream.collect().await.map(|(text, _, usage)| (text, usage));
        (answer, scripted.requests(), report.take())
    }

    #[tokio::test]
    async fn a_text_answer_that_repeats_the_message_gives_way_to_a_call() {
        let question = "How do I get from Paris to Lyon?";
        let echo = "How do I get from Paris to Lyon?";
        let made = call("route", json!({"start": "Paris", "end": "Lyon"}));
        let (answer, requests, report) =
            try_answer(question, ToolChoice::Auto, vec![echo.into(), made.clone()]).await;
        let (text, usage) = answer.expect("generated");
        assert_eq!(text, made);
        let report = report.expect("the checks changed the answer");
        assert!(report.echo_replaced_by_call);
        assert_eq!(report.model_answer, echo);
        // The calls asked for in the echo's place, from the prompt (the probes for more
        // calls follow).
        assert_eq!(requests[1].prompt, "PROMPT ");
        let calls_grammar = tools().grammar(&ToolChoice::Required, true);
        assert_eq!(requests[1].grammar.as_deref(), Some(calls_grammar.as_str()));
        // The echo's tokens count as generated.
        assert!(usage.completion_tokens > made.split_inclusive(' ').count() as u32);

        // A call nobody's words ground is dropped; the text the model gives then stands.
        let invented = call("route", json!({"start": "Rome", "end": "Milan"}));
        let (answer, _, report) = try_answer(
            question,
            ToolChoice::Auto,
            vec![echo.into(), invented, "Take the train.".into()],
        )
        .await;
        assert_eq!(answer.expect("generated").0, "Take the train.");
        assert!(report.expect("reported").answered_in_text);

        // An answer that begins as the message and goes on is an answer; so is a short
        // message said back.
        let answered = "How do I get from Paris to Lyon? By train, in two hours.";
        let (answer, requests, _) =
            try_answer(question, ToolChoice::Auto, vec![answered.into()]).await;
        assert_eq!(answer.expect("generated").0, answered);
        assert_eq!(requests.len(), 1);
        let (answer, requests, _) =
            try_answer("Hi there", ToolChoice::Auto, vec!["Hi there".into()]).await;
        assert_eq!(answer.expect("generated").0, "Hi there");
        assert_eq!(requests.len(), 1);

        let off = ToolCallTuning {
            call_after_echo: false,
            ..ToolCallTuning::default()
        };
        sent_as_written_under(off, question, echo).await;
    }

    #[tokio::test]
    async fn a_call_written_into_the_text_is_asked_for_as_a_call_after_the_text_sent() {
        let question = "How do I get from Paris to Lyon?";
        let prose = "You can use the following function call:\n\n";
        let written = format!(
            "{prose}```json\n{{\"name\": \"route\", \"arguments\": {{\"start\": \"Paris\", \"end\": \"Lyon\"}}}}\n```\nIt returns the route, and then you can read it."
        );
        let made = call("route", json!({"start": "Paris", "end": "Lyon"}));
        let (answer, requests, report) = try_answer(
            question,
            ToolChoice::Auto,
            vec![written.clone(), made.clone()],
        )
        .await;
        let (text, usage) = answer.expect("generated");
        assert_eq!(text, format!("{prose}{made}"));
        let report = report.expect("the checks changed the answer");
        assert_eq!(report.call_written_as_text.as_deref(), Some("route"));
        // Stopped once the block named the tool: the model's answer up to there.
        assert!(report.model_answer.starts_with(&format!("{prose}```json")));
        assert!(report.model_answer.contains("\"name\": \"route\""));
        assert!(!report.model_answer.contains("It returns"));
        assert_eq!(requests[1].prompt, format!("PROMPT {prose}"));
        let calls_grammar = tools().grammar(&ToolChoice::Required, true);
        assert_eq!(requests[1].grammar.as_deref(), Some(calls_grammar.as_str()));
        // The text's tokens up to the block's end are counted, not the prose's twice.
        assert!(usage.completion_tokens >= made.split_inclusive(' ').count() as u32);

        let off = ToolCallTuning {
            calls_written_as_text: false,
            ..ToolCallTuning::default()
        };
        let (answer, requests, report) =
            try_answer_tuned(&off, question, ToolChoice::Auto, vec![written.clone()]).await;
        assert_eq!(answer.expect("generated").0, written);
        assert_eq!(requests.len(), 1);
        assert!(report.is_none());
    }

    #[tokio::test]
    async fn a_text_naming_a_tool_in_prose_or_code_is_sent_as_written() {
        let text = "The `route` tool needs a start.\n```python\ndef route(start, end):\n    return None\n```\nTell me where you start.";
        let (answer, requests, report) =
            try_answer("How do I get to Lyon?", ToolChoice::Auto, vec![text.into()]).await;
        assert_eq!(answer.expect("generated").0, text);
        assert_eq!(requests.len(), 1);
        assert!(report.is_none());
    }

    #[tokio::test]
    async fn an_answer_whose_calls_are_all_invented_is_generated_again_as_text() {
        let invented = call("travel_time", json!({"distance": 100, "speed": 50}));
        let (text, usage, requests, report) = answer_reported(
            "What time is it now?",
            ToolChoice::Auto,
            vec![invented.clone(), "I cannot tell the time.".into()],
        )
        .await;
        assert_eq!(text, "I cannot tell the time.");
        let report = report.expect("the checks changed the answer");
        assert_eq!(report.model_answer, invented);
        assert!(report.answered_in_text);
        assert_eq!(report.dropped.len(), 1);
        assert_eq!(report.dropped[0].reason, "not_in_conversation");
        assert_eq!(report.dropped[0].arguments["distance"], 100);
        assert_eq!(requests.len(), 2);
        let text_grammar = tools().grammar(&ToolChoice::None, false);
        assert_eq!(requests[1].grammar.as_deref(), Some(text_grammar.as_str()));
        let invented_tokens = invented.split_inclusive(' ').count() as u32;
        assert_eq!(usage.completion_tokens, invented_tokens + 5);
    }

    /// Three described tools, and a scripted model that finds a message likelier after the
    /// description of `play` (-1 per token) than alone (-2), less likely after that of
    /// `travel_time` (-3), and as likely after that of `weather`: a message about music,
    /// whatever its words.
    fn relevance_setup(
        outputs: Vec<String>,
    ) -> (Arc<fulcrum_engine::scripted::ScriptedBackend>, Arc<ToolSet>) {
        let tool = |name: &str, description: &str, required: serde_json::Value| {
            fulcrum_chat::ToolDefinition {
                name: name.into(),
                description: Some(description.into()),
                parameters: json!({
                    "type": "object",
                    "properties": {
                        "artist": {"type": "string"},
                        "minutes": {"type": "integer"},
                        "distance": {"type": "number"},
                        "speed": {"type": "number"},
                        "city": {"type": "string"},
                        "day": {"type": "string"}
                    },
                    "required": required
                }),
                strict: false,
            }
        };
        let tools = Arc::new(
            ToolSet::new(vec![
                tool(
                    "play",
                    "Plays an artist's songs.",
                    json!(["artist", "minutes"]),
                ),
                tool(
                    "travel_time",
                    "The time a trip takes.",
                    json!(["distance", "speed"]),
                ),
                tool(
                    "weather",
                    "The weather of a city on a day.",
                    json!(["city", "day"]),
                ),
            ])
            .expect("tools"),
        );
        let scripted = fulcrum_engine::scripted::ScriptedBackend::new(outputs).with_prompt_scores(
            |prompt: &str| {
                if prompt.contains("The tool `play`") {
                    -1.0
                } else if prompt.contains("The tool `travel_time`") {
                    -3.0
                } else {
                    -2.0
                }
            },
        );
        (Arc::new(scripted), tools)
    }

    fn scored(requests: &[GenerationRequest]) -> Vec<&GenerationRequest> {
        requests
            .iter()
            .filter(|r| r.prompt_logprobs.is_some())
            .collect()
    }

    #[tokio::test]
    async fn a_text_answer_to_a_message_naming_a_function_gives_way_to_its_call() {
        let question = "What is the travel time of 30 km at 60 km/h?";
        let travel = call("travel_time", json!({"distance": 30, "speed": 60}));
        let tuning = ToolCallTuning {
            probe_parallel_calls: false,
            ..ToolCallTuning::default()
        };
        let (scripted, tools) =
            relevance_setup(vec!["It takes half an hour.".into(), travel.clone()]);
        let (answer, requests, report) =
            answer_on(scripted, &tools, &tuning, question, ToolChoice::Auto).await;
        // Called, though the relevance check alone finds the message unrelated to it.
        assert_eq!(answer.expect("answered").0, travel);
        let report = report.expect("the checks changed the answer");
        assert_eq!(report.named_function_called.as_deref(), Some("travel_time"));
        // The model's own answer is the text as far as it went.
        assert_eq!(report.model_answer, "It ");
        // The call was asked for among the named functions alone.
        let named = tools.one_call_grammar(&|name: &str| name == "travel_time");
        assert_eq!(requests[1].grammar.as_deref(), Some(named.as_str()));

        // A call carrying a value nobody wrote is no answer: text again.
        let (scripted, tools) = relevance_setup(vec![
            "It takes half an hour.".into(),
            travel.clone(),
            "It depends on the distance.".into(),
        ]);
        let (answer, _, report) = answer_on(
            scripted,
            &tools,
            &tuning,
            "What is the travel time of the trip?",
            ToolChoice::Auto,
        )
        .await;
        assert_eq!(answer.expect("answered").0, "It depends on the distance.");
        assert!(report.expect("regenerated").answered_in_text);

        // One word of the name is a topic, not the function: the text stands.
        let (scripted, tools) = relevance_setup(vec!["About an hour.".into(), travel.clone()]);
        let (answer, _, _) = answer_on(
            scripted,
            &tools,
            &tuning,
            "How long does a trip of 30 km at 60 km/h take?",
            ToolChoice::Auto,
        )
        .await;
        assert_eq!(answer.expect("answered").0, "About an hour.");

        // Switched off, the model's text is sent as it wrote it.
        let off = ToolCallTuning {
            named_functions_called: false,
            ..tuning
        };
        let (scripted, tools) =
            relevance_setup(vec!["It takes half an hour.".into(), travel.clone()]);
        let (answer, _, _) = answer_on(scripted, &tools, &off, question, ToolChoice::Auto).await;
        assert_eq!(answer.expect("answered").0, "It takes half an hour.");
    }

    #[tokio::test]
    async fn calls_only_of_functions_the_message_does_not_ask_for_are_answered_in_text() {
        let question = "Play Queen for 20 minutes, then give the travel time of 30 km at 60 km/h";
        let travel = call("travel_time", json!({"distance": 30, "speed": 60}));
        let play = call("play", json!({"artist": "Queen", "minutes": 20}));
        // The relevance check alone: the message names `travel_time`, which would keep it.
        let tuning = ToolCallTuning {
            probe_parallel_calls: false,
            named_functions_called: false,
            ..ToolCallTuning::default()
        };

        // The only call is of a function the message does not read as asking for: text.
        let (scripted, tools) =
            relevance_setup(vec![travel.clone(), "I cannot play music.".into()]);
        let (answer, requests, report) =
            answer_on(scripted, &tools, &tuning, question, ToolChoice::Auto).await;
        let (text, _) = answer.expect("answered");
        assert_eq!(text, "I cannot play music.");
        let report = report.expect("the checks changed the answer");
        assert!(report.answered_in_text);
        assert_eq!(report.dropped.len(), 1);
        assert_eq!(report.dropped[0].name, "travel_time");
        assert_eq!(report.dropped[0].reason, "unrelated_to_request");
        // The message alone and after the description of the one function called.
        let scored = scored(&requests);
        assert_eq!(scored.len(), 2);
        assert!(scored.iter().all(|r| r.prompt.ends_with(question)));
        assert!(scored.iter().all(|r| r.max_tokens == Some(0)));
        assert!(scored.iter().any(|r| !r.prompt.contains("The tool")));
        assert!(scored.iter().any(|r| r
            .prompt
            .starts_with("The tool `travel_time`: The time a trip takes.\n")));

        // Beside a call of a function it asks for, both stand: a request of several parts
        // reads only in part as each function's.
        let both = format!("{play}\n{travel}");
        let (scripted, tools) = relevance_setup(vec![both.clone()]);
        let (answer, requests, report) =
            answer_on(scripted, &tools, &tuning, question, ToolChoice::Auto).await;
        assert_eq!(answer.expect("answered").0, both, "{report:?}");
        assert!(report.is_none());
        assert_eq!(self::scored(&requests).len(), 2, "alone, then `play`");

        // A floor below the function's relevance keeps the call.
        let low_floor = ToolCallTuning {
            call_relevance_floor: -1.5,
            ..tuning
        };
        let (scripted, tools) = relevance_setup(vec![travel.clone()]);
        let (answer, _, _) =
            answer_on(scripted, &tools, &low_floor, question, ToolChoice::Auto).await;
        assert_eq!(answer.expect("answered").0, travel);

        // Switched off, or where a call is required, nothing is scored.
        let off = ToolCallTuning {
            call_relevance: false,
            ..tuning
        };
        for (tuning, choice) in [(off, ToolChoice::Auto), (tuning, ToolChoice::Required)] {
            let (scripted, tools) = relevance_setup(vec![travel.clone()]);
            let (answer, requests, _) =
                answer_on(scripted, &tools, &tuning, question, choice).await;
            assert_eq!(answer.expect("answered").0, travel);
            assert!(requests.iter().all(|r| r.prompt_logprobs.is_none()));
        }

        // A message in another script than the descriptions is not weighed against them.
        let (scripted, tools) = relevance_setup(vec![travel.clone()]);
        let (answer, requests, _) = answer_on(
            scripted,
            &tools,
            &tuning,
            "以每小时60公里计算30公里的时间",
            ToolChoice::Auto,
        )
        .await;
        assert_eq!(answer.expect("answered").0, travel);
        assert!(requests.iter().all(|r| r.prompt_logprobs.is_none()));
    }

    #[tokio::test]
    async fn a_function_whose_calls_invent_a_required_value_is_held_to_the_higher_floor() {
        let question = "Will it rain in Paris tomorrow?";
        let tuning = ToolCallTuning {
            probe_parallel_calls: false,
            ..ToolCallTuning::default()
        };
        // `weather` scores 0 per token: above `call_relevance_floor`, below the floor for
        // invented values.
        let told = call("weather", json!({"city": "Paris", "day": "tomorrow"}));
        let (scripted, tools) = relevance_setup(vec![told.clone()]);
        let (answer, _, report) =
            answer_on(scripted, &tools, &tuning, question, ToolChoice::Auto).await;
        assert_eq!(answer.expect("answered").0, told);
        assert!(report.is_none());

        // The same function given a day nobody wrote: grounding keeps it (one required
        // value is the message's), the higher floor does not.
        let invented = call("weather", json!({"city": "Paris", "day": "2023-04-15"}));
        let (scripted, tools) =
            relevance_setup(vec![invented.clone(), "I cannot tell the weather.".into()]);
        let (answer, _, report) =
            answer_on(scripted, &tools, &tuning, question, ToolChoice::Auto).await;
        assert_eq!(answer.expect("answered").0, "I cannot tell the weather.");
        let report = report.expect("the checks changed the answer");
        assert_eq!(report.dropped.len(), 1);
        assert_eq!(report.dropped[0].reason, "unrelated_to_request");

        // Beside a call of the same function with the values told, the function is held to
        // the lower floor.
        let both = format!("{told}\n{invented}");
        let (scripted, tools) = relevance_setup(vec![both]);
        let (answer, _, _) = answer_on(scripted, &tools, &tuning, question, ToolChoice::Auto).await;
        assert!(answer.expect("answered").0.contains("tomorrow"));

        // With the floor for invented values at the other floor, the call stands.
        let same_floor = ToolCallTuning {
            call_relevance_floor_invented: crate::tuning::DEFAULT_CALL_RELEVANCE_FLOOR,
            ..tuning
        };
        let (scripted, tools) = relevance_setup(vec![invented.clone()]);
        let (answer, _, _) =
            answer_on(scripted, &tools, &same_floor, question, ToolChoice::Auto).await;
        assert_eq!(answer.expect("answered").0, invented);
    }

    #[tokio::test]
    async fn a_function_named_for_the_opposite_of_the_request_is_not_what_was_asked() {
        let sunrise = fulcrum_chat::ToolDefinition {
            name: "calculate_sunrise".into(),
            description: Some("The time of sunrise in a city on a day.".into()),
            parameters: json!({
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"]
            }),
            strict: false,
        };
        let tools = Arc::new(ToolSet::new(vec![sunrise]).expect("tools"));
        let answer_to = |question: &'static str, tuning: ToolCallTuning| {
            let tools = Arc::clone(&tools);
            async move {
                // The message reads well under the description: 1 nat per token above alone.
                let scripted = fulcrum_engine::scripted::ScriptedBackend::new(vec![
                    call("calculate_sunrise", json!({"city": "Beijing"})),
                    "I cannot tell the sunset.".into(),
                ])
                .with_prompt_scores(|prompt: &str| {
                    if prompt.contains("The tool `") {
                        -1.0
                    } else {
                        -2.0
                    }
                });
                let (answer, _, _) = answer_on(
                    Arc::new(scripted),
                    &tools,
                    &tuning,
                    question,
                    ToolChoice::Auto,
                )
                .await;
                answer.expect("answered").0
            }
        };
        let tuning = ToolCallTuning {
            probe_parallel_calls: false,
            ..ToolCallTuning::default()
        };
        assert_eq!(
            answer_to("When is sunset in Beijing today?", tuning).await,
            "I cannot tell the sunset."
        );
        assert!(answer_to("When is sunrise in Beijing today?", tuning)
            .await
            .contains("calculate_sunrise"));
        let off = ToolCallTuning {
            call_relevance_opposites: false,
            ..tuning
        };
        assert!(answer_to("When is sunset in Beijing today?", off)
            .await
            .contains("calculate_sunrise"));
    }

    #[tokio::test]
    async fn a_function_whose_calls_invent_a_required_number_is_held_to_its_own_floor() {
        // `play` scores 1 per token: above the floor for invented values, below this one.
        let tuning = ToolCallTuning {
            probe_parallel_calls: false,
            call_relevance_floor_invented_number: 1.5,
            ..ToolCallTuning::default()
        };
        let answer_to = |question: &'static str, output: String, tuning: ToolCallTuning| async move {
            let (scripted, tools) = relevance_setup(vec![output, "Which song?".into()]);
            let (answer, _, _) =
                answer_on(scripted, &tools, &tuning, question, ToolChoice::Auto).await;
            answer.expect("answered").0
        };
        let written = call("play", json!({"artist": "Queen", "minutes": 20}));
        let made_up = call("play", json!({"artist": "Queen", "minutes": 45}));
        let an_hour = call("play", json!({"artist": "Queen", "minutes": 60}));

        assert_eq!(
            answer_to("Play Queen for 20 minutes", written.clone(), tuning).await,
            written
        );
        assert_eq!(
            answer_to("Play Queen", made_up.clone(), tuning).await,
            "Which song?"
        );
        // An hour is 60 minutes: the number is the request's, though not written.
        assert_eq!(
            answer_to("Play Queen for an hour", an_hour.clone(), tuning).await,
            an_hour
        );

        let off = ToolCallTuning {
            call_relevance_floor_invented_number: crate::tuning::DEFAULT_CALL_RELEVANCE_FLOOR,
            ..tuning
        };
        assert_eq!(answer_to("Play Queen", made_up.clone(), off).await, made_up);
    }

    #[tokio::test]
    async fn an_engine_that_cannot_score_a_text_keeps_the_calls() {
        let travel = call("travel_time", json!({"distance": 30, "speed": 60}));
        let (answer, requests, _) = try_answer(
            "Play Queen for 20 minutes, then give the travel time of 30 km at 60 km/h",
            ToolChoice::Auto,
            vec![travel.clone()],
        )
        .await;
        assert_eq!(answer.expect("answered").0, travel);
        assert!(requests.iter().all(|r| r.prompt_logprobs.is_none()));
    }

    #[tokio::test]
    async fn a_value_copied_into_another_argument_is_left_out_or_its_call_dropped() {
        // The model found no value for the optional `tour` and copied the artist into it:
        // the copy is left out, the call stands.
        let toured = call(
            "play",
            json!({"artist": "Queen", "minutes": 20, "tour": "queen"}),
        );
        let queen = call("play", json!({"artist": "Queen", "minutes": 20}));
        let (text, _, _, report) = answer_reported(
            "Play Queen for 20 minutes",
            ToolChoice::Auto,
            vec![toured.clone()],
        )
        .await;
        assert_eq!(text, queen);
        let report = report.expect("the checks changed the answer");
        assert_eq!(report.dropped_arguments.len(), 1);
        assert_eq!(report.dropped_arguments[0].argument, "tour");
        assert_eq!(report.dropped_arguments[0].reason, "copied_value");

        // Both required ends one place written once: only dropping the call undoes it.
        let round = call("route", json!({"start": "Chicago", "end": "Chicago"}));
        let (text, _, requests, report) = answer_reported(
            "How do I get to Chicago?",
            ToolChoice::Auto,
            vec![round.clone(), "From where?".into()],
        )
        .await;
        assert_eq!(text, "From where?");
        let report = report.expect("the checks changed the answer");
        assert!(report.answered_in_text);
        assert_eq!(report.dropped.len(), 1);
        assert_eq!(report.dropped[0].reason, "copied_value");
        // The answer, a call among the other tools (none written), the text.
        assert_eq!(requests.len(), 3);

        // Beside a call of its own the copy goes and the other call stays.
        let (text, _, _, report) = answer_reported(
            "How do I get to Chicago, and play Queen for 20 minutes on the way",
            ToolChoice::Auto,
            vec![format!("{round}\n{queen}")],
        )
        .await;
        assert_eq!(text, queen);
        assert_eq!(report.expect("changed").dropped[0].reason, "copied_value");

        // Written as often as carried, the value is the user's.
        let (text, _, _, report) = answer_reported(
            "A round trip from Chicago back to Chicago, please",
            ToolChoice::Auto,
            vec![round.clone()],
        )
        .await;
        assert_eq!(text, round);
        assert!(report.is_none_or(|r| r.dropped.is_empty()));

        // Switched off, the copies stay.
        let off = ToolCallTuning {
            drop_copied_values: false,
            ..ToolCallTuning::default()
        };
        for copied in [&toured, &round] {
            let (answer, _, _) = try_answer_tuned(
                &off,
                "Play Queen for 20 minutes; how do I get to Chicago?",
                ToolChoice::Auto,
                vec![copied.clone()],
            )
            .await;
            assert_eq!(&answer.expect("generated").0, copied);
        }
    }

    #[tokio::test]
    async fn a_number_copied_into_another_argument_is_left_out_or_its_call_dropped() {
        // The optional `year` took the minutes: left out, the call stands.
        let dated = call(
            "play",
            json!({"artist": "Queen", "minutes": 20, "year": 20}),
        );
        let queen = call("play", json!({"artist": "Queen", "minutes": 20}));
        let (text, _, _, report) = answer_reported(
            "Play Queen for 20 minutes",
            ToolChoice::Auto,
            vec![dated.clone()],
        )
        .await;
        assert_eq!(text, queen);
        let report = report.expect("the checks changed the answer");
        assert_eq!(report.dropped_arguments.len(), 1);
        assert_eq!(report.dropped_arguments[0].argument, "year");
        assert_eq!(report.dropped_arguments[0].reason, "copied_number");

        // The speed took the distance, written once: the call goes, the other stays.
        let question = "The travel time of 400 km at 100 km/h, and of 1000 km at 250 km/h";
        let first = call("travel_time", json!({"distance": 400, "speed": 100}));
        let copied = call("travel_time", json!({"distance": 1000, "speed": 1000}));
        let (text, _, _, report) = answer_reported(
            question,
            ToolChoice::Auto,
            vec![format!("{first}\n{copied}")],
        )
        .await;
        assert_eq!(text, first);
        let report = report.expect("the checks changed the answer");
        assert_eq!(report.dropped.len(), 1);
        assert_eq!(report.dropped[0].reason, "copied_number");

        // Alone, the call stays: its number may be the user's.
        let (text, _, _, _) =
            answer_reported(question, ToolChoice::Auto, vec![copied.clone()]).await;
        assert_eq!(text, copied);

        // Written as often as carried, the number is the user's.
        let square = call("travel_time", json!({"distance": 60, "speed": 60}));
        let (text, _, _, _) = answer_reported(
            "The travel time of 60 km at 60 km/h, and of 400 km at 100 km/h",
            ToolChoice::Auto,
            vec![format!("{square}\n{first}")],
        )
        .await;
        assert_eq!(text, format!("{square}\n{first}"));

        // Switched off, the copies stay.
        let off = ToolCallTuning {
            drop_copied_numbers: false,
            ..ToolCallTuning::default()
        };
        let (answer, _, _) = try_answer_tuned(
            &off,
            "Play Queen for 20 minutes",
            ToolChoice::Auto,
            vec![dated.clone()],
        )
        .await;
        assert_eq!(answer.expect("generated").0, dated);
    }

    #[tokio::test]
    async fn an_optional_choice_the_user_named_is_given_where_the_call_left_it_out() {
        let question = "Play Queen for 20 minutes, shuffled";
        let queen = call("play", json!({"artist": "Queen", "minutes": 20}));
        let shuffled = call(
            "play",
            json!({"artist": "Queen", "minutes": 20, "order": "shuffled"}),
        );
        let (text, _, _, report) =
            answer_reported(question, ToolChoice::Auto, vec![queen.clone()]).await;
        assert_eq!(text, shuffled);
        let report = report.expect("the checks changed the answer");
        assert_eq!(report.rewritten_arguments.len(), 1);
        assert_eq!(report.rewritten_arguments[0].reason, "choice_named");
        assert_eq!(report.rewritten_arguments[0].value, Value::Null);

        // Not named as whole words, or given by another call of the function: left out.
        let (text, _, _, _) = answer_reported(
            "Play Queen for 20 minutes, reshuffled",
            ToolChoice::Auto,
            vec![queen.clone()],
        )
        .await;
        assert_eq!(text, queen);
        let abba = call(
            "play",
            json!({"artist": "ABBA", "minutes": 20, "order": "shuffled"}),
        );
        let both = format!("{abba}\n{queen}");
        let (text, _, _, _) = answer_reported(
            "Play ABBA for 20 minutes shuffled, then Queen for 20 minutes",
            ToolChoice::Auto,
            vec![both.clone()],
        )
        .await;
        assert_eq!(text, both);

        let off = ToolCallTuning {
            optional_choices_named: false,
            ..ToolCallTuning::default()
        };
        let (answer, _, _) =
            try_answer_tuned(&off, question, ToolChoice::Auto, vec![queen.clone()]).await;
        assert_eq!(answer.expect("generated").0, queen);
    }

    #[tokio::test]
    async fn a_currency_named_in_a_currency_argument_is_written_as_its_code() {
        let tools = Arc::new(
            ToolSet::new(vec![fulcrum_chat::ToolDefinition {
                name: "convert".into(),
                description: Some("Converts an amount between currencies.".into()),
                parameters: json!({
                    "type": "object",
                    "properties": {
                        "amount": {"type": "number"},
                        "from_currency": {"type": "string"},
                        "to_currency": {"type": "string"}
                    },
                    "required": ["amount", "from_currency", "to_currency"]
                }),
                strict: false,
            }])
            .expect("tools"),
        );
        let question = "Convert 200 euros to US dollars";
        let named = call(
            "convert",
            json!({"amount": 200, "from_currency": "euros", "to_currency": "us_dollars"}),
        );
        let coded = call(
            "convert",
            json!({"amount": 200, "from_currency": "EUR", "to_currency": "USD"}),
        );
        let answer_with = |tuning: ToolCallTuning| {
            let scripted = Arc::new(fulcrum_engine::scripted::ScriptedBackend::new(vec![
                named.clone()
            ]));
            let tools = Arc::clone(&tools);
            async move { answer_on(scripted, &tools, &tuning, question, ToolChoice::Auto).await }
        };
        let (answer, _, report) = answer_with(ToolCallTuning::default()).await;
        assert_eq!(answer.expect("generated").0, coded);
        let report = report.expect("the checks changed the answer");
        assert!(report
            .rewritten_arguments
            .iter()
            .all(|rewritten| rewritten.reason == "currency_code"));
        assert_eq!(report.rewritten_arguments.len(), 2);

        let off = ToolCallTuning {
            currencies_as_codes: false,
            ..ToolCallTuning::default()
        };
        let (answer, _, _) = answer_with(off).await;
        assert_eq!(answer.expect("generated").0, named);
    }

    #[tokio::test]
    async fn a_unit_left_to_its_default_is_set_to_the_one_the_user_wrote() {
        let question = "How long does a drive of 30 miles take at 40 mph?";
        let trip = call("travel_time", json!({"distance": 30, "speed": 40}));
        let in_miles = call(
            "travel_time",
            json!({"distance": 30, "speed": 40, "unit": "miles"}),
        );
        // Left out (the default, km, would apply) or copied from the description alike.
        let defaulted = call(
            "travel_time",
            json!({"distance": 30, "speed": 40, "unit": "km"}),
        );
        for answer in [&trip, &defaulted] {
            let (text, _, _, report) =
                answer_reported(question, ToolChoice::Auto, vec![answer.clone()]).await;
            assert_eq!(text, in_miles);
            let report = report.expect("the checks changed the answer");
            assert_eq!(report.rewritten_arguments.len(), 1);
            assert_eq!(report.rewritten_arguments[0].reason, "unit_as_written");
            assert_eq!(report.rewritten_arguments[0].written, json!("miles"));
        }
        // A unit the user wrote stays.
        let (text, _, _, _) = answer_reported(
            "How long does a drive of 30 km take at 40 km/h?",
            ToolChoice::Auto,
            vec![trip.clone()],
        )
        .await;
        assert_eq!(text, trip);

        let off = ToolCallTuning {
            units_as_written: false,
            ..ToolCallTuning::default()
        };
        let (answer, _, _) =
            try_answer_tuned(&off, question, ToolChoice::Auto, vec![trip.clone()]).await;
        assert_eq!(answer.expect("generated").0, trip);
    }

    #[tokio::test]
    async fn when_every_call_copied_a_value_another_tool_the_message_asks_for_is_called() {
        let round = call("route", json!({"start": "Chicago", "end": "Chicago"}));
        let queen = call("play", json!({"artist": "Queen", "minutes": 20}));
        let question = "Play Queen for 20 minutes while I drive in Chicago";
        let (text, _, requests, report) = answer_reported(
            question,
            ToolChoice::Auto,
            vec![round.clone(), queen.clone()],
        )
        .await;
        assert_eq!(text, queen);
        let report = report.expect("the checks changed the answer");
        assert_eq!(report.dropped[0].reason, "copied_value");
        assert_eq!(report.added[0].reason, "instead_of_copy");
        // The call asked for in its place could not be the copied function's.
        let grammar = requests[1].grammar.as_deref().expect("a grammar");
        assert!(
            grammar.contains("play") && !grammar.contains("\"route\""),
            "{grammar}"
        );

        // A call of a tool the message does not ask for is not kept in its place.
        let grow = call("grow", json!({"distance": 20, "rate": 20, "years": 20}));
        let (text, _, _, _) = answer_reported(
            question,
            ToolChoice::Auto,
            vec![round.clone(), grow, "Which route?".into()],
        )
        .await;
        assert_eq!(text, "Which route?");
    }

    #[tokio::test]
    async fn an_extra_call_whose_only_new_value_is_a_pronoun_is_not_kept() {
        let queen = call("play", json!({"artist": "Queen", "minutes": 20}));
        let me = call("play", json!({"artist": "I", "minutes": 20}));
        let question = "I would like Queen for 20 minutes";
        let (text, _, _) =
            answer(question, ToolChoice::Auto, vec![queen.clone(), me.clone()]).await;
        assert_eq!(text, queen);

        let counted = ToolCallTuning {
            pronouns_are_values: true,
            other_functions_by_name: false,
            ..ToolCallTuning::default()
        };
        let (answer, _, report) = try_answer_tuned(
            &counted,
            question,
            ToolChoice::Auto,
            vec![queen.clone(), me.clone()],
        )
        .await;
        assert_eq!(answer.expect("generated").0, format!("{queen}\n{me}"));
        assert_eq!(report.expect("a call was added").added[0].reason, "asked");
    }

    #[tokio::test]
    async fn a_function_not_called_is_kept_for_its_name_in_the_message_when_switched_on() {
        let travel = call("travel_time", json!({"distance": 100, "speed": 50}));
        let grow = call("grow", json!({"distance": 100, "rate": 50, "years": 100}));
        let question = "How long do 100 km at 50 km/h take, and how would that grow in 100 years?";
        // Asked among all tools the model copies its call; among those not called it picks
        // `grow`, with values already used.
        let outputs = || vec![travel.clone(), travel.clone(), grow.clone()];
        let off = ToolCallTuning {
            other_functions_by_name: false,
            ..ToolCallTuning::default()
        };
        let (answer, _, _) = try_answer_tuned(&off, question, ToolChoice::Auto, outputs()).await;
        assert_eq!(answer.expect("generated").0, travel);

        let by_name = ToolCallTuning::default();
        let (answer, _, _) =
            try_answer_tuned(&by_name, question, ToolChoice::Auto, outputs()).await;
        assert_eq!(answer.expect("generated").0, format!("{travel}\n{grow}"));

        // Not where the message does not name it.
        let (answer, _, _) = try_answer_tuned(
            &by_name,
            "How long do 100 km at 50 km/h take?",
            ToolChoice::Auto,
            outputs(),
        )
        .await;
        assert_eq!(answer.expect("generated").0, travel);
    }

    #[tokio::test]
    async fn a_call_the_loop_check_stopped_is_closed_after_its_last_whole_value() {
        // What the engine ends with when its loop check stops a call: the block never closes.
        let cut = "<tool_call>\n{\"name\": \"play\", \"arguments\": {\"artist\": \"Queen\", \"minutes\": 20, \"order\": \"shuffled shuffled shuff";
        let whole = call("play", json!({"artist": "Queen", "minutes": 20}));
        let (text, _, _, report) = answer_reported(
            "Play Queen for 20 minutes",
            ToolChoice::Auto,
            vec![cut.into(), whole.clone()],
        )
        .await;
        assert_eq!(text, whole);
        let report = report.expect("the checks changed the answer");
        assert!(report.closed_cut_call && !report.answered_in_text);
        assert_eq!(report.model_answer, cut);
    }

    /// A call of `play` with `artist` and `minutes` whose list of songs runs past the test
    /// request's token limit (200 pieces), every title another.
    fn call_past_the_limit(artist: &str, minutes: u32) -> String {
        let songs: Vec<String> = (1..=300).map(|n| format!("\"track {n}\"")).collect();
        format!(
            "<tool_call>\n{{\"name\": \"play\", \"arguments\": {{\"artist\": \"{artist}\", \"minutes\": {minutes}, \"songs\": [{}]}}}}\n</tool_call>",
            songs.join(", ")
        )
    }

    #[tokio::test]
    async fn a_made_up_call_the_token_limit_cut_gives_way_to_the_calls_before_it_or_a_text() {
        let made_up = call_past_the_limit("Metallica", 90);
        let prose = "Anything you like: some jazz, perhaps.";
        let (text, usage, requests, report) = answer_reported(
            "What should I listen to tonight?",
            ToolChoice::Auto,
            vec![made_up.clone(), prose.into()],
        )
        .await;
        assert_eq!(text, prose);
        assert_eq!(requests.len(), 2);
        // The cut call's tokens were generated, and count.
        assert!(usage.completion_tokens > 200, "{usage:?}");
        let report = report.expect("the checks changed the answer");
        assert!(report.answered_in_text);
        assert_eq!(report.dropped[0].reason, "cut_not_in_conversation");
        assert_eq!(report.dropped[0].arguments["artist"], "Metallica");

        // A whole call before the cut one is the answer.
        let whole = call("play", json!({"artist": "Queen", "minutes": 20}));
        let (text, _, _, report) = answer_reported(
            "Play Queen for 20 minutes",
            ToolChoice::Auto,
            vec![format!("{whole}\n{made_up}")],
        )
        .await;
        assert_eq!(text, whole);
        let report = report.expect("the checks changed the answer");
        assert_eq!(report.dropped[0].reason, "cut_not_in_conversation");
        assert!(!report.answered_in_text);
    }

    #[tokio::test]
    async fn a_call_of_the_users_values_the_token_limit_cut_stays_a_cut() {
        // The model was writing what the user asked for and ran out of room: the client is
        // told so (`length`), rather than sent a call without what the limit cut.
        let cut = call_past_the_limit("Queen", 20);
        let (answer, requests, report) = try_answer(
            "Play Queen for 20 minutes",
            ToolChoice::Auto,
            vec![cut.clone()],
        )
        .await;
        let (text, usage) = answer.expect("generated");
        let sent: String = cut.split_inclusive(' ').take(200).collect();
        assert_eq!(text, sent);
        assert_eq!(usage.completion_tokens, 200);
        assert_eq!(requests.len(), 1);
        assert_eq!(report, None);
        // With the grounding rule off, a made-up call stays a cut as well.
        let off = ToolCallTuning {
            call_grounding: CallGrounding::Off,
            ..ToolCallTuning::default()
        };
        let made_up = call_past_the_limit("Metallica", 90);
        let (answer, requests, _) = try_answer_tuned(
            &off,
            "What should I listen to tonight?",
            ToolChoice::Auto,
            vec![made_up],
        )
        .await;
        assert_eq!(answer.expect("generated").1.completion_tokens, 200);
        assert_eq!(requests.len(), 1);
    }

    /// What the engine ends with when its loop check stops the model inside a free string,
    /// before the call's required values.
    const RAN_ON: &str =
        "<tool_call>\n{\"name\": \"play\", \"arguments\": {\"artist\": \"Queen Queen Queen Que";

    #[tokio::test]
    async fn a_call_that_ran_on_in_a_free_string_is_asked_for_again_with_its_strings_bounded() {
        let whole = call("play", json!({"artist": "Queen", "minutes": 20}));
        let (text, _, requests, report) = answer_reported(
            "Play Queen for 20 minutes",
            ToolChoice::Auto,
            vec![RAN_ON.into(), whole.clone()],
        )
        .await;
        assert_eq!(text, whole);
        let bounded = tools().bounded_call_grammar(&|_| true, BOUNDED_VALUES);
        assert_eq!(requests[1].grammar.as_deref(), Some(bounded.as_str()));
        assert!(requests[0].loop_check && !requests[1].loop_check);
        assert!(bounded.contains("256"), "strings bounded: {bounded}");
        let report = report.expect("the checks changed the answer");
        assert!(report.closed_cut_call && report.asked_bounded_call && !report.answered_in_text);
        assert_eq!(report.dropped[0].reason, "incomplete");
        assert_eq!(report.added[0].reason, "bounded");
    }

    #[tokio::test]
    async fn under_auto_a_bounded_call_that_fails_too_is_answered_in_text_not_left_empty() {
        let (text, _, requests, report) = answer_reported(
            "Play Queen for 20 minutes",
            ToolChoice::Auto,
            vec![RAN_ON.into(), RAN_ON.into(), "Which song?".into()],
        )
        .await;
        assert_eq!(text, "Which song?");
        assert_eq!(requests.len(), 3);
        let report = report.expect("the checks changed the answer");
        assert!(report.asked_bounded_call && report.answered_in_text);
    }

    #[tokio::test]
    async fn where_a_call_is_required_no_text_is_given_in_its_place() {
        let whole = call("play", json!({"artist": "Queen", "minutes": 20}));
        for choice in [ToolChoice::Required, ToolChoice::Named("play".into())] {
            let (text, _, requests, _) = answer_reported(
                "Play Queen for 20 minutes",
                choice.clone(),
                vec![RAN_ON.into(), whole.clone()],
            )
            .await;
            assert_eq!(text, whole, "{choice:?}");
            assert!(requests[1]
                .grammar
                .as_deref()
                .is_some_and(|g| g.contains("256")));
            let (answer, requests, report) = try_answer(
                "Play Queen for 20 minutes",
                choice.clone(),
                vec![RAN_ON.into(), RAN_ON.into(), "Which song?".into()],
            )
            .await;
            assert!(
                matches!(answer, Err(EngineError::NoValidCall)),
                "{choice:?}: {answer:?}"
            );
            assert_eq!(requests.len(), 2, "no text answer generated");
            assert!(report.is_none_or(|report| !report.answered_in_text));
        }
    }

    #[tokio::test]
    async fn required_calls_are_never_dropped_for_grounding() {
        let invented = call("travel_time", json!({"distance": 100, "speed": 50}));
        let (text, _, _) = answer(
            "What time is it now?",
            ToolChoice::Required,
            vec![invented.clone(), invented.clone()],
        )
        .await;
        assert_eq!(text, invented);
    }

    #[tokio::test]
    async fn more_calls_are_asked_for_and_kept_while_they_bring_the_requests_values() {
        let first = call("play", json!({"artist": "Taylor Swift", "minutes": 20}));
        let second = call("play", json!({"artist": "Maroon 5", "minutes": 15}));
        let (text, _, requests) = answer(
            "Play Taylor Swift for 20 minutes and Maroon 5 for 15 minutes",
            ToolChoice::Auto,
            vec![first.clone(), second.clone(), second.clone()],
        )
        .await;
        assert_eq!(text, format!("{first}\n{second}"));
        // The repeat of `second` ends the asking among all tools, then among those not called.
        assert_eq!(requests.len(), 4);
        assert_eq!(requests[1].prompt, format!("PROMPT {first}\n"));
        let one_call = tools().grammar(&ToolChoice::Required, false);
        assert_eq!(requests[1].grammar.as_deref(), Some(one_call.as_str()));
        let not_called = tools().one_call_grammar(&|name| name != "play");
        assert_eq!(requests[3].grammar.as_deref(), Some(not_called.as_str()));
    }

    #[tokio::test]
    async fn a_call_for_one_member_of_a_list_is_made_again_for_each_other_member() {
        let first = call("play", json!({"artist": "Taylor Swift", "minutes": 15}));
        let second = call("play", json!({"artist": "Taylor Swift", "minutes": 20}));
        let third = call("play", json!({"artist": "Taylor Swift", "minutes": 30}));
        let (text, _, requests, report) = answer_reported(
            "Play Taylor Swift for 15, 20 and 30 minutes",
            ToolChoice::Auto,
            // The last two: the model's own extra calls, copies of the first.
            vec![
                first.clone(),
                second.clone(),
                third.clone(),
                first.clone(),
                first.clone(),
            ],
        )
        .await;
        assert_eq!(text, format!("{first}\n{second}\n{third}"));
        let pinned = |minutes| {
            tools()
                .pinned_call_grammar("play", "minutes", &json!(minutes))
                .expect("play has minutes")
        };
        assert_eq!(requests[1].grammar, Some(pinned(20)));
        assert!(
            !requests[0].follow_up && requests[1..].iter().all(|r| r.follow_up),
            "the extra generations wait ahead of new requests"
        );
        assert_eq!(requests[2].prompt, format!("PROMPT {first}\n{second}\n"));
        assert_eq!(requests[2].grammar, Some(pinned(30)));
        assert_eq!(requests.len(), 5, "then asked as before, and not kept");
        let report = report.expect("calls were added");
        assert_eq!(report.model_answer, first);
        let added: Vec<_> = report
            .added
            .iter()
            .map(|c| (c.reason, c.arguments["minutes"].clone()))
            .collect();
        assert_eq!(added, vec![("listed", json!(20)), ("listed", json!(30))]);
        assert!(report.dropped.is_empty() && !report.answered_in_text);
    }

    #[tokio::test]
    async fn a_list_member_another_function_used_is_still_new_to_the_function_of_its_list() {
        let play_queen = call("play", json!({"artist": "Queen", "minutes": 20}));
        let play_muse = call("play", json!({"artist": "Muse", "minutes": 20}));
        let route = call("route", json!({"start": "Queen", "end": "Muse"}));
        let question = "Play Queen and Muse for 20 minutes, then the route from Queen to Muse";
        let per_function = ToolCallTuning::default();
        let global = ToolCallTuning {
            list_members_per_function: false,
            ..ToolCallTuning::default()
        };

        // The model's own call of `play` for Muse, whom `route` used already, is kept.
        let made = || {
            vec![
                format!("{play_queen}\n{route}\n{play_muse}"),
                play_queen.clone(),
            ]
        };
        let (answer, _, _) =
            try_answer_tuned(&per_function, question, ToolChoice::Auto, made()).await;
        assert_eq!(
            answer.expect("generated").0,
            format!("{play_queen}\n{route}\n{play_muse}")
        );
        let (answer, _, _) = try_answer_tuned(&global, question, ToolChoice::Auto, made()).await;
        assert_eq!(
            answer.expect("generated").0,
            format!("{play_queen}\n{route}")
        );

        // Left out by the model, it is asked for, pinned to the member.
        let missing = || {
            vec![
                format!("{play_queen}\n{route}"),
                play_muse.clone(),
                play_queen.clone(),
            ]
        };
        let (answer, requests, report) =
            try_answer_tuned(&per_function, question, ToolChoice::Auto, missing()).await;
        assert_eq!(
            answer.expect("generated").0,
            format!("{play_queen}\n{route}\n{play_muse}")
        );
        let pinned = tools().pinned_call_grammar("play", "artist", &json!("Muse"));
        assert_eq!(requests[1].grammar, pinned);
        assert_eq!(report.expect("a call was added").added[0].reason, "listed");
        let (answer, requests, _) =
            try_answer_tuned(&global, question, ToolChoice::Auto, missing()).await;
        assert_eq!(
            answer.expect("generated").0,
            format!("{play_queen}\n{route}")
        );
        assert_ne!(requests[1].grammar, pinned);
    }

    #[tokio::test]
    async fn a_call_is_made_again_for_each_other_choice_the_user_names_beside_its_own() {
        let play = |order: &str| {
            call(
                "play",
                json!({"artist": "Taylor Swift", "minutes": 20, "order": order}),
            )
        };
        let shuffled = play("shuffled");
        let (text, _, _, report) = answer_reported(
            "Play Taylor Swift for 20 minutes, once shuffled and once as listed",
            ToolChoice::Auto,
            // The model's extra call copies its first.
            vec![shuffled.clone(); 3],
        )
        .await;
        assert_eq!(text, format!("{shuffled}\n{}", play("as listed")));
        let report = report.expect("a call was added");
        let added: Vec<_> = report
            .added
            .iter()
            .map(|c| (c.reason, c.arguments["order"].clone()))
            .collect();
        assert_eq!(added, vec![("named_choice", json!("as listed"))]);
        // One choice named: one call.
        let (text, _, _) = answer(
            "Play Taylor Swift for 20 minutes, shuffled",
            ToolChoice::Auto,
            vec![shuffled.clone(); 3],
        )
        .await;
        assert_eq!(text, shuffled);
    }

    #[tokio::test]
    async fn a_lone_call_is_made_again_with_a_flag_the_user_asks_for_both_on_and_off() {
        let play = |artist: &str, lyrics: bool| {
            call(
                "play",
                json!({"artist": artist, "minutes": 20, "lyrics": lyrics}),
            )
        };
        let question =
            "Play Queen for 20 minutes with the lyrics shown. Then play it again without lyrics.";
        let (text, _, _, report) = answer_reported(
            question,
            ToolChoice::Auto,
            // The model's extra call copies its first.
            vec![play("Queen", true); 3],
        )
        .await;
        assert_eq!(
            text,
            format!("{}\n{}", play("Queen", true), play("Queen", false))
        );
        let report = report.expect("a call was added");
        assert_eq!(report.added.len(), 1);
        assert_eq!(report.added[0].reason, "flag_both_ways");
        assert_eq!(report.added[0].arguments["lyrics"], json!(false));

        // A flag asked for one way only, or each call with its own part: left as it is.
        let (text, _, _) = answer(
            "Play Queen for 20 minutes without lyrics",
            ToolChoice::Auto,
            vec![play("Queen", false); 3],
        )
        .await;
        assert_eq!(text, play("Queen", false));
        let two = format!("{}\n{}", play("Queen", true), play("Muse", false));
        let (text, _, _) = answer(
            "Play Queen for 20 minutes with lyrics, and Muse for 20 minutes, not with lyrics",
            ToolChoice::Auto,
            vec![two.clone(), play("Muse", false)],
        )
        .await;
        assert_eq!(text, two);

        let off = ToolCallTuning {
            flags_both_ways: false,
            ..ToolCallTuning::default()
        };
        let (answer, _, _) = try_answer_tuned(
            &off,
            question,
            ToolChoice::Auto,
            vec![play("Queen", true); 3],
        )
        .await;
        assert_eq!(answer.expect("generated").0, play("Queen", true));
    }

    #[tokio::test]
    async fn a_flag_is_set_as_the_message_writes_a_word_of_it() {
        let play = |artist: &str, lyrics: bool| {
            call(
                "play",
                json!({"artist": artist, "minutes": 20, "lyrics": lyrics}),
            )
        };
        let question = "Play Queen for 20 minutes with the lyrics on screen";
        let (text, _, _, report) =
            answer_reported(question, ToolChoice::Auto, vec![play("Queen", false)]).await;
        assert_eq!(text, play("Queen", true));
        let report = report.expect("a flag was set");
        assert_eq!(report.rewritten_arguments.len(), 1);
        assert_eq!(report.rewritten_arguments[0].reason, "flag_as_written");
        assert_eq!(report.rewritten_arguments[0].value, json!(false));
        assert_eq!(report.rewritten_arguments[0].written, json!(true));

        // Written only after a negation: off, in every call of the function.
        let two = |lyrics| format!("{}\n{}", play("Queen", lyrics), play("Muse", lyrics));
        let (text, _, _) = answer(
            "Play Queen and Muse for 20 minutes each, but not with the lyrics",
            ToolChoice::Auto,
            vec![two(true)],
        )
        .await;
        assert_eq!(text, two(false));

        // Calls that set it differently had each its own part of the message: left.
        let apart = format!("{}\n{}", play("Queen", true), play("Muse", false));
        let (text, _, _) = answer(
            "Play Queen for 20 minutes with lyrics, and Muse for 20 minutes",
            ToolChoice::Auto,
            vec![apart.clone()],
        )
        .await;
        assert_eq!(text, apart);

        let off = ToolCallTuning {
            flags_as_written: false,
            ..ToolCallTuning::default()
        };
        let (kept, _, _) =
            try_answer_tuned(&off, question, ToolChoice::Auto, vec![play("Queen", false)]).await;
        assert_eq!(kept.expect("generated").0, play("Queen", false));

        // Left out of every call and asked for: set on.
        let without = call("play", json!({"artist": "Queen", "minutes": 20}));
        let (text, _, _, report) =
            answer_reported(question, ToolChoice::Auto, vec![without.clone()]).await;
        assert_eq!(text, play("Queen", true));
        let report = report.expect("a flag was set");
        assert_eq!(report.rewritten_arguments[0].reason, "flag_asked_for");
        assert_eq!(report.rewritten_arguments[0].value, Value::Null);
        // Left out of one call and set in another: each had its own part of the message.
        let apart = format!("{}\n{}", without, play("Muse", true));
        let (text, _, _) = answer(
            "Play Queen for 20 minutes, and Muse for 20 minutes with lyrics",
            ToolChoice::Auto,
            vec![apart.clone()],
        )
        .await;
        assert_eq!(text, apart);
        let off = ToolCallTuning {
            flags_asked_for: false,
            ..ToolCallTuning::default()
        };
        sent_as_written_under(off, question, &without).await;
    }

    #[tokio::test]
    async fn a_journeys_ends_are_set_as_the_users_from_and_to_write_them() {
        let swapped = call("route", json!({"start": "Los Angeles", "end": "Las Vegas"}));
        let question = "How long is the drive from Las Vegas to Los Angeles?";
        let (text, _, _, report) =
            answer_reported(question, ToolChoice::Auto, vec![swapped.clone()]).await;
        assert_eq!(
            text,
            call("route", json!({"start": "Las Vegas", "end": "Los Angeles"}))
        );
        let rewritten = report.expect("the ends were swapped").rewritten_arguments;
        assert_eq!(rewritten.len(), 2);
        assert!(rewritten.iter().all(|r| r.reason == "ends_as_written"));
        let off = ToolCallTuning {
            ends_as_written: false,
            named_functions_called: false,
            ..ToolCallTuning::default()
        };
        sent_as_written_under(off, question, &swapped).await;
    }

    #[tokio::test]
    async fn a_flag_of_each_call_is_set_as_its_own_part_of_the_message_writes_it() {
        let play =
            |artist: &str, lyrics: bool| json!({"artist": artist, "minutes": 20, "lyrics": lyrics});
        let calls = |queen: bool, muse: bool| {
            render_calls(&[
                ParsedCall {
                    name: "play".into(),
                    arguments: play("Queen", queen),
                },
                ParsedCall {
                    name: "play".into(),
                    arguments: play("Muse", muse),
                },
            ])
        };
        let question = "Play Queen for 20 minutes and show the lyrics. Then play Muse for 20 minutes, but I do not need the lyrics.";
        let (text, _, _, report) =
            answer_reported(question, ToolChoice::Auto, vec![calls(false, false)]).await;
        assert_eq!(text, calls(true, false));
        let rewritten = report.expect("a flag was set").rewritten_arguments;
        assert_eq!(rewritten.len(), 1);
        assert_eq!(rewritten[0].reason, "flag_in_its_part");
        let off = ToolCallTuning {
            flags_in_their_parts: false,
            ..ToolCallTuning::default()
        };
        sent_as_written_under(off, question, &calls(false, false)).await;
    }

    #[tokio::test]
    async fn the_article_of_the_users_sentence_is_left_out_of_a_value() {
        let with_article = call(
            "play",
            json!({"artist": "Queen", "minutes": 20, "tour": "The Rhapsody Tour."}),
        );
        let question = "Play Queen for 20 minutes from the Rhapsody Tour";
        let on = ToolCallTuning {
            drop_sentence_articles: true,
            ..ToolCallTuning::default()
        };
        let (answer, _, report) =
            try_answer_tuned(&on, question, ToolChoice::Auto, vec![with_article.clone()]).await;
        assert_eq!(
            answer.expect("generated").0,
            call(
                "play",
                json!({"artist": "Queen", "minutes": 20, "tour": "Rhapsody Tour"})
            )
        );
        let rewritten = report.expect("an article was left out").rewritten_arguments;
        assert_eq!(rewritten[0].reason, "sentence_article");
        // Written with its own capital by the user, the article is the name's.
        let (kept, _, _) = try_answer_tuned(
            &on,
            "Play Queen for 20 minutes from The Rhapsody Tour.",
            ToolChoice::Auto,
            vec![with_article.clone()],
        )
        .await;
        assert_eq!(kept.expect("generated").0, with_article);
        let off = ToolCallTuning {
            drop_sentence_articles: false,
            ..ToolCallTuning::default()
        };
        sent_as_written_under(off, question, &with_article).await;
    }

    #[tokio::test]
    async fn a_lone_call_is_made_one_call_per_request_that_varies_it() {
        let all = call(
            "play",
            json!({"artist": "Queen", "minutes": 20, "lyrics": true, "order": "shuffled"}),
        );
        let question =
            "Play Queen for 20 minutes with lyrics, then play Queen again but this time shuffled.";
        let (text, _, _, report) =
            answer_reported(question, ToolChoice::Auto, vec![all.clone(); 3]).await;
        let with_lyrics = call(
            "play",
            json!({"artist": "Queen", "minutes": 20, "lyrics": true}),
        );
        let shuffled = call(
            "play",
            json!({"artist": "Queen", "minutes": 20, "order": "shuffled"}),
        );
        assert_eq!(text, format!("{with_lyrics}\n{shuffled}"));
        let report = report.expect("the call was split");
        assert_eq!(report.added.len(), 1);
        assert_eq!(report.added[0].reason, "variant");
        assert_eq!(report.dropped_arguments.len(), 1);
        assert_eq!(report.dropped_arguments[0].argument, "order");
        assert_eq!(report.dropped_arguments[0].reason, "another_variant");

        // Both options asked in one request: one call.
        let (text, _, _) = answer(
            "Play Queen for 20 minutes with lyrics, shuffled.",
            ToolChoice::Auto,
            vec![all.clone(); 3],
        )
        .await;
        assert_eq!(text, all);

        let off = ToolCallTuning {
            variants_as_calls: false,
            ..ToolCallTuning::default()
        };
        let (answer, _, _) =
            try_answer_tuned(&off, question, ToolChoice::Auto, vec![all.clone(); 3]).await;
        assert_eq!(answer.expect("generated").0, all);
    }

    #[tokio::test]
    async fn a_companion_function_is_called_for_the_other_values_the_message_names_it_after() {
        let tool = |name: &str| fulcrum_chat::ToolDefinition {
            name: name.into(),
            description: None,
            parameters: json!({
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"]
            }),
            strict: false,
        };
        let tools =
            Arc::new(ToolSet::new(vec![tool("weather"), tool("air_quality")]).expect("tools"));
        let weather = |city: &str| call("weather", json!({ "city": city }));
        let air = |city: &str| call("air_quality", json!({ "city": city }));
        let answer = format!(
            "{}\n{}\n{}",
            weather("Paris"),
            air("Paris"),
            weather("London")
        );
        let run = |tuning: ToolCallTuning, question: &'static str| {
            let tools = Arc::clone(&tools);
            // The model's extra calls copy its first.
            let outputs = vec![answer.clone(), weather("Paris")];
            async move {
                let scripted = Arc::new(fulcrum_engine::scripted::ScriptedBackend::new(outputs));
                answer_on(scripted, &tools, &tuning, question, ToolChoice::Auto).await
            }
        };
        let both = "The weather in Paris and London, and the air quality in both.";
        let (text, _, report) = run(ToolCallTuning::default(), both).await;
        assert_eq!(
            text.expect("answered").0,
            format!("{answer}\n{}", air("London"))
        );
        let report = report.expect("a call was added");
        assert_eq!(report.added.len(), 1);
        assert_eq!(report.added[0].reason, "companion");

        // The air quality asked for Paris alone.
        let (text, _, _) = run(
            ToolCallTuning::default(),
            "The weather and the air quality in Paris, and the weather in London.",
        )
        .await;
        assert_eq!(text.expect("answered").0, answer);

        let off = ToolCallTuning {
            companion_calls: false,
            ..ToolCallTuning::default()
        };
        let (text, _, _) = run(off, both).await;
        assert_eq!(text.expect("answered").0, answer);
    }

    #[tokio::test]
    async fn calls_from_two_lists_are_made_for_every_pairing_unless_the_message_pairs_them() {
        let play = |artist: &str, year: u32| {
            call(
                "play",
                json!({"artist": artist, "minutes": 20, "year": year}),
            )
        };
        let paired = format!("{}\n{}", play("Taylor Swift", 2018), play("Adele", 2020));
        let (text, _, _, report) = answer_reported(
            "Play Taylor Swift and Adele for 20 minutes, their songs of 2018 and 2020",
            ToolChoice::Auto,
            vec![paired.clone(); 3],
        )
        .await;
        assert_eq!(
            text,
            format!(
                "{paired}\n{}\n{}",
                play("Taylor Swift", 2020),
                play("Adele", 2018)
            )
        );
        let added: Vec<_> = report
            .expect("calls were added")
            .added
            .iter()
            .map(|c| c.reason)
            .collect();
        assert_eq!(added, vec!["list_combination"; 2]);
        let (text, _, _) = answer(
            "Play Taylor Swift and Adele for 20 minutes, their songs of 2018 and 2020 respectively",
            ToolChoice::Auto,
            vec![paired.clone(); 3],
        )
        .await;
        assert_eq!(text, paired);
    }

    #[tokio::test]
    async fn a_copied_call_is_asked_again_away_from_its_first_value_while_a_number_is_unused() {
        let swift = call("play", json!({"artist": "Taylor Swift", "minutes": 20}));
        let adele = call("play", json!({"artist": "Adele", "minutes": 15}));
        let steering = ToolCallTuning {
            probe_other_values: true,
            probe_unused_numbers: false,
            ..ToolCallTuning::default()
        };
        let answer = |question: &'static str, outputs: Vec<String>| async move {
            let (answer, requests, report) =
                try_answer_tuned(&steering, question, ToolChoice::Auto, outputs).await;
            (answer.expect("generated").0, requests, report)
        };
        let (text, requests, report) = answer(
            "Play Taylor Swift for 20 minutes, then Adele for 15 minutes",
            // The model's first answer, its two extra calls (copies), the steered one.
            vec![swift.clone(), swift.clone(), swift.clone(), adele.clone()],
        )
        .await;
        assert_eq!(text, format!("{swift}\n{adele}"));
        let steered = tools()
            .call_grammar_without("play", "artist", &[json!("Taylor Swift")], Some(20.0))
            .expect("artist can be narrowed");
        assert_eq!(requests[3].grammar, Some(steered));
        let added: Vec<_> = report
            .expect("a call was added")
            .added
            .iter()
            .map(|c| c.reason)
            .collect();
        assert_eq!(added, vec!["steered"]);
        // Held away, the artist extends the one excluded, or is one nobody wrote: though
        // its minutes are new, the steered call is not kept.
        for (question, held) in [
            (
                "Play Taylor Swift live for 20 minutes, then Adele for 15 minutes",
                "Taylor Swift live",
            ),
            (
                "Play Taylor Swift for 20 minutes, then Adele for 15 minutes",
                "Beyonce",
            ),
        ] {
            let stray = call("play", json!({"artist": held, "minutes": 15}));
            let (text, _, _) = answer(
                question,
                vec![swift.clone(), swift.clone(), swift.clone(), stray],
            )
            .await;
            assert_eq!(text, swift, "{held}");
        }
        // Every number used: the copies end the answer, nothing is steered.
        let (text, requests, _) =
            answer("Play Taylor Swift for 20 minutes", vec![swift.clone(); 4]).await;
        assert_eq!(text, swift);
        assert_eq!(requests.len(), 3);
        // Off: the copies end the answer.
        let off = ToolCallTuning {
            probe_other_values: false,
            probe_unused_numbers: false,
            ..ToolCallTuning::default()
        };
        let (answer, requests, _) = try_answer_tuned(
            &off,
            "Play Taylor Swift for 20 minutes, then Adele for 15 minutes",
            ToolChoice::Auto,
            vec![swift.clone(); 4],
        )
        .await;
        assert_eq!(answer.expect("generated").0, swift);
        assert_eq!(requests.len(), 3);
    }

    #[tokio::test]
    async fn a_copied_call_is_asked_again_with_a_name_the_user_wrote_after_the_same_word() {
        let route = |start: &str, end: &str| call("route", json!({"start": start, "end": end}));
        let first = route("Boston", "Chicago");
        let second = route("Chicago", "Denver");
        let question =
            "Plan a drive from Boston to Chicago, and another one from Chicago to Denver.";
        let (answer, requests, report) = try_answer(
            question,
            ToolChoice::Auto,
            // The model's first answer, its two extra calls (copies), the steered one.
            vec![first.clone(), first.clone(), first.clone(), second.clone()],
        )
        .await;
        assert_eq!(answer.expect("generated").0, format!("{first}\n{second}"));
        let steered = tools()
            .call_grammar_choosing("route", "end", &[json!("Denver")], &["end", "start"])
            .expect("end can be chosen");
        assert_eq!(requests[3].grammar, Some(steered));
        let added: Vec<_> = report
            .expect("a call was added")
            .added
            .iter()
            .map(|c| c.reason)
            .collect();
        assert_eq!(added, vec!["steered"]);
        // The name left follows another word than any value of the call: nothing steered.
        let (answer, requests, _) = try_answer(
            "Plan a drive from Boston to Chicago, and show Denver too.",
            ToolChoice::Auto,
            vec![first.clone(); 4],
        )
        .await;
        assert_eq!(answer.expect("generated").0, first);
        assert_eq!(requests.len(), 3);
        // Off: the copies end the answer.
        let off = ToolCallTuning {
            probe_unused_names: false,
            ..ToolCallTuning::default()
        };
        let (answer, requests, _) =
            try_answer_tuned(&off, question, ToolChoice::Auto, vec![first.clone(); 4]).await;
        assert_eq!(answer.expect("generated").0, first);
        assert_eq!(requests.len(), 3);
    }

    #[tokio::test]
    async fn a_copied_call_is_asked_again_with_a_number_the_user_wrote_that_no_call_used() {
        let swift = call("play", json!({"artist": "Taylor Swift", "minutes": 20}));
        let adele = call("play", json!({"minutes": 15, "artist": "Adele"}));
        let tuned = |probe_other_values: bool, probe_unused_numbers: bool| ToolCallTuning {
            probe_other_values,
            probe_unused_numbers,
            ..ToolCallTuning::default()
        };
        let numbers_only = tuned(false, true);
        let question = "Play Taylor Swift for 20 minutes, then Adele for 15 minutes";
        let (answer, requests, report) = try_answer_tuned(
            &numbers_only,
            question,
            ToolChoice::Auto,
            // The model's first answer, its two extra calls (copies), the one asked with
            // the minutes chosen among the numbers left.
            vec![swift.clone(), swift.clone(), swift.clone(), adele.clone()],
        )
        .await;
        assert_eq!(answer.expect("generated").0, format!("{swift}\n{adele}"));
        let choosing_minutes = || {
            tools().call_grammar_choosing("play", "minutes", &[json!(15)], &["artist", "minutes"])
        };
        assert!(choosing_minutes().is_some());
        assert_eq!(requests[3].grammar, choosing_minutes());
        let added: Vec<_> = report
            .expect("a call was added")
            .added
            .iter()
            .map(|c| (c.reason, c.arguments["minutes"].clone()))
            .collect();
        assert_eq!(added, vec![("steered", json!(15))]);
        // After the held-away call brought a name nobody wrote, the number is chosen.
        let stray = call("play", json!({"artist": "Beyonce", "minutes": 15}));
        let (answer, requests, _) = try_answer_tuned(
            &tuned(true, true),
            question,
            ToolChoice::Auto,
            vec![
                swift.clone(),
                swift.clone(),
                swift.clone(),
                stray,
                adele.clone(),
            ],
        )
        .await;
        assert_eq!(answer.expect("generated").0, format!("{swift}\n{adele}"));
        assert_eq!(requests[4].grammar, choosing_minutes());
        // The call chosen so still carries only values the user wrote.
        let invented = call("play", json!({"minutes": 15, "artist": "Beyonce"}));
        let (answer, _, _) = try_answer_tuned(
            &numbers_only,
            question,
            ToolChoice::Auto,
            vec![swift.clone(), swift.clone(), swift.clone(), invented],
        )
        .await;
        assert_eq!(answer.expect("generated").0, swift);
        // A number no call used that cannot stand for the minutes (ten times more, or a
        // percentage) is not asked for; nor with the check off.
        for (question, tuning) in [
            (
                "Play Taylor Swift for 20 minutes, then Adele for 300 minutes",
                numbers_only,
            ),
            (
                "Play Taylor Swift for 20 minutes at 15% volume",
                numbers_only,
            ),
            (question, tuned(false, false)),
        ] {
            let (answer, requests, _) =
                try_answer_tuned(&tuning, question, ToolChoice::Auto, vec![swift.clone(); 4]).await;
            assert_eq!(answer.expect("generated").0, swift, "{question}");
            assert_eq!(requests.len(), 3, "{question}");
        }
    }

    #[test]
    fn two_lists_are_read_though_some_calls_leave_an_argument_out() {
        let lists = Lists::new("Win rates of the Lakers and the Bulls in seasons 2018 and 2020");
        let win = |arguments: serde_json::Value| ParsedCall {
            name: "win_rate".into(),
            arguments,
        };
        let calls = [
            win(json!({"team": "Lakers", "playoffs": true, "season": 2018})),
            win(json!({"team": "Bulls", "season": 2020})),
        ];
        let ((first, firsts), (second, seconds)) =
            two_listed_arguments(&lists, &calls).expect("two lists");
        assert_eq!((first.as_str(), second.as_str()), ("team", "season"));
        assert_eq!(firsts, vec![json!("Lakers"), json!("Bulls")]);
        assert_eq!(seconds, vec![json!(2018), json!(2020)]);
        // One list filling two arguments is not two lists.
        let one_list = Lists::new("the numbers 3, 4, 5 and 12");
        let pair = |a: u32, b: u32| ParsedCall {
            name: "hypot".into(),
            arguments: json!({"a": a, "b": b}),
        };
        assert!(two_listed_arguments(&one_list, &[pair(3, 4), pair(5, 12)]).is_none());
    }

    #[tokio::test]
    async fn an_extra_call_with_nothing_new_or_with_invented_values_is_not_kept() {
        let first = call("travel_time", json!({"distance": 120, "speed": 60}));
        let swapped = call("travel_time", json!({"distance": 60, "speed": 120}));
        let question = "How long do 120 km take at 60 km/h?";
        let (text, _, requests) =
            answer(question, ToolChoice::Auto, vec![first.clone(), swapped]).await;
        assert_eq!(text, first);
        assert_eq!(requests.len(), 3);

        let invented = call("travel_time", json!({"distance": 300, "speed": 80}));
        let (text, _, _) = answer(question, ToolChoice::Auto, vec![first.clone(), invented]).await;
        assert_eq!(text, first);
    }

    #[tokio::test]
    async fn calls_of_the_answer_that_bring_nothing_new_are_dropped() {
        let first = call("play", json!({"artist": "Taylor Swift", "minutes": 20}));
        let again = call("play", json!({"artist": "Taylor Swift", "minutes": 25}));
        let other = call("travel_time", json!({"distance": 20, "speed": 5}));
        let answer_text = format!("{first}\n{again}\n{other}");
        let (text, _, _, report) = answer_reported(
            "Play Taylor Swift for 20 minutes",
            ToolChoice::Auto,
            vec![answer_text, first.clone()],
        )
        .await;
        assert_eq!(text, first);
        let dropped: Vec<_> = report
            .expect("calls were dropped")
            .dropped
            .iter()
            .map(|c| (c.name.clone(), c.reason))
            .collect();
        assert_eq!(
            dropped,
            vec![
                ("play".to_string(), "nothing_new"),
                ("travel_time".to_string(), "not_asked_for")
            ]
        );
    }

    #[test]
    fn a_function_the_message_names_is_asked_for_though_its_words_are_the_called_ones() {
        let definition = |name: &str| fulcrum_chat::ToolDefinition {
            name: name.into(),
            description: None,
            parameters: json!({"type": "object", "properties": {"time": {"type": "integer"}}}),
            strict: false,
        };
        let tools = Arc::new(
            ToolSet::new(vec![
                definition("painting_create"),
                definition("display_set_screen_brightness"),
                definition("painting_display"),
            ])
            .expect("tools"),
        );
        let message =
            "Create a square painting, then display it for 30 seconds with 70% screen brightness";
        let check = |tuning: &ToolCallTuning| {
            CallCheck::new(
                tuning,
                &tools,
                &[Message::user(message)],
                &ToolChoice::Auto,
                true,
                true,
            )
            .expect("a check applies")
        };
        let parsed = |name: &str, arguments| ParsedCall {
            name: name.into(),
            arguments,
        };
        let called = [
            parsed("painting_create", json!({})),
            parsed("display_set_screen_brightness", json!({"time": 30})),
        ];
        let display = parsed("painting_display", json!({"time": 30}));
        // "painting" and "display" are both words of the functions called, but together
        // they name `painting_display`.
        let on = check(&ToolCallTuning::default());
        assert!(!on.not_asked_for(&display, &called, &HashSet::new()));
        let off = check(&ToolCallTuning {
            named_functions_called: false,
            ..ToolCallTuning::default()
        });
        assert!(off.not_asked_for(&display, &called, &HashSet::new()));
    }

    #[tokio::test]
    async fn an_extra_call_of_a_function_the_message_names_is_new_in_itself() {
        let definition = |name: &str, property: &str| fulcrum_chat::ToolDefinition {
            name: name.into(),
            description: None,
            parameters: json!({"type": "object",
                "properties": {property: {"type": "integer"}}, "required": [property]}),
            strict: false,
        };
        let tools = Arc::new(
            ToolSet::new(vec![
                definition("painting_create", "size"),
                definition("display_set_screen_brightness", "seconds"),
                definition("painting_display", "seconds"),
            ])
            .expect("tools"),
        );
        let question = "Create a painting of size 16, then display it for 30 seconds at full screen brightness";
        let create = call("painting_create", json!({"size": 16}));
        let brightness = call("display_set_screen_brightness", json!({"seconds": 30}));
        let display = call("painting_display", json!({"seconds": 30}));
        let answered = format!("{create}\n{brightness}");
        let tuning = ToolCallTuning::default();
        let scripted = Arc::new(fulcrum_engine::scripted::ScriptedBackend::new(vec![
            answered.clone(),
            display.clone(),
        ]));
        let (answer, _, _) = answer_on(scripted, &tools, &tuning, question, ToolChoice::Auto).await;
        // Its one value is the other call's, but the message names the function.
        assert_eq!(
            answer.expect("answered").0,
            format!("{create}\n{brightness}\n{display}")
        );
        let off = ToolCallTuning {
            named_functions_called: false,
            ..tuning
        };
        let scripted = Arc::new(fulcrum_engine::scripted::ScriptedBackend::new(vec![
            answered.clone(),
            display.clone(),
        ]));
        let (answer, _, _) = answer_on(scripted, &tools, &off, question, ToolChoice::Auto).await;
        assert_eq!(answer.expect("answered").0, answered);
    }

    #[tokio::test]
    async fn a_call_of_another_function_is_kept_only_when_the_request_asks_for_it() {
        let first = call("play", json!({"artist": "Taylor Swift", "minutes": 20}));
        let other = call("travel_time", json!({"distance": 120, "speed": 60}));
        let (text, _, requests) = answer(
            "Play Taylor Swift for 20 minutes, we drive 120 km at 60",
            ToolChoice::Auto,
            vec![first.clone(), other.clone(), other.clone()],
        )
        .await;
        assert_eq!(
            text, first,
            "its values are the user's, but nothing asks for it"
        );
        // The answer, the extra calls among all tools and those not called, and (120 and 60
        // unused) one of `play` held away from its artist; none with its minutes chosen
        // among the numbers left (120 is in km, 60 has no unit).
        assert_eq!(requests.len(), 4);

        // A message of several parts: two values nothing used ask for it, unless switched off.
        let two_parts = "Play Taylor Swift for 20 minutes. We drive 120 km at 60.";
        let (text, _, _) = answer(
            two_parts,
            ToolChoice::Auto,
            vec![first.clone(), other.clone(), first.clone(), first.clone()],
        )
        .await;
        assert_eq!(text, format!("{first}\n{other}"));
        let words_only = ToolCallTuning {
            functions_asked_by_values: false,
            ..ToolCallTuning::default()
        };
        let (by_words, _, _) = try_answer_tuned(
            &words_only,
            two_parts,
            ToolChoice::Auto,
            vec![first.clone(), other.clone(), other.clone()],
        )
        .await;
        assert_eq!(by_words.expect("generated").0, first);
        // One is not enough: 20 is the song's.
        let one_new = call("travel_time", json!({"distance": 120, "speed": 20}));
        let (text, _, _) = answer(
            "Play Taylor Swift for 20 minutes. We drive 120 km.",
            ToolChoice::Auto,
            vec![first.clone(), one_new.clone(), one_new],
        )
        .await;
        assert_eq!(text, first);

        let (text, _, _) = answer(
            "Play Taylor Swift for 20 minutes and tell me the travel time for 120 km at 60",
            ToolChoice::Auto,
            vec![first.clone(), other.clone(), first.clone(), first.clone()],
        )
        .await;
        assert_eq!(text, format!("{first}\n{other}"));
    }

    #[tokio::test]
    async fn under_a_named_choice_the_extra_call_is_asked_of_that_function_alone() {
        let first = call("play", json!({"artist": "Taylor Swift", "minutes": 20}));
        let (_, _, requests) = answer(
            "Play Taylor Swift for 20 minutes, then the time from 120 km at 60",
            ToolChoice::Named("play".into()),
            vec![first.clone(), first],
        )
        .await;
        let only_play = tools().one_call_grammar(&|name| name == "play");
        let play_held = tools()
            .call_grammar_without("play", "artist", &[json!("Taylor Swift")], Some(120.0))
            .expect("artist can be narrowed");
        let grammars: Vec<_> = requests[1..]
            .iter()
            .map(|request| request.grammar.clone())
            .collect();
        assert_eq!(
            grammars,
            vec![Some(only_play), Some(play_held)],
            "no tool not called may be asked for"
        );
    }

    #[tokio::test]
    async fn a_text_answer_is_passed_through_without_another_generation() {
        let (text, _, requests) = answer(
            "Hello there",
            ToolChoice::Auto,
            vec!["Hello! How can I help?".into()],
        )
        .await;
        assert_eq!(text, "Hello! How can I help?");
        assert_eq!(requests.len(), 1);
        let (_, _, _, report) =
            answer_reported("Hello there", ToolChoice::Auto, vec!["Hi!".into()]).await;
        assert_eq!(report, None, "nothing changed, nothing reported");
    }

    #[test]
    fn no_check_without_a_choice_to_make_or_with_both_checks_off() {
        let messages = [Message::user("hi")];
        let tuning = ToolCallTuning::default();
        assert!(
            CallCheck::new(&tuning, &tools(), &messages, &ToolChoice::None, true, true).is_none()
        );
        assert!(
            CallCheck::new(&tuning, &tools(), &messages, &ToolChoice::Auto, true, false).is_none()
        );
        let off = ToolCallTuning {
            call_grounding: CallGrounding::Off,
            probe_parallel_calls: false,
            calls_for_lists: false,
            list_members_per_function: false,
            calls_for_named_choices: false,
            flags_both_ways: false,
            flags_as_written: false,
            flags_asked_for: false,
            companion_calls: false,
            variants_as_calls: false,
            calls_for_list_combinations: false,
            probe_other_values: false,
            probe_unused_numbers: false,
            probe_unused_names: false,
            drop_copied_values: false,
            pronouns_are_values: true,
            other_functions_by_name: false,
            acronyms_name_functions: false,
            other_functions_asked: false,
            functions_asked_by_values: false,
            values_beside_their_functions: false,
            optionals_in_their_sentence: false,
            list_items_in_their_parts: false,
            flags_in_their_parts: false,
            parts_of_values_not_new: false,
            call_on_refused_start: false,
            ground_optional_arguments: false,
            ground_optional_choices: false,
            optional_flags_asked: false,
            ground_listed_choices: false,
            ground_list_items: false,
            years_in_their_own_argument: false,
            values_in_their_own_argument: false,
            drop_sentence_articles: false,
            ends_as_written: false,
            named_functions_called: false,
            values_as_described: false,
            dates_in_words_as_iso: false,
            hemispheres_as_signs: false,
            units_as_written: false,
            optional_choices_named: false,
            currencies_as_codes: false,
            drop_copied_numbers: false,
            city_with_state: false,
            numbers_at_written_scale: false,
            percentages_as_fractions: false,
            percentages_as_points: false,
            percentages_beside_plain_numbers: false,
            numbers_run_together: false,
            lists_paired_in_order: false,
            moved_values_are_new: false,
            calls_written_as_text: false,
            call_after_echo: false,
            call_relevance: false,
            ..tuning
        };
        assert!(CallCheck::new(&off, &tools(), &messages, &ToolChoice::Auto, true, true).is_none());
        let required = CallCheck::new(
            &tuning,
            &tools(),
            &messages,
            &ToolChoice::Required,
            false,
            true,
        );
        assert!(
            required.is_some(),
            "made-up optional arguments are left out under `required` too"
        );
        let optionals_kept = ToolCallTuning {
            ground_optional_arguments: false,
            ground_optional_choices: false,
            optional_flags_asked: false,
            ground_listed_choices: false,
            ground_list_items: false,
            years_in_their_own_argument: false,
            values_in_their_own_argument: false,
            drop_sentence_articles: false,
            ends_as_written: false,
            named_functions_called: false,
            values_as_described: false,
            dates_in_words_as_iso: false,
            hemispheres_as_signs: false,
            units_as_written: false,
            optional_choices_named: false,
            currencies_as_codes: false,
            drop_copied_numbers: false,
            city_with_state: false,
            numbers_at_written_scale: false,
            percentages_as_fractions: false,
            percentages_as_points: false,
            percentages_beside_plain_numbers: false,
            numbers_run_together: false,
            lists_paired_in_order: false,
            moved_values_are_new: false,
            calls_written_as_text: false,
            call_after_echo: false,
            ..tuning
        };
        let required = CallCheck::new(
            &optionals_kept,
            &tools(),
            &messages,
            &ToolChoice::Required,
            false,
            true,
        );
        assert!(
            required.is_some(),
            "a required call is asked for again when none is valid"
        );
        let after_tool_results = CallCheck::new(
            &tuning,
            &tools(),
            &messages,
            &ToolChoice::Named("play".into()),
            true,
            false,
        )
        .expect("a required call is checked after tool results too");
        assert!(
            after_tool_results.lists.is_none()
                && !after_tool_results.probe
                && !after_tool_results.ground_optionals,
            "the checks that read the user's message apply only when answering it"
        );
    }

    #[tokio::test]
    async fn optional_arguments_the_model_made_up_are_left_out() {
        let told = call("play", json!({"artist": "Taylor Swift", "minutes": 20}));
        let embellished = call(
            "play",
            json!({"artist": "Taylor Swift", "minutes": 20, "speed": 3}),
        );
        let (text, _, _, report) = answer_reported(
            "Play Taylor Swift for 20 minutes",
            ToolChoice::Auto,
            vec![embellished.clone(); 3],
        )
        .await;
        assert_eq!(text, told);
        let report = report.expect("an argument was left out");
        assert_eq!(report.model_answer, embellished);
        assert_eq!(
            report.dropped_arguments,
            vec![DroppedArgument {
                function: "play".into(),
                argument: "speed".into(),
                value: json!(3),
                reason: "not_in_conversation",
            }]
        );
        // Written by the user, an optional argument stays.
        let (text, _, _, _) = answer_reported(
            "Play Taylor Swift for 20 minutes at speed 3",
            ToolChoice::Auto,
            vec![embellished.clone(); 3],
        )
        .await;
        assert_eq!(text, embellished);
    }

    #[tokio::test]
    async fn optional_choices_the_user_did_not_name_are_left_out() {
        let told = call("play", json!({"artist": "Taylor Swift", "minutes": 20}));
        let chosen = call(
            "play",
            json!({"artist": "Taylor Swift", "minutes": 20, "order": "shuffled"}),
        );
        let (text, _, _, report) = answer_reported(
            "Play Taylor Swift for 20 minutes",
            ToolChoice::Auto,
            vec![chosen.clone(); 3],
        )
        .await;
        assert_eq!(text, told);
        assert_eq!(
            report.expect("a choice was left out").dropped_arguments,
            vec![DroppedArgument {
                function: "play".into(),
                argument: "order".into(),
                value: json!("shuffled"),
                reason: "choice_not_named",
            }]
        );
        // Named, by a word of the same stem, the choice stays.
        let (text, _, _, _) = answer_reported(
            "Play Taylor Swift for 20 minutes, shuffle them",
            ToolChoice::Auto,
            vec![chosen.clone(); 3],
        )
        .await;
        assert_eq!(text, chosen);
    }

    #[tokio::test]
    async fn flags_nobody_asked_for_are_left_out_and_values_said_twice_once() {
        let flagged = call(
            "play",
            json!({"artist": "Taylor Swift", "minutes": 20, "lyrics": true}),
        );
        let (text, _, _, report) = answer_reported(
            "Play Taylor Swift for 20 minutes",
            ToolChoice::Auto,
            vec![flagged.clone(); 3],
        )
        .await;
        assert_eq!(
            text,
            call("play", json!({"artist": "Taylor Swift", "minutes": 20}))
        );
        assert_eq!(
            report.expect("a flag was left out").dropped_arguments,
            vec![DroppedArgument {
                function: "play".into(),
                argument: "lyrics".into(),
                value: json!(true),
                reason: "flag_not_asked",
            }]
        );
        // Asked for by a word of its description, the flag stays.
        let (text, _, _, _) = answer_reported(
            "Play Taylor Swift for 20 minutes with the words",
            ToolChoice::Auto,
            vec![flagged.clone(); 3],
        )
        .await;
        assert_eq!(text, flagged);

        let twice = call(
            "play",
            json!({"artist": "Queen", "tour": "Queen Rhapsody Tour", "minutes": 20}),
        );
        let question = "Play Queen's Rhapsody Tour for 20 minutes";
        let (text, _, _, report) =
            answer_reported(question, ToolChoice::Auto, vec![twice.clone(); 3]).await;
        assert_eq!(
            text,
            call(
                "play",
                json!({"artist": "Queen", "tour": "Rhapsody Tour", "minutes": 20})
            )
        );
        let rewritten = report.expect("a value was said once").rewritten_arguments;
        assert_eq!(rewritten.len(), 1);
        assert_eq!(rewritten[0].reason, "repeated_value");
        // Both switched off, the call is as the model wrote it.
        let tuning = ToolCallTuning {
            optional_flags_asked: false,
            values_in_their_own_argument: false,
            ..ToolCallTuning::default()
        };
        for answer in [flagged, twice] {
            let (text, _, _) =
                try_answer_tuned(&tuning, question, ToolChoice::Auto, vec![answer.clone(); 3])
                    .await;
            assert_eq!(text.expect("generated").0, answer);
        }
    }

    #[tokio::test]
    async fn a_list_holding_every_choice_keeps_those_the_user_named() {
        let every_genre = call(
            "play",
            json!({"artist": "Taylor Swift", "minutes": 20,
                   "genres": ["rock", "jazz", "pop", "classical"]}),
        );
        let (text, _, _, report) = answer_reported(
            "Play Taylor Swift's jazz and pop songs for 20 minutes",
            ToolChoice::Auto,
            vec![every_genre.clone(); 3],
        )
        .await;
        assert_eq!(
            text,
            call(
                "play",
                json!({"artist": "Taylor Swift", "minutes": 20, "genres": ["jazz", "pop"]})
            )
        );
        let report = report.expect("items were left out");
        assert_eq!(report.model_answer, every_genre);
        assert_eq!(
            report.dropped_items,
            vec![DroppedItems {
                function: "play".into(),
                argument: "genres".into(),
                items: vec![json!("rock"), json!("classical")],
                reason: "choice_not_named",
            }]
        );
        // No genre named: nothing tells which the user meant, and the list stays whole.
        let (text, _, _, _) = answer_reported(
            "Play Taylor Swift for 20 minutes",
            ToolChoice::Auto,
            vec![every_genre.clone(); 3],
        )
        .await;
        assert_eq!(text, every_genre);
    }

    #[tokio::test]
    async fn free_list_items_nobody_wrote_are_left_out_beside_those_the_user_did() {
        let songs = |titles: serde_json::Value| {
            call(
                "play",
                json!({"artist": "Taylor Swift", "minutes": 20, "songs": titles}),
            )
        };
        let padded = songs(json!(["Shake It Off", "Love Story", "Bad Blood"]));
        let (text, _, _, report) = answer_reported(
            "Play Taylor Swift's Shake It Off and Love Story for 20 minutes",
            ToolChoice::Auto,
            vec![padded.clone(); 3],
        )
        .await;
        assert_eq!(text, songs(json!(["Shake It Off", "Love Story"])));
        let report = report.expect("an item was left out");
        assert_eq!(report.model_answer, padded);
        assert_eq!(
            report.dropped_items,
            vec![DroppedItems {
                function: "play".into(),
                argument: "songs".into(),
                items: vec![json!("Bad Blood")],
                reason: "not_in_conversation",
            }]
        );
        // An item too short to tell is kept: "ME!" may be written otherwise. (A list none of
        // whose items is written is an optional argument nobody gave: see
        // `optional_arguments_the_model_made_up_are_left_out`.)
        let short = songs(json!(["Shake It Off", "ME!"]));
        let (text, _, _) = answer(
            "Play Taylor Swift's Shake It Off for 20 minutes",
            ToolChoice::Auto,
            vec![short.clone(); 3],
        )
        .await;
        assert_eq!(text, short);
    }

    #[tokio::test]
    async fn a_year_another_argument_carries_is_left_out_of_a_string() {
        let doubled = call(
            "play",
            json!({"artist": "Taylor Swift", "minutes": 20, "tour": "Eras Tour of 2023", "year": 2023}),
        );
        let (text, _, _, report) = answer_reported(
            "Play Taylor Swift's Eras Tour of 2023 for 20 minutes",
            ToolChoice::Auto,
            vec![doubled.clone(); 3],
        )
        .await;
        assert_eq!(
            text,
            call(
                "play",
                json!({"artist": "Taylor Swift", "minutes": 20, "tour": "Eras Tour", "year": 2023})
            )
        );
        let report = report.expect("a year was left out");
        assert_eq!(
            report.rewritten_arguments,
            vec![RewrittenArgument {
                function: "play".into(),
                argument: "tour".into(),
                value: json!("Eras Tour of 2023"),
                written: json!("Eras Tour"),
                reason: "repeated_year",
            }]
        );
        // No other argument holds the year: it is the name's own.
        let own = call(
            "play",
            json!({"artist": "Taylor Swift", "minutes": 20, "tour": "Eras Tour 2023"}),
        );
        let (text, _, _) = answer(
            "Play Taylor Swift's Eras Tour 2023 for 20 minutes",
            ToolChoice::Auto,
            vec![own.clone(); 3],
        )
        .await;
        assert_eq!(text, own);
    }

    #[tokio::test]
    async fn values_two_functions_hold_the_wrong_way_round_are_given_back_and_reported() {
        let question = "How far will the forest grow from a distance of 50 at a rate of 2 for \
            10 years? Also the travel time for 120 km at 60 km/h.";
        let grow = |distance| {
            call(
                "grow",
                json!({"distance": distance, "rate": 2, "years": 10}),
            )
        };
        let travel = |distance| call("travel_time", json!({"distance": distance, "speed": 60}));
        let swapped = format!("{}\n{}", grow(120), travel(50));
        let outputs = vec![swapped.clone(), grow(120), grow(120), grow(120)];
        let (text, _, _, report) =
            answer_reported(question, ToolChoice::Auto, outputs.clone()).await;
        assert_eq!(text, format!("{}\n{}", grow(50), travel(120)));
        let rewritten: Vec<_> = report
            .expect("values were given back")
            .rewritten_arguments
            .into_iter()
            .map(|r| (r.function, r.argument, r.value, r.written, r.reason))
            .collect();
        let given = |function: &str, value, written| {
            let (function, argument) = (function.to_string(), "distance".to_string());
            (
                function,
                argument,
                json!(value),
                json!(written),
                "beside_its_function",
            )
        };
        assert_eq!(
            rewritten,
            vec![given("grow", 120, 50), given("travel_time", 50, 120)]
        );

        let off = ToolCallTuning {
            values_beside_their_functions: false,
            ..ToolCallTuning::default()
        };
        let (answer, _, _) = try_answer_tuned(&off, question, ToolChoice::Auto, outputs).await;
        assert_eq!(answer.expect("generated").0, swapped);
    }

    #[tokio::test]
    async fn an_optional_value_written_in_another_calls_sentence_is_left_out_and_reported() {
        let question = "Play Taylor Swift for 20 minutes. Then play Adele for 30 minutes from \
            the year 2016.";
        let play = |artist, minutes| {
            call(
                "play",
                json!({"artist": artist, "minutes": minutes, "year": 2016}),
            )
        };
        let answer_text = format!("{}\n{}", play("Taylor Swift", 20), play("Adele", 30));
        let outputs = vec![answer_text.clone(), play("Adele", 30), play("Adele", 30)];
        let (text, _, _, report) =
            answer_reported(question, ToolChoice::Auto, outputs.clone()).await;
        let first = call("play", json!({"artist": "Taylor Swift", "minutes": 20}));
        assert_eq!(text, format!("{first}\n{}", play("Adele", 30)));
        assert_eq!(
            report.expect("a value was left out").dropped_arguments,
            vec![DroppedArgument {
                function: "play".into(),
                argument: "year".into(),
                value: json!(2016),
                reason: "another_calls_sentence",
            }]
        );

        let off = ToolCallTuning {
            optionals_in_their_sentence: false,
            ..ToolCallTuning::default()
        };
        let (answer, _, _) = try_answer_tuned(&off, question, ToolChoice::Auto, outputs).await;
        assert_eq!(answer.expect("generated").0, answer_text);
    }

    #[tokio::test]
    async fn lists_are_held_to_the_items_of_their_calls_parts_and_reported() {
        let question = "Play Queen for 20 minutes with the songs Bohemian Rhapsody and Radio \
            Gaga, then play Adele for 30 minutes with Hello.";
        let play = |artist, minutes, songs: &[&str]| {
            call(
                "play",
                json!({"artist": artist, "minutes": minutes, "songs": songs}),
            )
        };
        let all = ["Bohemian Rhapsody", "Radio Gaga", "Hello"];
        let queen_written = ["Bohemian Rhapsody", "Hello"];
        let answer_text = format!(
            "{}\n{}",
            play("Queen", 20, &queen_written),
            play("Adele", 30, &all)
        );
        let outputs = vec![
            answer_text.clone(),
            play("Adele", 30, &all),
            play("Adele", 30, &all),
        ];
        let (text, _, _, report) =
            answer_reported(question, ToolChoice::Auto, outputs.clone()).await;
        assert_eq!(
            text,
            format!(
                "{}\n{}",
                play("Queen", 20, &all[..2]),
                play("Adele", 30, &all[2..])
            )
        );
        // Queen's part names Radio Gaga, which only Adele's call held: it is added.
        let rewritten = |written: &[&str], value: &[&str]| RewrittenArgument {
            function: "play".into(),
            argument: "songs".into(),
            value: json!(written),
            written: json!(value),
            reason: "items_of_its_part",
        };
        assert_eq!(
            report.expect("lists were rewritten").rewritten_arguments,
            vec![
                rewritten(&queen_written, &all[..2]),
                rewritten(&all, &all[2..])
            ]
        );

        let off = ToolCallTuning {
            list_items_in_their_parts: false,
            ..ToolCallTuning::default()
        };
        let (answer, _, _) = try_answer_tuned(&off, question, ToolChoice::Auto, outputs).await;
        assert_eq!(answer.expect("generated").0, answer_text);
    }

    #[tokio::test]
    async fn a_call_whose_only_new_value_is_part_of_an_earlier_calls_is_dropped() {
        let question = "Play Taylor Swift and Adele for 20 minutes";
        let play = |artist| call("play", json!({"artist": artist, "minutes": 20}));
        let answer_text = [play("Taylor Swift"), play("Taylor"), play("Adele")].join("\n");
        let outputs = vec![
            answer_text.clone(),
            play("Adele"),
            play("Adele"),
            play("Adele"),
        ];
        let (text, _, _, report) =
            answer_reported(question, ToolChoice::Auto, outputs.clone()).await;
        assert_eq!(text, format!("{}\n{}", play("Taylor Swift"), play("Adele")));
        let dropped: Vec<_> = report
            .expect("a call was dropped")
            .dropped
            .into_iter()
            .map(|c| (c.arguments, c.reason))
            .collect();
        assert_eq!(
            dropped,
            vec![(
                json!({"artist": "Taylor", "minutes": 20}),
                "part_of_earlier_value"
            )]
        );

        let off = ToolCallTuning {
            parts_of_values_not_new: false,
            ..ToolCallTuning::default()
        };
        let (answer, _, _) = try_answer_tuned(&off, question, ToolChoice::Auto, outputs).await;
        assert_eq!(answer.expect("generated").0, answer_text);
    }

    #[tokio::test]
    async fn the_state_of_a_city_given_alone_is_asked_for_where_the_description_wants_it() {
        let alone = call(
            "play",
            json!({"artist": "Taylor Swift", "minutes": 20, "city": "Chicago"}),
        );
        let (text, _, requests, report) = answer_reported(
            "Play Taylor Swift for 20 minutes in Chicago",
            ToolChoice::Auto,
            vec![alone.clone(), alone.clone(), alone.clone(), " IL\"".into()],
        )
        .await;
        assert_eq!(
            text,
            call(
                "play",
                json!({"artist": "Taylor Swift", "minutes": 20, "city": "Chicago, IL"})
            )
        );
        let asked = requests.last().expect("the state was asked for");
        assert!(
            asked.prompt.ends_with("\"city\": \"Chicago,"),
            "the model continues after the city's comma: {}",
            asked.prompt
        );
        assert_eq!(asked.grammar.as_deref(), Some(STATE_GRAMMAR));
        let report = report.expect("the state was added");
        assert_eq!(report.rewritten_arguments[0].reason, "state_added");
        assert_eq!(report.rewritten_arguments[0].value, json!("Chicago"));
        // Given with its state: nothing more is asked.
        let with_state = call(
            "play",
            json!({"artist": "Taylor Swift", "minutes": 20, "city": "Chicago, IL"}),
        );
        let (text, _, requests) = answer(
            "Play Taylor Swift for 20 minutes in Chicago, IL",
            ToolChoice::Auto,
            vec![with_state.clone(); 3],
        )
        .await;
        assert_eq!(text, with_state);
        assert_eq!(requests.len(), 3);
    }

    #[tokio::test]
    async fn a_number_off_by_a_power_of_ten_from_one_written_with_a_scale_is_set_back() {
        let slipped = call("travel_time", json!({"distance": 120000000, "speed": 60}));
        let (text, _, _, report) = answer_reported(
            "How long do 1.2 million km take at 60 km/h?",
            ToolChoice::Auto,
            vec![slipped.clone(); 3],
        )
        .await;
        assert_eq!(
            text,
            call("travel_time", json!({"distance": 1200000, "speed": 60}))
        );
        let report = report.expect("a number was set back");
        assert_eq!(report.model_answer, slipped);
        assert_eq!(
            report.rescaled_arguments,
            vec![RescaledArgument {
                function: "travel_time".into(),
                argument: "distance".into(),
                value: json!(120000000),
                written: json!(1200000),
                reason: "scale_word",
            }]
        );
        // Without a scale word there is nothing to set back to ("120 m" may be metres; the
        // unit the user wrote is set, by `units_as_written`).
        let (text, _, _, _) = answer_reported(
            "How long do 120 m take at 60 km/h?",
            ToolChoice::Auto,
            vec![slipped.clone(); 3],
        )
        .await;
        assert_eq!(
            text,
            call(
                "travel_time",
                json!({"distance": 120000000, "speed": 60, "unit": "m"})
            )
        );
    }

    #[tokio::test]
    async fn a_call_moving_values_the_message_writes_again_is_new_a_swapped_copy_is_not() {
        let question = "The route from Paris to Rome, then from Rome to Oslo, and finally from \
            Oslo back to Paris.";
        let route = |start, end| call("route", json!({"start": start, "end": end}));
        let legs = format!(
            "{}\n{}\n{}",
            route("Paris", "Rome"),
            route("Rome", "Oslo"),
            route("Oslo", "Paris")
        );
        let outputs = vec![legs.clone(), route("Paris", "Rome")];
        let (text, _, _, _) = answer_reported(question, ToolChoice::Auto, outputs.clone()).await;
        assert_eq!(text, legs);

        // "Paris" and "Rome" written once each, and each used once: the swap is a copy.
        let (text, _, _, report) = answer_reported(
            "The route from Paris to Rome.",
            ToolChoice::Auto,
            vec![
                format!("{}\n{}", route("Paris", "Rome"), route("Rome", "Paris")),
                route("Paris", "Rome"),
            ],
        )
        .await;
        assert_eq!(text, route("Paris", "Rome"));
        let dropped = report.expect("the copy was dropped").dropped;
        assert_eq!(dropped[0].reason, "nothing_new");

        let off = ToolCallTuning {
            moved_values_are_new: false,
            ..ToolCallTuning::default()
        };
        let (answer, _, _) = try_answer_tuned(&off, question, ToolChoice::Auto, outputs).await;
        let two_legs = format!("{}\n{}", route("Paris", "Rome"), route("Rome", "Oslo"));
        assert_eq!(answer.expect("generated").0, two_legs);
    }

    #[tokio::test]
    async fn a_percentage_also_written_plainly_is_its_value_where_the_calls_use_it_once_more() {
        let question = "How far will the forest grow from a distance of 50 at a rate of 7% for \
            5 years, and from a distance of 80 at a rate of 5% for 7 years?";
        let grow = |distance, rate: serde_json::Value, years| {
            call(
                "grow",
                json!({"distance": distance, "rate": rate, "years": years}),
            )
        };
        let points = format!("{}\n{}", grow(50, json!(7), 5), grow(80, json!(5), 7));
        let outputs = vec![points.clone(), grow(50, json!(7), 5)];
        let (text, _, _, report) =
            answer_reported(question, ToolChoice::Auto, outputs.clone()).await;
        assert_eq!(
            text,
            format!("{}\n{}", grow(50, json!(0.07), 5), grow(80, json!(0.05), 7))
        );
        let rescaled: Vec<_> = report
            .expect("percentages were set to their values")
            .rescaled_arguments
            .into_iter()
            .map(|r| (r.argument, r.value, r.written, r.reason))
            .collect();
        let rate = |value, written| {
            let argument = "rate".to_string();
            (
                argument,
                json!(value),
                json!(written),
                "percentage_beside_plain",
            )
        };
        assert_eq!(rescaled, vec![rate(7, 0.07), rate(5, 0.05)]);

        // Two arguments that take fractions hold the one extra use: which is the percentage
        // cannot be told.
        let (text, _, _, _) = answer_reported(
            "How far will the forest grow from a distance of 5 at a rate of 5% for 3 years?",
            ToolChoice::Auto,
            vec![grow(5, json!(5), 3)],
        )
        .await;
        assert_eq!(text, grow(5, json!(5), 3));

        let off = ToolCallTuning {
            percentages_beside_plain_numbers: false,
            ..ToolCallTuning::default()
        };
        let (answer, _, _) = try_answer_tuned(&off, question, ToolChoice::Auto, outputs).await;
        assert_eq!(answer.expect("generated").0, points);
    }

    #[tokio::test]
    async fn two_list_members_run_together_in_one_number_stand_for_the_first_of_them() {
        let question = "Play Taylor Swift for 15, 20 and 30 minutes";
        let play = |minutes| {
            call(
                "play",
                json!({"artist": "Taylor Swift", "minutes": minutes}),
            )
        };
        // The model's answer, then the list's calls, then its own copies of the first.
        let outputs = vec![play(1520), play(20), play(30), play(15)];
        let (text, _, _, report) =
            answer_reported(question, ToolChoice::Auto, outputs.clone()).await;
        assert_eq!(text, format!("{}\n{}\n{}", play(15), play(20), play(30)));
        let report = report.expect("a number was set to the list's first");
        assert_eq!(
            report.rescaled_arguments,
            vec![RescaledArgument {
                function: "play".into(),
                argument: "minutes".into(),
                value: json!(1520),
                written: json!(15),
                reason: "run_together",
            }]
        );

        let off = ToolCallTuning {
            numbers_run_together: false,
            ..ToolCallTuning::default()
        };
        let (answer, _, report) = try_answer_tuned(&off, question, ToolChoice::Auto, outputs).await;
        let (text, _) = answer.expect("generated");
        assert!(text.starts_with(&play(1520)), "{text}");
        assert!(report.is_none_or(|report| report.rescaled_arguments.is_empty()));
    }

    #[tokio::test]
    async fn calls_crossing_lists_the_message_pairs_are_given_its_pairs_or_dropped() {
        let question = "Play Taylor Swift and Adele for 20 and 30 minutes respectively";
        let play = |artist, minutes| call("play", json!({"artist": artist, "minutes": minutes}));
        // Both crossed: each is given the pair no call made.
        let crossed = format!("{}\n{}", play("Taylor Swift", 30), play("Adele", 20));
        let outputs = vec![crossed.clone(), play("Taylor Swift", 30)];
        let (text, _, _, report) =
            answer_reported(question, ToolChoice::Auto, outputs.clone()).await;
        assert_eq!(
            text,
            format!("{}\n{}", play("Taylor Swift", 20), play("Adele", 30))
        );
        let rewritten: Vec<_> = report
            .expect("pairs were given")
            .rewritten_arguments
            .into_iter()
            .map(|r| (r.argument, r.value, r.written, r.reason))
            .collect();
        let minutes = |value, written| {
            let argument = "minutes".to_string();
            (argument, json!(value), json!(written), "paired_in_order")
        };
        assert_eq!(rewritten, vec![minutes(30, 20), minutes(20, 30)]);

        // One crossed beside both right pairs: dropped.
        let three = format!(
            "{}\n{}\n{}",
            play("Taylor Swift", 20),
            play("Adele", 20),
            play("Adele", 30)
        );
        let (text, _, _, report) = answer_reported(
            question,
            ToolChoice::Auto,
            vec![three, play("Taylor Swift", 20)],
        )
        .await;
        assert_eq!(
            text,
            format!("{}\n{}", play("Taylor Swift", 20), play("Adele", 30))
        );
        let dropped = report.expect("a call was dropped").dropped;
        assert_eq!(dropped.len(), 1);
        assert_eq!(
            (dropped[0].reason, &dropped[0].arguments),
            ("crossed_pair", &json!({"artist": "Adele", "minutes": 20}))
        );

        // Lists not paired by the message are each with each (`calls_for_list_combinations`).
        let unpaired = "Play Taylor Swift and Adele for 20 and 30 minutes";
        let (text, _, _, _) = answer_reported(unpaired, ToolChoice::Auto, outputs.clone()).await;
        assert!(text.starts_with(&crossed), "{text}");

        let off = ToolCallTuning {
            lists_paired_in_order: false,
            ..ToolCallTuning::default()
        };
        let (answer, _, _) = try_answer_tuned(&off, question, ToolChoice::Auto, outputs).await;
        assert_eq!(answer.expect("generated").0, crossed);
    }

    #[tokio::test]
    async fn a_percentage_carried_as_its_points_is_set_to_its_value_unless_said_in_percent() {
        let points = call(
            "grow",
            json!({"distance": 5000, "rate": 5, "years": 3, "discount": 10}),
        );
        let (text, _, _, report) = answer_reported(
            "What do $5000 grow to in 3 years at 5%, with a 10% discount?",
            ToolChoice::Auto,
            vec![points.clone(); 3],
        )
        .await;
        // The rate is 0.05; the discount is said to be in percent, so 10 stays.
        assert_eq!(
            text,
            call(
                "grow",
                json!({"distance": 5000, "rate": 0.05, "years": 3, "discount": 10})
            )
        );
        assert_eq!(
            report.expect("a percentage was set").rescaled_arguments,
            vec![RescaledArgument {
                function: "grow".into(),
                argument: "rate".into(),
                value: json!(5),
                written: json!(0.05),
                reason: "percentage",
            }]
        );
        // 5 written also as a count ("5 years"), or never as a percentage: left as it is.
        let points = call("grow", json!({"distance": 5000, "rate": 5, "years": 3}));
        for question in [
            "What do $5000 grow to in 3 years at 5%, 5 times over?",
            "What do $5000 grow to in 3 years at a rate of 5?",
        ] {
            let (text, _, _, _) =
                answer_reported(question, ToolChoice::Auto, vec![points.clone(); 3]).await;
            assert_eq!(text, points, "{question}");
        }
    }

    #[test]
    fn points_are_what_a_description_gives_in_percent_and_not_as_a_fraction() {
        let number = |description: &str| json!({"type": "number", "description": description});
        for points in [
            "The interest rate for a year as a percentage.",
            "The annual depreciation rate in percentage.",
            "The annual interest rate in percentage. e.g. 3.5 for 3.5%",
            "Discount in percent.",
        ] {
            assert!(takes_percentage_points("rate", &number(points)), "{points}");
        }
        for fraction in [
            "List of the percentage contributions of each trait, which must sum to 1.",
            "The discount rate in percentage, must be from 0 to 1.",
            "The annual interest rate in percentage. Enter as a decimal (for 5%, 0.05).",
            "The expected annual return as a decimal. E.g. 5% = 0.05",
            "The annual interest rate.",
        ] {
            assert!(
                !takes_percentage_points("rate", &number(fraction)),
                "{fraction}"
            );
        }
        assert!(!takes_percentage_points(
            "rate",
            &json!({"type": "integer", "description": "In percent."})
        ));
    }

    #[tokio::test]
    async fn a_percentage_carried_as_its_value_is_set_to_its_points_where_said_in_percent() {
        let value = call(
            "grow",
            json!({"distance": 5000, "rate": 0.05, "years": 3, "discount": 0.1}),
        );
        let (text, _, _, report) = answer_reported(
            "What do $5000 grow to in 3 years at 5%, with a 10% discount?",
            ToolChoice::Auto,
            vec![value.clone(); 3],
        )
        .await;
        // The discount is said to be in percent: 10; the rate is not: 0.05 stays.
        assert_eq!(
            text,
            call(
                "grow",
                json!({"distance": 5000, "rate": 0.05, "years": 3, "discount": 10.0})
            )
        );
        assert_eq!(
            report.expect("a percentage was set").rescaled_arguments,
            vec![RescaledArgument {
                function: "grow".into(),
                argument: "discount".into(),
                value: json!(0.1),
                written: json!(10.0),
                reason: "percentage_points",
            }]
        );
        let tuning = ToolCallTuning {
            percentages_as_points: false,
            ..ToolCallTuning::default()
        };
        let (answer, _, _) = try_answer_tuned(
            &tuning,
            "What do $5000 grow to in 3 years at 5%, with a 10% discount?",
            ToolChoice::Auto,
            vec![value.clone(); 3],
        )
        .await;
        assert_eq!(answer.expect("generated").0, value);
    }

    #[test]
    fn the_plain_prompt_is_rendered_unless_switched_off() {
        let messages = [Message::user("What is the weather in Paris?")];
        let check = |tuning: &ToolCallTuning| {
            let mut rendered = false;
            let check = CallCheck::new(tuning, &tools(), &messages, &ToolChoice::Auto, false, true)
                .expect("a check applies")
                .with_plain_prompt(|| {
                    rendered = true;
                    Ok::<_, std::convert::Infallible>("PLAIN ".into())
                })
                .expect("rendered");
            assert_eq!(check.plain_prompt.is_some(), rendered);
            rendered
        };
        assert!(check(&ToolCallTuning::default()));
        assert!(!check(&ToolCallTuning {
            text_answer_without_tools: false,
            calls_written_as_text: false,
            call_after_echo: false,
            ..ToolCallTuning::default()
        }));
    }

    /// One checked answer of `outputs` to `question` where the engine took the call tag in
    /// place of the model's refused first choice (`redirected`) or not, the conversation
    /// rendered without tools being "PLAIN ".
    async fn answer_after_start(
        question: &str,
        outputs: Vec<String>,
        redirected: bool,
    ) -> (String, Option<CheckReport>, Vec<GenerationRequest>) {
        let mut scripted = fulcrum_engine::scripted::ScriptedBackend::new(outputs);
        if redirected {
            scripted = scripted.with_refused_first_choice();
        }
        let scripted = Arc::new(scripted);
        let backend: Arc<dyn Backend> = scripted.clone();
        let check = CallCheck::new(
            &ToolCallTuning::default(),
            &tools(),
            &[Message::user(question)],
            &ToolChoice::Auto,
            false,
            true,
        )
        .expect("a check applies")
        .with_plain_prompt(|| Ok::<_, std::convert::Infallible>("PLAIN ".into()))
        .expect("rendered");
        let report = check.report();
        let request = GenerationRequest {
            instead_of_refused_start: Some(fulcrum_engine::RefusedStart {
                openers: vec!["{".into()],
                instead: OPEN.into(),
            }),
            ..GenerationRequest::greedy("PROMPT ".into(), 200)
        };
        let stream = checked_generation(&backend, request, check)
            .await
            .expect("started");
        let (text, _, _) = stream.collect().await.expect("generated");
        (text, report.take(), scripted.requests())
    }

    #[tokio::test]
    async fn a_call_the_engine_put_in_place_of_a_refused_start_is_reported() {
        let question = "What is the area under 3x^2 from x = 1 to x = 5?";
        let told = call("travel_time", json!({"distance": 3, "speed": 5}));
        let (text, report, _) = answer_after_start(question, vec![told.clone()], false).await;
        assert_eq!(text, told);
        assert_eq!(
            report, None,
            "the model chose the call itself: nothing changed"
        );
        let (text, report, _) = answer_after_start(question, vec![told.clone()], true).await;
        assert_eq!(text, told, "checked like any other call, and kept");
        let report = report.expect("the redirect is reported");
        assert!(report.redirected_start && !report.answered_in_text);
    }

    #[tokio::test]
    async fn with_no_call_left_the_text_answer_starts_from_the_conversation_without_tools() {
        let invented = call("travel_time", json!({"distance": 100, "speed": 50}));
        let outputs = vec![invented, "I cannot tell the time.".to_string()];
        let (text, report, requests) =
            answer_after_start("What time is it now?", outputs, false).await;
        assert_eq!(text, "I cannot tell the time.");
        assert!(report.expect("the call was dropped").answered_in_text);
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[1].prompt, "PLAIN ");
        let text_grammar = tools().grammar(&ToolChoice::None, false);
        assert_eq!(requests[1].grammar.as_deref(), Some(text_grammar.as_str()));

        // An empty answer without the tools is none: asked again with them.
        let invented = call("travel_time", json!({"distance": 100, "speed": 50}));
        let outputs = vec![invented, String::new(), "It is noon.".to_string()];
        let (text, _, requests) = answer_after_start("What time is it now?", outputs, false).await;
        assert_eq!(text, "It is noon.");
        assert_eq!(requests.len(), 3);
        assert_eq!(requests[2].prompt, "PROMPT ");
    }
}
