//! Whether a call's values come from the conversation.
//!
//! A small model asked something no offered function can do still calls one, with values it
//! makes up (`calculate_time(distance=100, speed=50)` for "what time is it?"). A call none of
//! whose required values the user (or a tool result) ever wrote is that
//! invention; a real call carries at least some of what it was asked with (or what a tool
//! returned). Values are read
//! leniently: numbers however written (`5%` is 0.05, `1.2 million`, `two`, `两`), strings by any
//! word they share with the text (Chinese by any two characters in a row), enum and boolean values always (they are choices, not
//! facts). A Latin-script string is not checked against text in Chinese or another non-Latin
//! script: the model may rightly translate "杭州" to "Hangzhou".

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use fulcrum_chat::{Message, Role};

use super::dates::month_named;
use super::implied::{dates_relatively, implied_numbers};

/// How much of a call's required values must be found in the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallGrounding {
    /// No check.
    Off,
    /// At least one required value (a call with no required argument always passes).
    #[default]
    Some,
    /// Every required value.
    Every,
}

impl std::str::FromStr for CallGrounding {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "off" => Ok(CallGrounding::Off),
            "some" => Ok(CallGrounding::Some),
            "every" => Ok(CallGrounding::Every),
            other => Err(format!(
                "unknown call grounding `{other}`: use off, some or every"
            )),
        }
    }
}

/// A free string (or a number) a call gives to more of its arguments than the text writes it
/// (see [`Grounds::copied_values`] and [`Grounds::copied_numbers`]).
#[derive(Debug, Clone, PartialEq)]
pub struct CopiedValue {
    pub value: String,
    /// The required arguments that carry it, in the call's order.
    pub required: Vec<String>,
    /// The optional ones.
    pub optional: Vec<String>,
    /// How many times the text writes it.
    pub written: usize,
}

impl CopiedValue {
    /// Counts argument `name` among those carrying the value.
    fn carried_by(&mut self, name: &str, required: &[&str]) {
        if required.contains(&name) {
            self.required.push(name.to_string());
        } else {
            self.optional.push(name.to_string());
        }
    }

    fn carriers(&self) -> usize {
        self.required.len() + self.optional.len()
    }

    /// Whether the call's required arguments alone carry it more often than the text writes
    /// it: only dropping the call undoes the copy.
    pub fn in_required_arguments(&self) -> bool {
        self.required.len() >= 2 && self.required.len() > self.written
    }

    /// The optional arguments to leave out so that the copy is undone where it can be: all
    /// of them beside a required one, else all but the first (the tool's defaults apply).
    pub fn optional_copies(&self) -> &[String] {
        if self.required.is_empty() {
            self.optional.get(1..).unwrap_or_default()
        } else {
            &self.optional
        }
    }
}

/// The text a call's values may come from, read once.
#[derive(Debug, Clone, Default)]
pub struct Grounds {
    lower: String,
    /// `lower` with every run of whitespace one space.
    spaced: Vec<char>,
    numbers: Vec<f64>,
    /// The numbers the text holds in other readings than `numbers`: those it implies
    /// without writing them ("next week": 7 days; see [`implied_numbers`]), the items of
    /// digits run together by commas ("200,300,400" is also 200, 300 and 400) and numbers in
    /// scientific notation ("1e-9").
    loose_numbers: Vec<f64>,
    /// Whether the text dates its request relative to now ("today", "last year"; see
    /// [`dates_relatively`]).
    dates_relatively: bool,
    /// The numbers written with a scale word ("8.5 million", "3 thousand", "2708万"), scaled.
    scaled_numbers: Vec<f64>,
    /// The numbers written only as percentages ("5%", "7 percent"), as written (5, 7).
    percentages: Vec<f64>,
    /// The numbers written as percentages and plainly too ("7% … 7 years"), each with how
    /// many times it is written plainly.
    percentages_beside_plain: Vec<(f64, usize)>,
    /// The words of the text (Latin script, lowercased).
    words: Vec<String>,
    /// Text in a script whose words a call may carry translated.
    non_latin: bool,
    /// A pronoun given as a value ("I" as a location) counts as written, as any word does.
    pronouns_are_values: bool,
    /// A string value that is its parameter's description (or the description's first
    /// words, three at least) counts as written, as any words of the text do.
    descriptions_are_values: bool,
    /// The words of two or three capitals the text writes ("GDP", "BMI"), lowercased.
    acronyms: Vec<String>,
    /// A function's name word that short counts as named where the text has it as an
    /// acronym (see [`Self::found_name_words`]).
    acronyms_name_functions: bool,
}

impl Grounds {
    pub fn new(text: &str) -> Self {
        let (percentages, percentages_beside_plain) = read_percentages(text);
        let lower = text.to_lowercase();
        Grounds {
            spaced: lower
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .chars()
                .collect(),
            words: latin_words(&lower),
            lower,
            numbers: read_numbers(text),
            loose_numbers: implied_numbers(text)
                .into_iter()
                .chain(comma_run_items(text))
                .chain(scientific_numbers(text))
                .collect(),
            dates_relatively: dates_relatively(text),
            scaled_numbers: read_scaled_numbers(text),
            percentages,
            percentages_beside_plain,
            non_latin: text.chars().any(non_latin_letter),
            pronouns_are_values: false,
            descriptions_are_values: false,
            acronyms: acronyms(text),
            acronyms_name_functions: false,
        }
    }

    /// These grounds with a function's name word of two or three letters counted as found
    /// where the text writes it in capitals (`us_history.gdp` for "the GDP"), when `counted`.
    pub fn with_acronyms_naming_functions(mut self, counted: bool) -> Self {
        self.acronyms_name_functions = counted;
        self
    }

    /// These grounds with a pronoun given as a value counted as written when `counted`:
    /// otherwise ("I" as a location, "I'm" as a company) it is no value of the request.
    pub fn with_pronouns_as_values(mut self, counted: bool) -> Self {
        self.pronouns_are_values = counted;
        self
    }

    /// These grounds with a string value that copies its parameter's description counted as
    /// written when `counted`: otherwise (`"book": "The name of the holy book."` for "What
    /// is a holy book?") it is the schema's text, not the request's, whatever words they
    /// share.
    pub fn with_descriptions_as_values(mut self, counted: bool) -> Self {
        self.descriptions_are_values = counted;
        self
    }

    /// Whether `text` is a pronoun standing for a value (see [`PRONOUNS`]) that is not to
    /// count as one.
    fn stands_for_a_value(&self, text: &str) -> bool {
        !self.pronouns_are_values && is_pronoun(text)
    }

    /// What the user and the tools said in `messages`. Not the system prompt: it carries
    /// instructions and retrieved documents, whose words would ground nearly any call.
    pub fn from_messages(messages: &[Message]) -> Self {
        let text: Vec<&str> = messages
            .iter()
            .filter(|m| matches!(m.role, Role::User | Role::Tool))
            .filter_map(|m| m.content.as_deref())
            .collect();
        Grounds::new(&text.join("\n"))
    }

    /// Whether the text is written, in part, in a script other than Latin: its words may be
    /// what a call carries translated, and no English word can be told missing from it.
    pub(super) fn reads_other_scripts(&self) -> bool {
        self.non_latin
    }

    /// Whether `arguments` of a tool with parameter schema `schema` pass `rule`. Only values
    /// that can be told count: choices (enums, booleans) and Latin-script strings against
    /// Chinese text are left out, and a call with nothing to tell by passes.
    pub fn call(&self, arguments: &Value, schema: &Value, rule: CallGrounding) -> bool {
        let required = required_names(schema);
        let found: Vec<bool> = required
            .iter()
            .filter_map(|name| arguments.get(*name).map(|value| (name, value)))
            .filter_map(|(name, value)| self.value(value, property(schema, name)))
            .collect();
        match rule {
            CallGrounding::Off => true,
            _ if found.is_empty() => true,
            CallGrounding::Some => found.contains(&true),
            CallGrounding::Every => found.iter().all(|f| *f),
        }
    }

    /// Whether `arguments` (a tool with parameter schema `schema`) give a required argument a
    /// value the text does not hold, not even as an inflection of a word it writes
    /// (`"detailed"` for "detail information"): a value the model made up ("Kobe Bryant" for
    /// "who won the MVP in 2020"). Values that cannot be told are none.
    pub fn invents_a_required_value(&self, arguments: &Value, schema: &Value) -> bool {
        required_names(schema)
            .iter()
            .filter_map(|name| arguments.get(*name).map(|value| (*name, value)))
            .any(|(name, value)| {
                self.value(value, property(schema, name)) == Some(false)
                    && !value.as_str().is_some_and(|text| self.names(text))
            })
    }

    /// Whether `arguments` (a tool with parameter schema `schema`) give a required argument a
    /// number (or a list of numbers) the text neither writes nor implies ("next week" implies
    /// 7 days) and the argument's own description does not give ("Default is 0", "for
    /// water, it is 4.184"): the model made up what the request lacks, a price of 100 for "the
    /// final price after a 25% discount", where a string may still be the user's in other
    /// words. A string's numbers count as well (a season "2020-2021" for "the roster of
    /// Manchester United", an id), unless the text dates its request relative to now ("today",
    /// "last year"), which a date stands for.
    pub fn invents_a_required_number(&self, arguments: &Value, schema: &Value) -> bool {
        required_names(schema)
            .iter()
            .filter_map(|name| arguments.get(*name).map(|value| (*name, value)))
            .any(|(name, value)| {
                let property = property(schema, name);
                if property.is_some_and(|p| p.get("enum").is_some() || p.get("const").is_some()) {
                    return false;
                }
                let numbers = match value {
                    Value::String(text) if !self.dates_relatively => numbers_in(text),
                    _ => numbers_of(value),
                };
                let documented = property.map(documented_numbers).unwrap_or_default();
                !numbers.is_empty()
                    && numbers.iter().all(|number| {
                        !self.number(*number)
                            && !self.loose_numbers.iter().any(|n| same_number(*n, *number))
                            && !documented
                                .iter()
                                .any(|n| same_number(n.abs(), number.abs()))
                    })
            })
    }

    /// The optional arguments of `arguments` (a tool with parameter schema `schema`) whose
    /// values the text does not hold: a string sharing no word with it, a number never
    /// written. The model made them up; the tool's default should stand instead. Choices and
    /// what cannot be told are not among them.
    pub fn invented_optionals(&self, arguments: &Value, schema: &Value) -> Vec<String> {
        let required = required_names(schema);
        let Some(arguments) = arguments.as_object() else {
            return Vec::new();
        };
        arguments
            .iter()
            .filter(|(name, _)| !required.contains(&name.as_str()))
            .filter(|(name, value)| self.value(value, property(schema, name)) == Some(false))
            .filter(|(name, value)| !(is_zero(value) && self.writes_none_of(name)))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Whether the text says there is none of what the argument `name` counts: a word of its
    /// name (four letters or more) right after "without", "without any", "no" or "zero"
    /// ("travels for 8 seconds without any acceleration" writes `acceleration: 0`).
    fn writes_none_of(&self, name: &str) -> bool {
        const NONE_WORDS: &[&str] = &["without", "no", "zero"];
        let name_words: Vec<String> = name_words(name)
            .into_iter()
            .filter(|word| word.chars().count() >= 4)
            .collect();
        self.words.iter().enumerate().any(|(at, word)| {
            if !NONE_WORDS.contains(&word.as_str()) {
                return false;
            }
            let mut next = self.words.iter().skip(at + 1);
            let counted = match next.next() {
                Some(any) if any == "any" => next.next(),
                other => other,
            };
            counted.is_some_and(|counted| {
                name_words
                    .iter()
                    .any(|name_word| same_word_stem(name_word, counted))
            })
        })
    }

    /// The optional arguments of `arguments` set to a choice (an enum's string value) that
    /// the text does not name: the model picked one the user never asked for ("binary" as the
    /// algorithm of a greatest common divisor), where the tool's default should stand. A
    /// choice is named by any of its words, compared by their first five letters ("in detail"
    /// names `detailed`). Nothing can be told against text in another script.
    pub fn unnamed_optional_choices(&self, arguments: &Value, schema: &Value) -> Vec<String> {
        let required = required_names(schema);
        let Some(arguments) = arguments.as_object() else {
            return Vec::new();
        };
        if self.non_latin {
            return Vec::new();
        }
        arguments
            .iter()
            .filter(|(name, _)| !required.contains(&name.as_str()))
            .filter(|(name, _)| property(schema, name).is_some_and(|p| p.get("enum").is_some()))
            .filter_map(|(name, value)| Some((name, value.as_str()?)))
            .filter(|(_, choice)| !self.names(choice))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// The items of list arguments of `arguments` (arrays whose items are an enum's values)
    /// that the text does not name, by argument, where the list holds every value of an enum
    /// of three or more and the text names some of them: asked for "annual plants" or "a
    /// patio", the model copies the whole enum, and the user's choice drowns among filters
    /// nobody asked for. A list that picks some values is the model's choice and is left
    /// alone ("Word and PDF" may rightly be `["docx", "pdf"]`), so is a list none of whose
    /// items is named (the user described what they want in other words, or not at all),
    /// and so are items with no word to tell them by ("A", "G") and text in another script.
    pub fn unnamed_listed_choices(
        &self,
        arguments: &Value,
        schema: &Value,
    ) -> Vec<(String, Vec<Value>)> {
        let Some(arguments) = arguments.as_object() else {
            return Vec::new();
        };
        if self.non_latin {
            return Vec::new();
        }
        let mut unnamed = Vec::new();
        for (name, value) in arguments {
            let Some(choices) = property(schema, name)
                .and_then(|p| p.get("items"))
                .and_then(|items| items.get("enum"))
                .and_then(Value::as_array)
                .filter(|choices| choices.len() >= WHOLE_ENUM_MIN_CHOICES)
            else {
                continue;
            };
            let Some(items) = value
                .as_array()
                .filter(|items| choices.iter().all(|choice| items.contains(choice)))
            else {
                continue;
            };
            let (named, not_named): (Vec<&Value>, Vec<&Value>) = items
                .iter()
                .filter(|item| {
                    item.as_str()
                        .is_some_and(|choice| !choice_words(choice).is_empty())
                })
                .partition(|item| item.as_str().is_some_and(|choice| self.names(choice)));
            if !named.is_empty() && !not_named.is_empty() {
                unnamed.push((name.clone(), not_named.into_iter().cloned().collect()));
            }
        }
        unnamed
    }

    /// The items of free-string list arguments of `arguments` (arrays of strings, no enum)
    /// that the text does not hold, by argument, beside items of the same list it does:
    /// asked for "a vegetarian pasta with cheese", the model lists `["Pasta", "Cheese",
    /// "Tomato"]`, and a search for tomato is not what the user asked for. Only items with a
    /// word of four letters or more can be told (not "ssn", "A", "10♥": abbreviations and
    /// symbols the text may write otherwise); a list none of whose items the text holds is
    /// left whole (whether the call stands is grounding's question), and so is everything
    /// against text in another script.
    pub fn invented_list_items(
        &self,
        arguments: &Value,
        schema: &Value,
    ) -> Vec<(String, Vec<Value>)> {
        let Some(arguments) = arguments.as_object() else {
            return Vec::new();
        };
        let mut invented = Vec::new();
        for (name, value) in arguments {
            let free_strings = property(schema, name)
                .and_then(|p| p.get("items"))
                .is_some_and(|items| {
                    items.get("type").and_then(Value::as_str) == Some("string")
                        && items.get("enum").is_none()
                        && items.get("const").is_none()
                });
            let Some(items) = value
                .as_array()
                .filter(|items| free_strings && items.len() >= 2)
            else {
                continue;
            };
            let (made_up, kept): (Vec<&Value>, Vec<&Value>) = items.iter().partition(|item| {
                item.as_str()
                    .is_some_and(|text| has_telling_word(text) && self.string(text) == Some(false))
            });
            if !made_up.is_empty() && !kept.is_empty() {
                invented.push((name.clone(), made_up.into_iter().cloned().collect()));
            }
        }
        invented
    }

    /// Whether the text holds a word of `choice`, or one sharing its stem (see
    /// [`Grounds::unnamed_optional_choices`] and [`Grounds::invents_a_required_value`]).
    pub(super) fn names(&self, choice: &str) -> bool {
        choice_words(choice).iter().any(|word| {
            self.words
                .iter()
                .any(|written| same_word_stem(word, written))
        })
    }

    /// The number the text wrote with a scale word that `value` is off from by a power of
    /// ten, when `value` itself is not written: a small model expanding "8.5 million" often
    /// miscounts the zeros (850000000). `None` when the text holds `value`, or no such
    /// number, or several.
    pub fn as_written_scale(&self, value: f64) -> Option<f64> {
        if value == 0.0 || !value.is_finite() || self.number(value) {
            return None;
        }
        let mut candidates = self
            .scaled_numbers
            .iter()
            .copied()
            .filter(|written| off_by_power_of_ten(value.abs(), written.abs()))
            .map(|written| written.abs().copysign(value));
        let first = candidates.next()?;
        candidates
            .all(|other| same_number(other, first))
            .then_some(first)
    }

    /// The value of the percentage the text writes as `value` ("5%" when `value` is 5: 0.05),
    /// when the text writes that number only as a percentage: a small model passes a rate
    /// as its percentage points. `None` otherwise.
    pub fn as_percentage(&self, value: f64) -> Option<f64> {
        self.percentages
            .iter()
            .find(|written| same_number(**written, value))
            .map(|written| percentage_value(*written))
    }

    /// The points of the percentage whose value is `value` ("5%" when `value` is 0.05: 5),
    /// written as a percentage alone or plainly too. `None` where the text has no such
    /// percentage.
    pub fn as_percentage_points(&self, value: f64) -> Option<f64> {
        self.percentages
            .iter()
            .chain(
                self.percentages_beside_plain
                    .iter()
                    .map(|(written, _)| written),
            )
            .find(|written| same_number(percentage_value(**written), value))
            .copied()
    }

    /// The value of the percentage the text writes as `value` ("7%" when `value` is 7: 0.07)
    /// where the text writes that number plainly too ("7 years"), with how many times it
    /// does: a call's 7 may be either. `None` where the text has no such percentage.
    pub fn as_percentage_beside_plain(&self, value: f64) -> Option<(f64, usize)> {
        self.percentages_beside_plain
            .iter()
            .find(|(written, _)| same_number(*written, value))
            .map(|(written, plain)| (percentage_value(*written), *plain))
    }

    /// Whether `value` (of a property with schema `schema`, if known) is in the text; `None`
    /// when that cannot be told (a choice, or a translation).
    pub fn value(&self, value: &Value, schema: Option<&Value>) -> Option<bool> {
        if schema.is_some_and(|s| s.get("enum").is_some() || s.get("const").is_some()) {
            return None;
        }
        match value {
            Value::Null | Value::Bool(_) => None,
            Value::Number(number) => number.as_f64().map(|n| self.number(n)),
            Value::String(text)
                if !self.descriptions_are_values
                    && schema.is_some_and(|s| copies_description(text, s)) =>
            {
                Some(false)
            }
            Value::String(text) => self.string(text),
            Value::Array(items) => {
                let items_schema = schema.and_then(|s| s.get("items"));
                any_found(items.iter().map(|item| self.value(item, items_schema)))
            }
            Value::Object(fields) => any_found(
                fields
                    .iter()
                    .map(|(name, field)| self.value(field, schema.and_then(|s| property(s, name)))),
            ),
        }
    }

    /// The values of `arguments` the text holds as written, as comparable keys (numbers by
    /// value, strings lowercased): what a call was asked with. Stricter than grounding: a
    /// string counts only when the text holds all of it ("Maroon 5", not "Marble Sculpture"
    /// for "a sculpture made of marble"), and a Latin-script one never against Chinese text.
    pub fn found_values(&self, arguments: &Value) -> Vec<String> {
        let mut found = Vec::new();
        self.collect_found(arguments, &mut found);
        found
    }

    /// The free strings (no enum) that `arguments` of a tool with parameter schema `schema`
    /// give to more of their arguments than the text writes them: a small model fills an
    /// argument it has no value for by copying another one (`start_location` and
    /// `end_location` both "Los Angeles", four preferences all "talkative"). A value the text
    /// writes as often as it is carried ("sequence AGCTTA against reference AGCTTA") is the
    /// user's, and a Latin-script one cannot be told against text in another script.
    pub fn copied_values(&self, arguments: &Value, schema: &Value) -> Vec<CopiedValue> {
        let Some(arguments) = arguments.as_object() else {
            return Vec::new();
        };
        let required = required_names(schema);
        let mut carried: Vec<CopiedValue> = Vec::new();
        for (name, value) in arguments {
            let Some(text) = value.as_str() else {
                continue;
            };
            if property(schema, name).is_some_and(|p| p.get("enum").is_some()) {
                continue;
            }
            let key = text.split_whitespace().collect::<Vec<_>>().join(" ");
            if key.is_empty() {
                continue;
            }
            let seen = carried
                .iter()
                .position(|copy| copy.value.to_lowercase() == key.to_lowercase());
            let at = seen.unwrap_or_else(|| {
                carried.push(CopiedValue {
                    value: key,
                    required: Vec::new(),
                    optional: Vec::new(),
                    written: 0,
                });
                carried.len() - 1
            });
            carried[at].carried_by(name, &required);
        }
        carried
            .into_iter()
            .filter(|copy| copy.carriers() >= 2)
            .filter(|copy| !self.non_latin || copy.value.chars().any(non_latin_letter))
            .map(|copy| CopiedValue {
                written: count_words(
                    &self.spaced,
                    &copy.value.to_lowercase().chars().collect::<Vec<_>>(),
                ),
                ..copy
            })
            .filter(|copy| copy.written < copy.carriers())
            .collect()
    }

    /// The numbers that `arguments` of a tool with parameter schema `schema` give to more of
    /// their arguments than the text writes them, where the text writes them at all: a small
    /// model fills a number it has no value for with one beside it (`velocity: 1000,
    /// distance: 1000` for "400 m/s … a distance of 1000 m", `cards_drawn: 13` beside
    /// `desired_cards: 13`). A number nobody wrote is another check's matter (grounding), and
    /// one written as often as it is carried ("a 4 ft x 4 ft statue") is the user's.
    pub fn copied_numbers(&self, arguments: &Value, schema: &Value) -> Vec<CopiedValue> {
        let Some(arguments) = arguments.as_object() else {
            return Vec::new();
        };
        let required = required_names(schema);
        let mut carried: Vec<(f64, CopiedValue)> = Vec::new();
        for (name, value) in arguments {
            let Some(number) = value.as_f64() else {
                continue;
            };
            let at = match carried
                .iter()
                .position(|(seen, _)| same_number(*seen, number))
            {
                Some(at) => at,
                None => {
                    let written = self
                        .numbers
                        .iter()
                        .filter(|n| same_number(**n, number))
                        .count();
                    carried.push((
                        number,
                        CopiedValue {
                            value: value.to_string(),
                            required: Vec::new(),
                            optional: Vec::new(),
                            written,
                        },
                    ));
                    carried.len() - 1
                }
            };
            carried[at].1.carried_by(name, &required);
        }
        carried
            .into_iter()
            .map(|(_, copy)| copy)
            .filter(|copy| copy.written >= 1 && copy.written < copy.carriers())
            .collect()
    }

    /// Whether the text writes `phrase` as whole words (any case).
    pub(super) fn writes_words(&self, phrase: &str) -> bool {
        let phrase: Vec<char> = phrase
            .to_lowercase()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .collect();
        find_words(&self.spaced, &phrase).is_some()
    }

    /// The text, lowercased.
    pub(super) fn lower_text(&self) -> &str {
        &self.lower
    }

    /// The words of a function's name (`kinematics.distance_traveled`, `getWeather`) that
    /// none of `earlier` names holds and the text does: what makes a call of another function
    /// with the same values a different request ("the velocity, and the distance"). Words
    /// under four letters tell nothing ("get", "by"), unless the text writes them as an
    /// acronym and acronyms count ("the GDP in these years": `us_history.gdp`).
    pub fn found_name_words(&self, name: &str, earlier: &[&str]) -> Vec<String> {
        let earlier: Vec<String> = earlier.iter().flat_map(|n| name_words(n)).collect();
        name_words(name)
            .into_iter()
            .filter(|word| !earlier.contains(word))
            .filter(|word| {
                if word.chars().count() >= 4 {
                    self.lower.contains(word.as_str())
                } else {
                    self.acronyms_name_functions && self.acronyms.contains(word)
                }
            })
            .collect()
    }

    fn collect_found(&self, value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Number(number) => {
                if let Some(written) = number.as_f64().and_then(|n| self.written_number(n)) {
                    found.push(format!("{written}"));
                }
            }
            Value::String(text) if self.stands_for_a_value(text) => {}
            Value::String(text) => {
                let written = text
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_lowercase();
                let needle: Vec<char> = written.chars().collect();
                if !written.is_empty() && find_words(&self.spaced, &needle).is_some() {
                    found.push(written);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| self.collect_found(v, found)),
            Value::Object(fields) => fields.values().for_each(|v| self.collect_found(v, found)),
            _ => {}
        }
    }

    /// Whether the text wrote in digits a number that none of `used` (keys of
    /// [`Self::found_values`]) carries, at its scale or as its percentage, nor as digits of
    /// a string ("May 3, 2022" in `"2022-05-03"`): a value of the request no call has used.
    pub fn unused_written_number(&self, used: &HashSet<String>) -> bool {
        !self.unused_numbers(used).is_empty()
    }

    /// The numbers the text writes that no call of `used` carries (see
    /// [`Self::unused_written_number`]) and that can stand where a call has `like`: written
    /// the same way (with a percent sign or without, at the same scale word) and in the form
    /// `like` takes of its own writing (`0.02` for "2%" makes "1.5%" `0.015`), of a size
    /// within ten times `like`'s, and, where `like` is written with a unit, with the same
    /// one ("75 kilograms" is no "24 inches", "2 adults" no "May 5"; see `unit_of`); in the
    /// text's order, each once. "$15000 short-term and
    /// $25000 long-term in California, $20000 and $50000 in Florida": 20000 and 50000 for
    /// the call's `15000`, nothing for its `25000`'s neighbour "2%" nor for "10 years".
    pub fn unused_numbers_like(&self, used: &HashSet<String>, like: f64) -> Vec<f64> {
        let chars: Vec<char> = self.lower.chars().collect();
        // A date's day is no count, amount or size: neither the value `like` is written as
        // ("1" of a child beside "May 1") nor one to stand for it.
        let values = value_numbers(&chars)
            .into_iter()
            .filter(|number| !number.day);
        let Some((percent, form, unit)) = values.into_iter().find_map(|number| {
            let percent = number.scales.contains(&PERCENT);
            if same_number(like, number.value) {
                return Some((percent, None, number.unit));
            }
            number
                .scales
                .iter()
                .copied()
                .find(|scale| same_number(like, number.scaled(*scale)))
                .map(|scale| (percent, Some(scale), number.unit.clone()))
        }) else {
            return Vec::new();
        };
        let mut alike: Vec<f64> = Vec::new();
        for number in self.unused_numbers(used).into_iter().filter(|n| !n.day) {
            // Where `like` is written with a unit, only a number with that unit stands for
            // it: "2 adults" is no "May 5" nor "June 10".
            let other_unit = unit.is_some() && number.unit != unit;
            if number.scales.contains(&PERCENT) != percent || other_unit {
                continue;
            }
            let value = match form {
                None => number.value,
                Some(scale) if number.scales.contains(&scale) => number.scaled(scale),
                Some(_) => continue,
            };
            let ratio = (value / like).abs();
            let near = like != 0.0 && value != 0.0 && (0.1..=10.0).contains(&ratio);
            if near && !alike.iter().any(|seen| same_number(*seen, value)) {
                alike.push(value);
            }
        }
        alike
    }

    /// The numbers of [`value_numbers`] that no call of `used` carries.
    fn unused_numbers(&self, used: &HashSet<String>) -> Vec<ValueNumber> {
        let mut carried: Vec<f64> = Vec::new();
        for key in used {
            match key.parse::<f64>() {
                Ok(number) => carried.push(number),
                Err(_) => carried.extend(
                    key.split(|c: char| !c.is_ascii_digit())
                        .filter_map(|digits| digits.parse::<f64>().ok()),
                ),
            }
        }
        let chars: Vec<char> = self.lower.chars().collect();
        value_numbers(&chars)
            .into_iter()
            .filter(|number| {
                let forms: Vec<f64> = std::iter::once(number.value)
                    .chain(number.scales.iter().map(|scale| number.scaled(*scale)))
                    .chain(std::iter::once(percentage_value(number.value)))
                    .collect();
                // A call's `-4` carries the 4 of "5x^2 - 4x" (see `written_number`).
                !carried
                    .iter()
                    .any(|c| forms.iter().any(|form| same_number(c.abs(), form.abs())))
            })
            .collect()
    }

    /// The largest size of a number the text writes, if it writes any: at the scale of a
    /// word ("8.5 million" is 8,500,000), not of a letter that may be a unit's ("5 m/s").
    pub fn largest_number(&self) -> Option<f64> {
        let chars: Vec<char> = self.lower.chars().collect();
        written_numbers(&chars)
            .into_iter()
            .flat_map(|written| {
                let worded = scales_after(&chars, written.end)
                    .filter(|(suffix, _)| {
                        !(suffix.len() == 1 && suffix.chars().all(|c| c.is_ascii_alphabetic()))
                    })
                    .map(move |(_, scale)| written.value * scale);
                std::iter::once(written.value).chain(worded)
            })
            .chain(spelled_numbers(&self.lower))
            .map(f64::abs)
            .reduce(f64::max)
    }

    fn number(&self, value: f64) -> bool {
        self.written_number(value).is_some()
    }

    /// The number the text writes that `value` is (or, failing that, its negative is), as
    /// written: a call's `10.00000001` is the user's `10`, and its `-3` for "2x² - 3x" is
    /// the `3` written, so that neither is a value new beside the other.
    fn written_number(&self, value: f64) -> Option<f64> {
        let find = |value: f64| {
            self.numbers
                .iter()
                .copied()
                .find(|n| same_number(*n, value))
        };
        find(value).or_else(|| find(-value))
    }

    fn string(&self, text: &str) -> Option<bool> {
        if self.stands_for_a_value(text) {
            return Some(false);
        }
        let lower = text.to_lowercase();
        let foreign: Vec<char> = lower.chars().filter(|c| non_latin_letter(*c)).collect();
        if !foreign.is_empty() {
            // Written in the text's own script (Chinese has no spaces: compare character pairs).
            if foreign.len() == 1 {
                return Some(self.lower.contains(foreign[0]));
            }
            return Some(
                foreign
                    .windows(2)
                    .any(|pair| self.lower.contains(&pair.iter().collect::<String>())),
            );
        }
        let latin = lower.chars().any(|c| c.is_alphabetic());
        if self.non_latin && latin {
            return None;
        }
        let words: Vec<&str> = lower
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.chars().count() >= 2)
            .collect();
        if words.is_empty() {
            // A letter or a sign ("m", "x", "%"): as a whole word, not inside one ("m" is not
            // in "from").
            let needle: Vec<char> = lower.trim().chars().collect();
            return (!needle.is_empty()).then(|| find_words(&self.spaced, &needle).is_some());
        }
        Some(words.iter().any(|word| self.lower.contains(word)))
    }
}

/// Whether `text` is one of [`PRONOUNS`], alone or with a verb run into it ("I'm", "I'd",
/// "you've", "we'll").
fn is_pronoun(text: &str) -> bool {
    let lower = text.trim().to_lowercase().replace('\u{2019}', "'");
    let pronoun = match lower.split_once('\'') {
        Some((pronoun, verb)) if CONTRACTED_VERBS.contains(&verb) => pronoun,
        Some(_) => return false,
        None => lower.as_str(),
    };
    PRONOUNS.contains(&pronoun)
}

/// What English runs into a pronoun after an apostrophe: "I'm", "I'd", "you've", "we'll".
const CONTRACTED_VERBS: [&str; 5] = ["m", "d", "ve", "ll", "re"];

/// The pronouns of the person speaking and the one spoken to, which a small model copies from
/// the message into an argument it has no value for (`"location": "I"`, `"company_name":
/// "I'm"`, `"team_name": "I'd"`): the user is no city, company or date. Third persons are
/// left out ("Her" is a film), as are "us" and "it" ("US" and "IT" are values).
const PRONOUNS: [&str; 15] = [
    "i", "me", "my", "mine", "myself", "you", "your", "yours", "yourself", "we", "our", "ours",
    "我", "我们", "你",
];

/// A letter or digit of a script written with spaces between words.
pub(super) fn latin_word_char(c: char) -> bool {
    c.is_alphanumeric() && !non_latin_letter(c)
}

/// Whether `needle` stands in `haystack` at `at` as whole words, ignoring case: no letter or
/// digit joined to it on either side ("cm" is not in "6cm"; Chinese, written without spaces,
/// is matched anywhere).
pub(super) fn words_at(haystack: &[char], at: usize, needle: &[char]) -> bool {
    let end = at + needle.len();
    let Some(found) = haystack.get(at..end) else {
        return false;
    };
    let same = found
        .iter()
        .zip(needle)
        .all(|(a, b)| a.to_lowercase().eq(b.to_lowercase()));
    let joined_before = needle.first().is_some_and(|c| latin_word_char(*c))
        && at > 0
        && latin_word_char(haystack[at - 1]);
    let joined_after = needle.last().is_some_and(|c| latin_word_char(*c))
        && haystack.get(end).is_some_and(|c| latin_word_char(*c));
    same && !joined_before && !joined_after
}

/// Where `needle` first stands in `haystack` as whole words (see [`words_at`]).
pub(super) fn find_words(haystack: &[char], needle: &[char]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    (0..haystack.len()).find(|&at| words_at(haystack, at, needle))
}

/// How many times `needle` stands in `haystack` as whole words (see [`words_at`]).
fn count_words(haystack: &[char], needle: &[char]) -> usize {
    if needle.is_empty() {
        return 0;
    }
    (0..haystack.len())
        .filter(|&at| words_at(haystack, at, needle))
        .count()
}

/// A function name's words, lowercased: split at `_`, `.`, `-` and lower-to-upper case steps.
pub(super) fn name_words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        let boundary = !c.is_alphanumeric() || (c.is_uppercase() && previous_lower);
        if boundary && !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
        }
        previous_lower = c.is_lowercase();
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

pub(super) fn non_latin_letter(c: char) -> bool {
    c.is_alphabetic() && !c.is_ascii() && !matches!(c, 'À'..='ɏ')
}

/// The Latin-script words of lowercased `text`.
/// The words of two or three capital letters `text` writes ("GDP", "BMI"), lowercased.
fn acronyms(text: &str) -> Vec<String> {
    text.split(|c: char| !latin_word_char(c))
        .filter(|word| (2..=3).contains(&word.chars().count()))
        .filter(|word| word.chars().all(|c| c.is_ascii_uppercase()))
        .map(str::to_lowercase)
        .collect()
}

pub(super) fn latin_words(text: &str) -> Vec<String> {
    text.split(|c: char| !latin_word_char(c))
        .filter(|w| w.chars().count() >= 2)
        .map(str::to_string)
        .collect()
}

/// Whether `value` is the number 0.
fn is_zero(value: &Value) -> bool {
    value.as_f64() == Some(0.0)
}

/// Whether two lowercased words are the same, share their first five letters (a word and
/// its inflections: `detail`, `detailed`; `record`, `records`; `exhibitions`, `exhibition`),
/// or are a short word and its plural (`toll`, `tolls`; `goal`, `goals`; `box`, `boxes`).
pub(super) fn same_word_stem(a: &str, b: &str) -> bool {
    const STEM: usize = 5;
    if a == b {
        return true;
    }
    if plural_of(a, b) || plural_of(b, a) {
        return true;
    }
    let stem = |w: &str| w.chars().take(STEM).collect::<String>();
    a.chars().count() >= STEM && b.chars().count() >= STEM && stem(a) == stem(b)
}

/// Whether `plural` is `word` with an English plural ending (`tolls`, `boxes`).
pub(super) fn plural_of(plural: &str, word: &str) -> bool {
    plural
        .strip_prefix(word)
        .is_some_and(|ending| ending == "s" || ending == "es")
}

/// The fewest values an enum has for a list holding all of them to be read as copied from
/// the schema: of two, both may well be meant.
const WHOLE_ENUM_MIN_CHOICES: usize = 3;

/// The words `choice` can be named by: split as names are, two letters or more ("A" and
/// "G" have none).
fn choice_words(choice: &str) -> Vec<String> {
    latin_words(&name_words(choice).join(" "))
}

/// Whether `value` is `written` times a power of ten other than one (up to 10^6 either way).
fn off_by_power_of_ten(value: f64, written: f64) -> bool {
    if written == 0.0 || same_number(value, written) {
        return false;
    }
    let exponent = (value / written).log10().round();
    exponent != 0.0
        && exponent.abs() <= 6.0
        && same_number(value, written * 10f64.powi(exponent as i32))
}

/// The fewest letters a word of a list item needs for the item to be told missing from the
/// text: shorter ones are often abbreviations ("ssn" for "social security number").
const TELLING_ITEM_WORD: usize = 4;

/// Whether `text` holds a word of Latin letters alone, [`TELLING_ITEM_WORD`] long or more.
fn has_telling_word(text: &str) -> bool {
    text.split(|c: char| !c.is_alphanumeric()).any(|word| {
        word.chars().count() >= TELLING_ITEM_WORD
            && word
                .chars()
                .all(|c| c.is_alphabetic() && latin_word_char(c))
    })
}

/// Whether the digits from `start` to `end` are a part of a number in scientific notation
/// ("1e-9": 1 and 9 are not numbers of their own).
fn in_scientific_notation(chars: &[char], start: usize, end: usize) -> bool {
    let exponent_after = chars.get(end) == Some(&'e')
        && chars
            .get(end + 1)
            .is_some_and(|c| c.is_ascii_digit() || *c == '-' || *c == '+');
    let mut before = start;
    if before > 0 && matches!(chars[before - 1], '-' | '+') {
        before -= 1;
    }
    let exponent_before =
        before >= 2 && chars[before - 1] == 'e' && chars[before - 2].is_ascii_digit();
    exponent_after || exponent_before
}

/// Whether `written` numbers a line of an enumeration ("1. What is …", "2) Then …"): first
/// on its line, a full stop or parenthesis and a space after it.
fn numbers_a_line(chars: &[char], written: &WrittenNumber) -> bool {
    let first_on_line = chars[..written.start]
        .iter()
        .rev()
        .take_while(|c| **c != '\n')
        .all(|c| c.is_whitespace());
    let marked = matches!(chars.get(written.end), Some('.' | ')'))
        && chars.get(written.end + 1).is_none_or(|c| c.is_whitespace());
    first_on_line && marked
}

/// The numbers of an argument's value that is a number or a list of numbers; none for any
/// other value.
fn numbers_of(value: &Value) -> Vec<f64> {
    match value {
        Value::Number(number) => number.as_f64().into_iter().collect(),
        Value::Array(items) if items.iter().all(Value::is_number) => {
            items.iter().filter_map(Value::as_f64).collect()
        }
        _ => Vec::new(),
    }
}

/// The numbers a string writes in digits, without their signs ("2020-2021" is 2020 and 2021).
fn numbers_in(text: &str) -> Vec<f64> {
    let chars: Vec<char> = text.chars().collect();
    written_numbers(&chars)
        .into_iter()
        .map(|number| number.value.abs())
        .collect()
}

/// The numbers a property's schema gives: its default and those its description writes,
/// but for its examples ("e.g. 2020-2021 NBA season"), which show a value's form: a call
/// that copies one has made its value up.
fn documented_numbers(property: &Value) -> Vec<f64> {
    let mut numbers = read_numbers(&without_examples(property_description(property)));
    numbers.extend(property.get("default").and_then(Value::as_f64));
    numbers
}

/// Words that open an example in a description.
const EXAMPLE_MARKERS: &[&str] = &[
    "e.g.",
    "eg.",
    "eg ",
    "for example",
    "for instance",
    "such as",
];

/// `description` with each example left out: from a marker to the end of its sentence or
/// bracket.
fn without_examples(description: &str) -> String {
    let mut rest = description.to_lowercase();
    let mut kept = String::new();
    while let Some((at, marker)) = EXAMPLE_MARKERS
        .iter()
        .filter_map(|marker| {
            rest.match_indices(marker)
                .map(|(at, _)| at)
                .find(|at| !rest[..*at].ends_with(|c: char| c.is_alphanumeric()))
                .map(|at| (at, marker))
        })
        .min_by_key(|(at, _)| *at)
    {
        kept.push_str(&rest[..at]);
        let after = &rest[at + marker.len()..];
        let end = after
            .find([')', ';'])
            .into_iter()
            .chain(after.find(". "))
            .min()
            .unwrap_or(after.len());
        rest = after[end..].to_string();
    }
    kept.push_str(&rest);
    kept
}

/// Found if any part is found, not found if some part can be told and none is found.
fn any_found(parts: impl Iterator<Item = Option<bool>>) -> Option<bool> {
    let told: Vec<bool> = parts.flatten().collect();
    (!told.is_empty()).then(|| told.contains(&true))
}

/// A JSON object's members by name.
type Object = Map<String, Value>;

/// A call's arguments and its tool's parameter properties, where both are objects.
pub(super) fn arguments_and_properties<'a>(
    arguments: &'a Value,
    schema: &'a Value,
) -> Option<(&'a Object, &'a Object)> {
    Some((
        arguments.as_object()?,
        schema.get("properties").and_then(Value::as_object)?,
    ))
}

/// The names a parameter schema lists as `required`.
pub(super) fn required_names(schema: &Value) -> Vec<&str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

pub(super) fn property<'a>(schema: &'a Value, name: &str) -> Option<&'a Value> {
    schema.get("properties").and_then(|p| p.get(name))
}

/// Whether the string value `text` is the description of its property `schema`, or the
/// description's first words (three at least), by its letters, digits and spaces: a small
/// model with no value for a parameter copies the schema's words into it.
fn copies_description(text: &str, schema: &Value) -> bool {
    let plain = |text: &str| -> String {
        let kept: String = text
            .to_lowercase()
            .chars()
            .map(|c| if c.is_alphanumeric() { c } else { ' ' })
            .collect();
        kept.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    let (value, description) = (plain(text), plain(property_description(schema)));
    value.split(' ').count() >= 3
        && (description == value || description.starts_with(&format!("{value} ")))
}

/// A property's description, empty where it has none.
pub(super) fn property_description(property: &Value) -> &str {
    property
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The default of an argument, by its `default` or by its description ("default is 'cm'",
/// "Defaults to cm.", "default is m/s").
pub(super) fn documented_default(property: &Value) -> Option<String> {
    if let Some(default) = property.get("default").and_then(Value::as_str) {
        return Some(default.to_string());
    }
    let description = property_description(property).to_lowercase();
    let after = &description[description.find("default")? + "default".len()..];
    let mut words = after
        .split(|c: char| c.is_whitespace() || matches!(c, '\'' | '"' | ':' | '=' | '(' | ')' | ','))
        .filter(|word| !word.is_empty())
        .skip_while(|word| matches!(*word, "s" | "value" | "is" | "to" | "set" | "unit"));
    let word = words.next()?.trim_end_matches(['.', ';']);
    Some(word.to_string())
}

pub(super) fn same_number(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// English number words and Chinese numerals, with their values.
const NUMBER_WORDS: &[(&str, f64)] = &[
    ("zero", 0.0),
    ("one", 1.0),
    ("once", 1.0),
    ("two", 2.0),
    ("twice", 2.0),
    ("pair", 2.0),
    ("three", 3.0),
    ("four", 4.0),
    ("five", 5.0),
    ("six", 6.0),
    ("seven", 7.0),
    ("eight", 8.0),
    ("nine", 9.0),
    ("ten", 10.0),
    ("eleven", 11.0),
    ("twelve", 12.0),
    ("dozen", 12.0),
    ("fifteen", 15.0),
    ("twenty", 20.0),
    ("thirty", 30.0),
    ("fifty", 50.0),
    ("hundred", 100.0),
    ("thousand", 1000.0),
    ("half", 0.5),
    ("quarter", 0.25),
];

const CHINESE_DIGITS: &[(char, f64)] = &[
    ('零', 0.0),
    ('一', 1.0),
    ('二', 2.0),
    ('两', 2.0),
    ('三', 3.0),
    ('四', 4.0),
    ('五', 5.0),
    ('六', 6.0),
    ('七', 7.0),
    ('八', 8.0),
    ('九', 9.0),
    ('十', 10.0),
    ('百', 100.0),
    ('千', 1000.0),
];

/// The multiplier of a percent sign.
const PERCENT: f64 = 0.01;

/// Multipliers written after a number.
pub(super) const SCALES: &[(&str, f64)] = &[
    ("%", PERCENT),
    ("％", PERCENT),
    ("percent", PERCENT),
    ("k", 1e3),
    ("thousand", 1e3),
    ("m", 1e6),
    ("million", 1e6),
    ("mn", 1e6),
    ("b", 1e9),
    ("bn", 1e9),
    ("billion", 1e9),
    ("万", 1e4),
    ("亿", 1e8),
];

/// The items of each run of digits joined by commas without spaces ("[200,300,400]"), which
/// [`written_numbers`] reads as one number written with thousands separators.
fn comma_run_items(text: &str) -> Vec<f64> {
    text.split(|c: char| !(c.is_ascii_digit() || c == ','))
        .filter(|run| run.contains(','))
        .flat_map(|run| run.split(','))
        .filter_map(|item| item.parse::<f64>().ok())
        .collect()
}

/// The numbers `text` writes in scientific notation ("1e-9", "6.02E23"), which
/// [`written_numbers`] reads as a mantissa and an exponent.
fn scientific_numbers(text: &str) -> Vec<f64> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+')))
        .filter(|word| word.contains(['e', 'E']))
        .filter_map(|word| word.trim_end_matches('.').parse::<f64>().ok())
        .filter(|number| number.is_finite())
        .collect()
}

/// A number written in digits: where it stands in the text (char positions) and its value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct WrittenNumber {
    pub start: usize,
    pub end: usize,
    pub value: f64,
}

/// The numbers `text` writes in digits, in order (a leading `-` is part of the number).
pub(super) fn written_numbers(chars: &[char]) -> Vec<WrittenNumber> {
    let mut numbers = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let mut start = i;
        let mut digits = String::new();
        while i < chars.len() {
            let c = chars[i];
            let next_is_digit = chars.get(i + 1).is_some_and(char::is_ascii_digit);
            // `10,000` is one number; `1,5 and 10` is a list.
            let thousands = (1..=3).all(|k| chars.get(i + k).is_some_and(char::is_ascii_digit))
                && !chars.get(i + 4).is_some_and(char::is_ascii_digit);
            let decimal_point = c == '.' && next_is_digit && !digits.contains('.');
            let separator = c == ',' && thousands && !digits.contains('.');
            if c.is_ascii_digit() || decimal_point {
                digits.push(c);
            } else if !separator {
                break;
            }
            i += 1;
        }
        let Ok(mut value) = digits.parse::<f64>() else {
            continue;
        };
        if start > 0 && chars[start - 1] == '-' {
            value = -value;
            start -= 1;
        }
        numbers.push(WrittenNumber {
            start,
            end: i,
            value,
        });
    }
    numbers
}

/// A number the text writes in digits as a value: with the scales written after it and
/// the unit it is written with.
struct ValueNumber {
    value: f64,
    scales: Vec<f64>,
    unit: Option<String>,
    /// The day of a date ("May 5", "June 10, 2022").
    day: bool,
}

impl ValueNumber {
    fn scaled(&self, scale: f64) -> f64 {
        if scale == PERCENT {
            percentage_value(self.value)
        } else {
            self.value * scale
        }
    }
}

/// The numbers `chars` writes in digits that may be values of a request, in order: not
/// those of a number in scientific notation, a power ("m/s^2", "x^2") or a line's number.
fn value_numbers(chars: &[char]) -> Vec<ValueNumber> {
    written_numbers(chars)
        .into_iter()
        .filter(|written| !in_scientific_notation(chars, written.start, written.end))
        .filter(|written| written.start == 0 || chars[written.start - 1] != '^')
        .filter(|written| !numbers_a_line(chars, written))
        .map(|written| ValueNumber {
            value: written.value,
            scales: scales_after(chars, written.end)
                .map(|(_, scale)| *scale)
                .collect(),
            unit: unit_of(chars, &written),
            day: after_a_month(chars, written.start),
        })
        .collect()
}

/// Whether the word before char `start` (lowercased text) is a month's name.
fn after_a_month(chars: &[char], start: usize) -> bool {
    let before: String = chars[..start]
        .iter()
        .rev()
        .skip_while(|c| **c == ' ')
        .take_while(|c| c.is_ascii_alphabetic() || **c == '.')
        .collect::<String>()
        .chars()
        .rev()
        .collect();
    month_named(&before).is_some()
}

/// Words after a number that join it to the next or place it rather than name its unit.
const NOT_UNITS: &[&str] = &[
    "a", "an", "and", "as", "at", "by", "for", "from", "in", "into", "of", "on", "or", "per",
    "than", "the", "then", "to", "with",
];

/// The unit `written` is written with: a currency sign before it ("$15000"), else the word
/// after it, singular ("12 months", "8 month"; "5 个" by its first character), unless that
/// word joins or places it ("5 and", "10 in"); `None` for neither.
fn unit_of(chars: &[char], written: &WrittenNumber) -> Option<String> {
    let before = written.start.checked_sub(1).map(|at| chars[at]);
    if let Some(sign) = before.filter(|c| matches!(c, '$' | '€' | '£' | '¥' | '₹')) {
        return Some(sign.to_string());
    }
    let rest = chars[written.end..]
        .iter()
        .skip_while(|c| **c == ' ')
        .copied();
    let first = rest.clone().next()?;
    if !first.is_ascii_alphabetic() {
        return first.is_alphabetic().then(|| first.to_string());
    }
    let word: String = rest.take_while(char::is_ascii_alphabetic).collect();
    let singular = word
        .strip_suffix('s')
        .filter(|stem| stem.len() > 1)
        .unwrap_or(&word);
    (!NOT_UNITS.contains(&word.as_str())).then(|| singular.to_string())
}

/// The scale words written right after the number ending at char `end` (`%`, `million`, `万`),
/// with their multipliers.
pub(super) fn scales_after(
    chars: &[char],
    end: usize,
) -> impl Iterator<Item = &'static (&'static str, f64)> {
    let rest: String = chars[end..].iter().take(12).collect();
    let rest = rest.trim_start().to_lowercase();
    SCALES.iter().filter(move |(suffix, _)| {
        rest.strip_prefix(suffix).is_some_and(|after| {
            after
                .chars()
                .next()
                .is_none_or(|c| !c.is_ascii_alphanumeric())
        })
    })
}

/// Every number `text` writes, each also scaled by what follows it (`5%` → 5 and 0.05).
fn read_numbers(text: &str) -> Vec<f64> {
    let chars: Vec<char> = text.chars().collect();
    let mut numbers = Vec::new();
    for number in written_numbers(&chars) {
        numbers.push(number.value);
        numbers.extend(scales_after(&chars, number.end).map(|(_, scale)| number.value * scale));
    }
    numbers.extend(spelled_numbers(text));
    numbers
}

/// The numbers `text` writes with a percent sign after them, as written: those it writes
/// nowhere without one, and those it writes plainly too ("5% over 5 years": the 5 may be the
/// years), each with how many times it writes it plainly (in digits or words).
fn read_percentages(text: &str) -> (Vec<f64>, Vec<(f64, usize)>) {
    let chars: Vec<char> = text.chars().collect();
    let (percentages, written): (Vec<WrittenNumber>, Vec<WrittenNumber>) = written_numbers(&chars)
        .into_iter()
        .partition(|number| scales_after(&chars, number.end).any(|(_, scale)| *scale == PERCENT));
    let mut plain: Vec<f64> = written.into_iter().map(|number| number.value).collect();
    plain.extend(spelled_numbers(text));
    let mut only: Vec<f64> = Vec::new();
    let mut beside: Vec<(f64, usize)> = Vec::new();
    for value in percentages.into_iter().map(|number| number.value) {
        match plain.iter().filter(|p| same_number(**p, value)).count() {
            0 => only.push(value),
            times if !beside.iter().any(|(seen, _)| same_number(*seen, value)) => {
                beside.push((value, times))
            }
            _ => {}
        }
    }
    (only, beside)
}

/// `percentage` percent as a number (5 → 0.05), rounded as its decimal writing would be
/// (7 / 100 in binary is not the closest number to 0.07 for every percentage).
fn percentage_value(percentage: f64) -> f64 {
    format!("{percentage}e-2")
        .parse()
        .unwrap_or(percentage / 100.0)
}

/// The numbers `text` spells in words ("two", "两").
pub(super) fn spelled_numbers(text: &str) -> Vec<f64> {
    let mut numbers = Vec::new();
    let lower = text.to_lowercase();
    for word in lower.split(|c: char| !c.is_ascii_alphanumeric()) {
        if let Some((_, value)) = NUMBER_WORDS.iter().find(|(w, _)| *w == word) {
            numbers.push(*value);
        }
    }
    for c in text.chars() {
        if let Some((_, value)) = CHINESE_DIGITS.iter().find(|(d, _)| *d == c) {
            numbers.push(*value);
        }
    }
    numbers
}

/// Scale words that cannot be read as units ("100 m" is metres, "5k" often a distance).
const UNAMBIGUOUS_SCALES: &[&str] = &["thousand", "million", "mn", "billion", "bn", "万", "亿"];

/// The numbers `text` writes with an unambiguous scale word after them, scaled.
fn read_scaled_numbers(text: &str) -> Vec<f64> {
    let chars: Vec<char> = text.chars().collect();
    written_numbers(&chars)
        .into_iter()
        .flat_map(|number| {
            scales_after(&chars, number.end)
                .filter(|(suffix, _)| UNAMBIGUOUS_SCALES.contains(suffix))
                .map(move |(_, scale)| number.value * scale)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "distance": {"type": "number"},
                "speed": {"type": "number"},
                "unit": {"type": "string", "enum": ["km", "mi"]},
                "city": {"type": "string"}
            },
            "required": ["distance", "speed"]
        })
    }

    #[test]
    fn a_required_value_is_invented_when_the_text_holds_no_word_of_it_nor_its_stem() {
        let schema = json!({
            "type": "object",
            "properties": {
                "company": {"type": "string"},
                "detail_level": {"type": "string"},
                "level": {"type": "string", "enum": ["basic", "full"]},
                "year": {"type": "integer"},
                "market": {"type": "string"}
            },
            "required": ["company", "detail_level", "level", "year"]
        });
        let grounds = Grounds::new("Give me detail information about the stocks of Apple in 2020.");
        let told = json!({"company": "Apple Inc.", "detail_level": "detailed", "level": "full",
            "year": 2020, "market": "NASDAQ"});
        assert!(!grounds.invents_a_required_value(&told, &schema));
        for invented in [
            json!({"company": "Microsoft", "detail_level": "detailed", "year": 2020}),
            json!({"company": "Apple", "detail_level": "summary", "year": 2020}),
            json!({"company": "Apple", "detail_level": "detailed", "year": 2021}),
        ] {
            assert!(
                grounds.invents_a_required_value(&invented, &schema),
                "{invented}"
            );
        }
    }

    #[test]
    fn a_required_number_is_invented_unless_the_text_writes_or_implies_it_or_its_schema_gives_it() {
        let schema = json!({
            "type": "object",
            "properties": {
                "price": {"type": "number"},
                "discount": {"type": "number"},
                "days": {"type": "integer"},
                "skip": {"type": "integer", "description": "Primes to skip. Default is 0."},
                "levels": {"type": "array", "items": {"type": "integer"}},
                "name": {"type": "string"}
            },
            "required": ["price", "discount", "days", "skip", "levels", "name"]
        });
        let grounds = Grounds::new(
            "The final price after a 25% discount over the next week, levels=[10,30], 1e-9",
        );
        let told = json!({"price": 1e-9, "discount": 0.25, "days": 7, "skip": 0, "levels": [10, 30],
            "name": "anything"});
        assert!(!grounds.invents_a_required_number(&told, &schema));
        for invented in [
            json!({"price": 100, "discount": 0.25}),
            json!({"days": 3}),
            json!({"skip": 2}),
            json!({"levels": [40, 50]}),
        ] {
            assert!(
                grounds.invents_a_required_number(&invented, &schema),
                "{invented}"
            );
        }
        // A string is the user's in other words, or made up where it writes numbers nobody
        // did, unless the request is dated relative to now.
        assert!(!grounds.invents_a_required_number(&json!({"name": "Kobe"}), &schema));
        assert!(!grounds.invents_a_required_number(&json!({"name": "levels 10-30"}), &schema));
        let season = json!({"name": "2020-2021 NBA season"});
        let example = json!({"type": "object", "properties": {"name": {"type": "string",
            "description": "The season (leg 3), e.g. 2020-2021 NBA season. Default is 2024."}},
            "required": ["name"]});
        let roster = Grounds::new("The roster of Manchester United");
        assert!(roster.invents_a_required_number(&season, &example));
        assert!(!roster.invents_a_required_number(&json!({"name": "2024"}), &example));
        assert!(!roster.invents_a_required_number(&json!({"name": "leg 3"}), &example));
        assert!(Grounds::new("The roster of Manchester United")
            .invents_a_required_number(&season, &schema));
        assert!(!Grounds::new("The roster of Manchester United this season")
            .invents_a_required_number(&season, &schema));
    }

    #[test]
    fn a_written_number_no_call_carries_is_unused_in_any_of_its_forms() {
        let used = |keys: &[&str]| keys.iter().map(|k| k.to_string()).collect::<HashSet<_>>();
        let grounds =
            Grounds::new("Solar for 12 months and wind for 8 months, at 5% over 1.2 million");
        assert!(grounds.unused_written_number(&used(&["solar", "12", "0.05", "1200000"])));
        assert!(!grounds.unused_written_number(&used(&["12", "8", "5", "1.2"])));
        let tiny = Grounds::new("charges of 1e-9 and 2E-9 at 0.05 m");
        assert!(!tiny.unused_written_number(&used(&["0.000000001", "0.000000002", "0.05"])));
        let dated = Grounds::new("Book a flight on May 3rd 2022 for 2 adults");
        assert!(!dated.unused_written_number(&used(&["2022-05-03", "2"])));
        assert!(dated.unused_written_number(&used(&["2022-05-03"])));
        let powers = Grounds::new("accelerated at 5 m/s^2 over 100 m, then x^3 from 2");
        assert!(
            !powers.unused_written_number(&used(&["5", "100", "2"])),
            "a power is no value"
        );
        let listed = Grounds::new("Cards:\n1. An ace (4 of 52)?\n 2) A heart (13 of 52)?");
        assert!(
            !listed.unused_written_number(&used(&["4", "52", "13"])),
            "a line's number is no value"
        );
        assert!(listed.unused_written_number(&used(&["4", "52"])));
    }

    #[test]
    fn unused_numbers_are_offered_in_the_form_and_size_of_the_value_they_stand_beside() {
        let used = |keys: &[&str]| keys.iter().map(|k| k.to_string()).collect::<HashSet<_>>();
        let gains = Grounds::new(
            "Tax on $15000 short-term and $25000 long-term gains in California, \
             and $20000 short-term, $50000 long-term in Florida, over 2 years",
        );
        let carried = used(&["15000", "25000", "california"]);
        assert_eq!(
            gains.unused_numbers_like(&carried, 15000.0),
            vec![20000.0, 50000.0],
            "the 2 of the years is no gain"
        );
        let growth =
            Grounds::new("500 elephants growing 2% a year for 10 years; then at 1.5% and at 2.5%");
        let carried = used(&["500", "0.02", "10"]);
        assert_eq!(
            growth.unused_numbers_like(&carried, 0.02),
            vec![0.015, 0.025]
        );
        assert_eq!(growth.unused_numbers_like(&carried, 2.0), vec![1.5, 2.5]);
        assert!(growth.unused_numbers_like(&carried, 500.0).is_empty());
        let scaled = Grounds::new("a payout of 5 million on 2 million shares, then 6 million");
        let carried = used(&["5000000", "2000000"]);
        assert_eq!(
            scaled.unused_numbers_like(&carried, 5_000_000.0),
            vec![6_000_000.0]
        );
        assert!(scaled
            .unused_numbers_like(&carried, 2_000_000.0)
            .iter()
            .all(|n| *n == 6_000_000.0));
        assert!(
            gains.unused_numbers_like(&carried, 7.0).is_empty(),
            "a value the text does not write"
        );
        let equation = Grounds::new("3x^2 + 7x + 2 = 0, then 5x^2 - 4x + 1 = 0");
        let carried = used(&["3", "7", "2", "5", "-4", "1", "0"]);
        assert!(
            !equation.unused_written_number(&carried),
            "-4 carries the 4 of - 4x"
        );
        let units = Grounds::new("I weigh 75 kilograms; a vase 24 inches tall, 60 kilograms");
        let carried = used(&["75"]);
        assert_eq!(units.unused_numbers_like(&carried, 75.0), vec![60.0]);
        let months = Grounds::new("solar for 12 months and wind for 8 month, 5 and 9 in all");
        let carried = used(&["12"]);
        assert_eq!(
            months.unused_numbers_like(&carried, 12.0),
            vec![8.0],
            "a plural is its singular; a number without a unit is none for one with"
        );
        let unitless = Grounds::new("the sum of 12 and 8, then of 5 and 90");
        assert_eq!(
            unitless.unused_numbers_like(&used(&["12"]), 12.0),
            vec![8.0, 5.0, 90.0],
            "a joint is no unit"
        );
        let booking = Grounds::new("2 adults from May 1, 2022 to May 5, 2022; 1 adult in June");
        let carried = used(&["2", "1"]);
        assert!(booking.unused_numbers_like(&carried, 2.0).is_empty());
        // A child written as "a child" takes 1 from no date: "May 1" is a day.
        let child = Grounds::new("2 adults and a child on May 1 to Jun. 5, then 3 adults");
        assert!(child
            .unused_numbers_like(&used(&["2", "1"]), 1.0)
            .is_empty());
        assert_eq!(
            child.unused_numbers_like(&used(&["2", "1"]), 2.0),
            vec![3.0]
        );
    }

    #[test]
    fn the_largest_number_is_read_at_its_words_scale_not_a_units_letter() {
        let largest = |text: &str| Grounds::new(text).largest_number();
        assert_eq!(largest("5 m/s^2 over 200 m"), Some(200.0));
        assert_eq!(
            largest("revenue of 8.5 million and 3 stores"),
            Some(8_500_000.0)
        );
        assert_eq!(largest("twelve eggs and 3 apples"), Some(12.0));
        assert_eq!(largest("no numbers here"), None);
    }

    #[test]
    fn a_found_number_is_keyed_as_the_text_writes_it() {
        let grounds = Grounds::new("a charge of 10 C at 0.5 m, then at 2 m, for 2x² - 3x + 1");
        let mut found = grounds.found_values(&json!({"charge": 10.00000000001, "at": [0.5, 2]}));
        found.sort();
        assert_eq!(found, vec!["0.5", "10", "2"]);
        assert_eq!(grounds.found_values(&json!({"b": -3})), vec!["3"]);
        let signed = Grounds::new("from -5 to 5");
        assert_eq!(signed.found_values(&json!([-5, 5])), vec!["-5", "5"]);
    }

    #[test]
    fn numbers_are_read_however_written() {
        let grounds = Grounds::new(
            "Invest $10,000 at 5% for two years; revenue 1.2 million, 3k users, 2708万, 两间",
        );
        for found in [10000.0, 0.05, 5.0, 2.0, 1_200_000.0, 3000.0, 27_080_000.0] {
            assert!(grounds.number(found), "{found} should be found");
        }
        let list = Grounds::new("for 1,5 and 10 years");
        assert!(list.number(1.0) && list.number(5.0) && !list.number(15.0));
        for absent in [100.0, 50.0, 0.5, 7.0] {
            assert!(!grounds.number(absent), "{absent} should not be found");
        }
    }

    #[test]
    fn a_call_made_of_invented_values_fails_and_one_with_the_users_values_passes() {
        let grounds = Grounds::new("What's the time right now?");
        let invented = json!({"distance": 100, "speed": 50});
        assert!(!grounds.call(&invented, &schema(), CallGrounding::Some));
        assert!(grounds.call(&invented, &schema(), CallGrounding::Off));

        let grounds = Grounds::new("How long does 120 km take at 60 km/h?");
        let asked = json!({"distance": 120, "speed": 60, "unit": "km"});
        assert!(grounds.call(&asked, &schema(), CallGrounding::Every));
        let half = json!({"distance": 120, "speed": 55});
        assert!(grounds.call(&half, &schema(), CallGrounding::Some));
        assert!(!grounds.call(&half, &schema(), CallGrounding::Every));
    }

    #[test]
    fn strings_match_by_word_and_are_not_checked_in_chinese() {
        let grounds = Grounds::new("Find vegan restaurants in Los Angeles");
        assert_eq!(grounds.value(&json!("Los Angeles, CA"), None), Some(true));
        assert_eq!(grounds.value(&json!("Chicago"), None), Some(false));
        // Choices cannot be told from the text.
        assert_eq!(
            grounds.value(&json!("mi"), Some(&json!({"enum": ["km", "mi"]}))),
            None
        );
        assert_eq!(grounds.value(&json!(true), None), None);
        // A single letter stands as a word of its own, not inside one.
        assert_eq!(grounds.value(&json!("m"), None), Some(false));
        assert_eq!(
            Grounds::new("fell 100 m in 5 s").value(&json!("m"), None),
            Some(true)
        );
        let chinese = Grounds::new("杭州办公室有哪些带投影仪的会议室？");
        assert_eq!(chinese.value(&json!("Hangzhou"), None), None);
        assert_eq!(chinese.value(&json!("杭州"), None), Some(true));
        assert_eq!(chinese.value(&json!("投影仪"), None), Some(true));
        assert_eq!(chinese.value(&json!("退货政策"), None), Some(false));
        assert_eq!(chinese.value(&json!("2024-05-01"), None), Some(false));
    }

    #[test]
    fn a_booking_made_up_for_a_chinese_question_fails_and_a_call_of_choices_only_passes() {
        let booking = json!({
            "type": "object",
            "properties": {
                "room_id": {"type": "integer"}, "date": {"type": "string"}, "title": {"type": "string"}
            },
            "required": ["room_id", "date", "title"]
        });
        let grounds = Grounds::new("已拆封的商品多少天内可以退？");
        let made_up = json!({"room_id": 3, "date": "2024-05-01", "title": "Return policy"});
        assert!(!grounds.call(&made_up, &booking, CallGrounding::Some));
        let choices = json!({"type": "object", "properties": {"unit": {"enum": ["c", "f"]}}, "required": ["unit"]});
        assert!(grounds.call(&json!({"unit": "c"}), &choices, CallGrounding::Every));
    }

    #[test]
    fn optional_arguments_the_text_does_not_hold_are_invented() {
        let schema = json!({
            "type": "object",
            "properties": {
                "event": {"type": "string"},
                "year": {"type": "integer"},
                "depth": {"type": "string"},
                "detailed": {"type": "boolean"},
                "unit": {"type": "string", "enum": ["km", "miles"]},
                "limit": {"type": "integer"}
            },
            "required": ["event"]
        });
        let grounds = Grounds::new("Tell me about the Magna Carta, the top 5 facts.");
        let arguments = json!({"event": "Treaty of Paris", "year": 1215, "depth": "brief",
                               "detailed": true, "unit": "km", "limit": 5});
        // Required `event` is the grounding rule's business; the choices are kept.
        assert_eq!(
            grounds.invented_optionals(&arguments, &schema),
            vec!["year".to_string(), "depth".to_string()]
        );
        let chinese = Grounds::new("介绍一下大宪章");
        assert!(
            chinese
                .invented_optionals(&json!({"event": "x", "depth": "brief"}), &schema)
                .is_empty(),
            "Latin words against Chinese text cannot be told"
        );
    }

    #[test]
    fn a_zero_is_written_where_the_text_says_there_is_none() {
        let schema = json!({
            "type": "object",
            "properties": {
                "initial_velocity": {"type": "integer"},
                "time": {"type": "integer"},
                "acceleration": {"type": "number"}
            },
            "required": ["initial_velocity", "time"]
        });
        let none = Grounds::new("A car at 25 m/s travels for 8 seconds without any acceleration.");
        let arguments = json!({"initial_velocity": 25, "time": 8, "acceleration": 0});
        assert!(none.invented_optionals(&arguments, &schema).is_empty());
        let no = Grounds::new("A car at 25 m/s for 8 seconds, no acceleration.");
        assert!(no.invented_optionals(&arguments, &schema).is_empty());
        // Said of something else, or a number other than 0: made up.
        let other = Grounds::new("A car at 25 m/s travels for 8 seconds without any friction.");
        assert_eq!(
            other.invented_optionals(&arguments, &schema),
            vec!["acceleration".to_string()]
        );
        let two = json!({"initial_velocity": 25, "time": 8, "acceleration": 2});
        assert_eq!(
            none.invented_optionals(&two, &schema),
            vec!["acceleration".to_string()]
        );
    }

    #[test]
    fn a_call_without_required_arguments_always_passes() {
        let grounds = Grounds::new("hello");
        let schema = json!({"type": "object", "properties": {"x": {"type": "integer"}}});
        assert!(grounds.call(&json!({"x": 42}), &schema, CallGrounding::Every));
    }

    #[test]
    fn another_function_is_new_by_a_word_of_its_name_the_text_holds() {
        let grounds = Grounds::new("Give the final velocity and the distance covered");
        assert_eq!(
            grounds.found_name_words(
                "kinematics.distance_traveled",
                &["kinematics.final_velocity"]
            ),
            vec!["distance".to_string()]
        );
        assert!(grounds
            .found_name_words("rectangleArea", &["kinematics.final_velocity"])
            .is_empty());
    }

    #[test]
    fn a_short_name_word_is_found_where_the_text_writes_it_as_an_acronym() {
        let text = "The life expectancy in 1900, and the GDP in those years; get it by id";
        let earlier = ["us_history.life_expectancy"];
        let grounds = Grounds::new(text).with_acronyms_naming_functions(true);
        assert_eq!(
            grounds.found_name_words("us_history.gdp", &earlier),
            vec!["gdp".to_string()]
        );
        // Not in capitals: a short word tells nothing.
        assert!(grounds.found_name_words("get_by_id", &earlier).is_empty());
        let off = Grounds::new(text);
        assert!(off.found_name_words("us_history.gdp", &earlier).is_empty());
    }

    #[test]
    fn a_number_copied_into_more_arguments_than_the_text_writes_it_is_found() {
        let schema = json!({"type": "object", "required": ["velocity", "distance"], "properties": {
            "velocity": {"type": "number"}, "distance": {"type": "number"},
            "round_to": {"type": "integer"}}});
        let grounds = Grounds::new("A bullet at 400 m/s over a distance of 1000 m.");
        let copied =
            grounds.copied_numbers(&json!({"velocity": 1000, "distance": 1000.0}), &schema);
        assert_eq!(copied.len(), 1);
        assert!(copied[0].in_required_arguments());
        assert!(grounds
            .copied_numbers(&json!({"velocity": 400, "distance": 1000}), &schema)
            .is_empty());
        // An optional copy is left out beside the required one.
        let rounded = grounds.copied_numbers(
            &json!({"velocity": 400, "distance": 1000, "round_to": 400}),
            &schema,
        );
        assert_eq!(rounded[0].optional_copies(), ["round_to".to_string()]);
        // Spelled out counts as written: "a 2 twice" writes 2 twice.
        let dice = Grounds::new("The probability of rolling a 2 twice in a row.");
        assert!(dice
            .copied_numbers(&json!({"velocity": 2, "distance": 2}), &schema)
            .is_empty());
        // A number nobody wrote is no copy of the user's (grounding's matter), nor a flag.
        assert!(grounds
            .copied_numbers(
                &json!({"velocity": 7, "distance": 7, "round_to": 7}),
                &schema
            )
            .is_empty());
        assert!(grounds
            .copied_numbers(&json!({"velocity": true, "distance": true}), &schema)
            .is_empty());
    }

    #[test]
    fn a_value_copied_into_more_arguments_than_the_text_writes_it_is_found() {
        let schema = json!({"type": "object", "required": ["start", "end"], "properties": {
            "start": {"type": "string"}, "end": {"type": "string"},
            "note": {"type": "string"}, "title": {"type": "string"},
            "mode": {"type": "string", "enum": ["walk", "drive"]},
            "fallback": {"type": "string", "enum": ["walk", "drive"]}}});
        let grounds = Grounds::new("The fastest way from Los Angeles to San Diego on foot?");
        let copies = |grounds: &Grounds, arguments: serde_json::Value| {
            grounds.copied_values(&arguments, &schema)
        };
        let copied = copies(
            &grounds,
            json!({"start": "Los Angeles", "end": "los  angeles"}),
        );
        assert_eq!(
            copied,
            vec![CopiedValue {
                value: "Los Angeles".into(),
                required: vec!["start".into(), "end".into()],
                optional: vec![],
                written: 1,
            }]
        );
        assert!(copied[0].in_required_arguments());
        assert!(copies(
            &grounds,
            json!({"start": "Los Angeles", "end": "San Diego"})
        )
        .is_empty());
        // Beside a required argument, an optional copy is left out and the call stands.
        let noted = copies(
            &grounds,
            json!({"start": "Los Angeles", "end": "San Diego", "note": "Los Angeles"}),
        );
        assert!(!noted[0].in_required_arguments());
        assert_eq!(noted[0].optional_copies(), ["note".to_string()]);
        // Optional arguments alone: the first keeps the value.
        let optional = copies(&grounds, json!({"note": "San Diego", "title": "San Diego"}));
        assert_eq!(optional[0].optional_copies(), ["title".to_string()]);
        // Choices may rightly repeat; only free strings are copied.
        assert!(copies(&grounds, json!({"mode": "walk", "fallback": "walk"})).is_empty());
        // Written twice, twice carried: the user's.
        let twice = Grounds::new("Compare sequence AGCT with the reference sequence AGCT.");
        assert!(copies(&twice, json!({"start": "AGCT", "end": "AGCT"})).is_empty());
        // Nowhere written and carried twice: copied.
        let nowhere = copies(
            &twice,
            json!({"start": "America/New_York", "end": "America/New_York"}),
        );
        assert_eq!(nowhere[0].written, 0);
        assert!(nowhere[0].in_required_arguments());
        // Against Chinese text a Latin-script value may be a translation: not told.
        let chinese = Grounds::new("从杭州到杭州东站怎么走？");
        assert!(copies(&chinese, json!({"start": "Hangzhou", "end": "Hangzhou"})).is_empty());
    }

    #[test]
    fn a_value_copying_its_description_is_no_value_unless_counted() {
        let schema = json!({"type": "object", "required": ["book"],
            "properties": {"book": {"type": "string", "description": "The name of the holy book."},
                           "items": {"type": "array", "items": {"type": "string",
                               "description": "An item to search for, e.g. a chapter."}}}});
        let grounds = Grounds::new("What is a holy book? Search the name of the holy book.");
        for copied in [
            "The name of the holy book.",
            "the name of the holy",
            "THE NAME OF THE HOLY BOOK",
        ] {
            let call = json!({"book": copied});
            assert!(
                !grounds.call(&call, &schema, CallGrounding::Some),
                "{copied}"
            );
        }
        assert!(!grounds.call(
            &json!({"book": "Bible", "items": ["An item to search for"]}),
            &json!({"type": "object", "required": ["items"], "properties": schema["properties"]}),
            CallGrounding::Some
        ));
        // Two words, or words of the request that are not the description's start, are the
        // user's.
        assert!(grounds.call(&json!({"book": "holy book"}), &schema, CallGrounding::Some));
        assert!(grounds.call(
            &json!({"book": "the holy book"}),
            &schema,
            CallGrounding::Some
        ));
        let counted = Grounds::new("What is a holy book? Search the name of the holy book.")
            .with_descriptions_as_values(true);
        assert!(counted.call(
            &json!({"book": "The name of the holy book."}),
            &schema,
            CallGrounding::Some
        ));
    }

    #[test]
    fn a_pronoun_is_no_value_of_the_request_unless_counted() {
        let schema = json!({"type": "object", "required": ["location"],
            "properties": {"location": {"type": "string"}, "cuisine": {"type": "string"}}});
        let grounds = Grounds::new("I'm in Boston and I want sushi; can you find me a place?");
        for pronoun in [
            "I",
            "I'm",
            "I\u{2019}m",
            "I'd",
            "you've",
            "We'll",
            "me",
            "You",
        ] {
            let call = json!({"location": pronoun});
            assert!(
                !grounds.call(&call, &schema, CallGrounding::Some),
                "{pronoun}"
            );
            assert!(grounds.found_values(&call).is_empty(), "{pronoun}");
        }
        assert!(grounds.call(&json!({"location": "Boston"}), &schema, CallGrounding::Some));
        // A pronoun with a word run in that is no verb is not one ("I'Anson").
        assert!(is_pronoun("you're") && !is_pronoun("i'anson") && !is_pronoun("ours'"));
        // "US" is a country, not "us".
        let us = Grounds::new("Flights to the US, please");
        assert!(us.call(&json!({"location": "US"}), &schema, CallGrounding::Some));
        let counted = grounds.with_pronouns_as_values(true);
        assert!(counted.call(&json!({"location": "I"}), &schema, CallGrounding::Some));
        assert_eq!(
            counted.found_values(&json!({"location": "I'm"})),
            vec!["i'm".to_string()]
        );
    }

    #[test]
    fn a_string_is_found_as_whole_words_only() {
        assert!(Grounds::new("every year's line")
            .found_values(&json!("y"))
            .is_empty());
        let grounds = Grounds::new("Find the intersection of y=3x+2 and every year's line");
        assert!(grounds.found_values(&json!("ear")).is_empty());
        assert_eq!(grounds.found_values(&json!("y=3x+2")), vec!["y=3x+2"]);
        assert_eq!(
            grounds.found_values(&json!("Every Year")),
            vec!["every year"]
        );
        assert_eq!(
            Grounds::new("查询杭州办公室").found_values(&json!("杭州")),
            vec!["杭州"]
        );
    }

    #[test]
    fn found_values_are_those_the_text_holds() {
        let grounds = Grounds::new("Play Taylor Swift for 20 minutes and Maroon 5 for 15");
        let mut found =
            grounds.found_values(&json!({"artist": "Maroon 5", "duration": 15, "volume": 80}));
        found.sort();
        assert_eq!(found, vec!["15".to_string(), "maroon 5".to_string()]);
    }

    #[test]
    fn a_whole_enum_copied_into_a_list_is_cut_to_the_choices_named() {
        let schema = json!({
            "type": "object",
            "properties": {
                "amenities": {"type": "array", "items": {"type": "string",
                    "enum": ["Patio", "Wi-Fi", "Happy Hour", "Wheelchair Accessible"]}},
                "avoid": {"type": "array", "items": {"enum": ["highways", "tolls", "ferries"]}},
                "bases": {"type": "array", "items": {"enum": ["A", "T", "C", "G"]}},
                "tags": {"type": "array", "items": {"type": "string"}}
            }
        });
        let grounds = Grounds::new(
            "A pub with a patio, avoiding highways and toll roads, more G and C bases, tags x and y",
        );
        let arguments = json!({
            "amenities": ["Patio", "Wi-Fi", "Happy Hour", "Wheelchair Accessible"],
            "avoid": ["highways", "tolls", "ferries"],
            "bases": ["G", "C", "A", "T"],
            "tags": ["x", "y", "z"]
        });
        assert_eq!(
            grounds.unnamed_listed_choices(&arguments, &schema),
            vec![
                (
                    "amenities".to_string(),
                    vec![json!("Wi-Fi"), json!("Happy Hour"), json!("Wheelchair Accessible")]
                ),
                ("avoid".to_string(), vec![json!("ferries")]),
            ],
            "`tolls` is named by its singular; single letters cannot be told; free lists are not choices"
        );
        let every_amenity =
            json!({"amenities": ["Wi-Fi", "Happy Hour", "Patio", "Wheelchair Accessible"]});
        assert!(
            Grounds::new("A pub near the station")
                .unnamed_listed_choices(&every_amenity, &schema)
                .is_empty(),
            "none named: nothing tells which were meant"
        );
        let picked = json!({"amenities": ["Patio", "Wi-Fi"], "avoid": ["highways", "ferries"]});
        assert!(
            grounds.unnamed_listed_choices(&picked, &schema).is_empty(),
            "a list that picks some of the values is the model's choice"
        );
        assert!(Grounds::new("有露台的酒吧")
            .unnamed_listed_choices(&arguments, &schema)
            .is_empty());
    }

    #[test]
    fn a_word_and_its_plural_share_a_stem_as_do_longer_words_by_five_letters() {
        assert!(same_word_stem("toll", "tolls"));
        assert!(same_word_stem("boxes", "box"));
        assert!(same_word_stem("exhibitions", "exhibition"));
        assert!(!same_word_stem("part", "party"));
        assert!(!same_word_stem("car", "cards"));
    }

    #[test]
    fn an_optional_choice_is_named_by_any_of_its_words_or_their_stems() {
        let schema = json!({
            "type": "object",
            "properties": {
                "num1": {"type": "integer"},
                "algorithm": {"type": "string", "enum": ["euclidean", "binary"]},
                "detail_level": {"type": "string", "enum": ["basic", "detailed"]},
                "source": {"type": "string", "enum": ["historical records", "legends"]},
                "unit": {"type": "string"}
            },
            "required": ["num1"]
        });
        let grounds = Grounds::new("The gcd of 128 and 256, in detail, from the historical record");
        let arguments = json!({"num1": 128, "algorithm": "binary", "detail_level": "detailed",
                               "source": "historical records", "unit": "none"});
        assert_eq!(
            grounds.unnamed_optional_choices(&arguments, &schema),
            vec!["algorithm".to_string()],
            "only enum choices are its business, and `detailed`, `historical records` are named"
        );
        let required = json!({"type": "object", "properties": {"algorithm": {"enum": ["binary"]}},
                              "required": ["algorithm"]});
        assert!(grounds
            .unnamed_optional_choices(&json!({"algorithm": "binary"}), &required)
            .is_empty());
        assert!(
            Grounds::new("128和256的最大公约数")
                .unnamed_optional_choices(&arguments, &schema)
                .is_empty(),
            "English choices against Chinese text cannot be told"
        );
    }

    #[test]
    fn a_percentage_is_its_value_only_where_the_number_is_written_only_as_one() {
        let grounds = Grounds::new("Invest at 5% for 5 years, 7.5 percent after, 3％ fees, 12%");
        assert_eq!(
            grounds.as_percentage(5.0),
            None,
            "5 is also a count of years"
        );
        assert_eq!(grounds.as_percentage(7.5), Some(0.075));
        assert_eq!(grounds.as_percentage(3.0), Some(0.03));
        assert_eq!(grounds.as_percentage(12.0), Some(0.12));
        assert_eq!(grounds.as_percentage(0.12), None, "already a fraction");
        assert_eq!(Grounds::new("5% over five years").as_percentage(5.0), None);
    }

    #[test]
    fn a_number_off_by_a_power_of_ten_is_set_back_to_the_one_written_with_a_scale() {
        let grounds =
            Grounds::new("Brazil: population 213 million, land area 8.5 million square km");
        assert_eq!(grounds.as_written_scale(850_000_000.0), Some(8_500_000.0));
        assert_eq!(
            grounds.as_written_scale(2_130_000_000.0),
            Some(213_000_000.0)
        );
        for left in [8_500_000.0, 8.5, 213.0, 42_000.0, 0.0] {
            assert_eq!(grounds.as_written_scale(left), None, "{left}");
        }
        let ambiguous = Grounds::new("5 million here, 50 million there");
        assert_eq!(ambiguous.as_written_scale(500.0), None);
        assert_eq!(
            Grounds::new("a 100 m fall").as_written_scale(1000.0),
            None,
            "`m` may be metres"
        );
        assert_eq!(
            Grounds::new("营收2708万").as_written_scale(2_708_000.0),
            Some(27_080_000.0)
        );
    }
}
