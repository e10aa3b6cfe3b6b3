//! Where the user's message writes a call's values, and what that tells of the call they
//! belong to.
//!
//! Asked for "the scores of the Manchester United soccer team in the English Premier League
//! and of the Los Angeles Lakers basketball team in the NBA", a small model may write
//! `basketball_scores(team="Manchester United", league="English Premier League")` and
//! `soccer_scores(team="Los Angeles Lakers", league="NBA")`: the right functions, the right
//! values, each given to the other. What tells is where the user wrote each value: beside a
//! word of one function's name ("soccer") that the other called functions' names lack. A
//! value is read as belonging to the function whose such word stands nearest to it, a
//! sentence's end counting as far; two calls' values of one argument are swapped only when
//! each is written once and each stands nearest the other call's function.
//!
//! Calls of one function tell apart by sentences instead: asked for "an audio signal of
//! 440 Hz and an amplitude of 0.5. After that, another of 300 Hz, an amplitude of 0.7 and a
//! duration of 5 seconds", the model gives both signals the duration. An optional value
//! written once, in a sentence holding values of one call alone, is left out of the calls
//! whose own values all stand in other sentences.
//!
//! And by parts: asked for "parks in New York that have a Tennis Court and a Picnic Area,
//! then parks in Los Angeles that have a Playground and a Running Track", the model gives
//! each city every amenity. A call's part of the message runs from where it first writes one
//! of the call's own values to where the next call's part begins; where every call's part
//! names some items of a list argument the calls hold, each call holds the items its part
//! names: its own, and those the model gave another call alone.

use std::collections::{BTreeSet, HashSet};

use fulcrum_chat::tools::ParsedCall;
use serde_json::Value;

use super::asked::telling_words;
use super::grounding::{
    latin_word_char, name_words, same_number, same_word_stem, words_at, written_numbers,
    WrittenNumber,
};

/// How far a sentence's end sets a value from a word, counted in words: farther than any
/// two words of one sentence stand.
const SENTENCE_END_WORDS: usize = 100;

/// A stretch of the message, in char positions.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Span {
    start: usize,
    end: usize,
}

/// Whether `c` ends a sentence: `.`, `?`, `!` or `;` (before a space or the end of the text),
/// or their Chinese forms (anywhere: Chinese writes no space after them).
pub(super) fn ends_sentence(c: char) -> bool {
    matches!(c, '.' | '?' | '!' | ';' | '。' | '？' | '！' | '；')
}

/// The user's message, read for where it writes values, functions' name words and the ends
/// of its sentences.
#[derive(Debug, Clone)]
pub struct Placement {
    chars: Vec<char>,
    /// Each word of Latin letters or digits, lowercased, where it stands.
    words: Vec<(String, Span)>,
    /// The char positions of sentence ends: `.`, `?`, `!` or `;` before a space or the end.
    sentence_ends: Vec<usize>,
    /// The numbers the message writes in digits, read once for every value looked up.
    numbers: Vec<WrittenNumber>,
}

/// An optional argument left out of call `call` of the answer: its value is written for
/// another call (see the module's note).
#[derive(Debug, Clone, PartialEq)]
pub struct StrayOptional {
    pub call: usize,
    pub argument: String,
    pub value: Value,
}

/// A list argument of call `call` of the answer held to the items its part of the message
/// names (see the module's note); `written` is the list as the model wrote it.
#[derive(Debug, Clone, PartialEq)]
pub struct ListOfItsPart {
    pub call: usize,
    pub argument: String,
    pub written: Value,
}

/// One argument's values given back: `first` now holds what `second` held and back.
#[derive(Debug, Clone, PartialEq)]
pub struct SwappedValues {
    pub first: usize,
    pub second: usize,
    pub argument: String,
}

impl Placement {
    pub fn new(message: &str) -> Self {
        let chars: Vec<char> = message.chars().collect();
        let mut words = Vec::new();
        let mut start = None;
        for (at, c) in chars.iter().chain(std::iter::once(&' ')).enumerate() {
            match (latin_word_char(*c), start) {
                (true, None) => start = Some(at),
                (false, Some(from)) => {
                    let word: String = chars[from..at].iter().collect();
                    words.push((
                        word.to_lowercase(),
                        Span {
                            start: from,
                            end: at,
                        },
                    ));
                    start = None;
                }
                _ => {}
            }
        }
        let sentence_ends = chars
            .iter()
            .enumerate()
            .filter(|(at, c)| {
                ends_sentence(**c)
                    && (!c.is_ascii() || chars.get(at + 1).is_none_or(|next| next.is_whitespace()))
            })
            .map(|(at, _)| at)
            .collect();
        let numbers = written_numbers(&chars);
        Placement {
            chars,
            words,
            sentence_ends,
            numbers,
        }
    }

    /// Gives back to each call the values the message writes beside its function's name and
    /// the model gave to another call (see the module's note). A swap stands only when
    /// `valid` holds for both calls after it. Returns the swaps made.
    pub fn give_values_back(
        &self,
        calls: &mut [ParsedCall],
        valid: impl Fn(&ParsedCall) -> bool,
    ) -> Vec<SwappedValues> {
        let mut names: Vec<&str> = Vec::new();
        for call in calls.iter() {
            if !names.contains(&call.name.as_str()) {
                names.push(&call.name);
            }
        }
        if names.len() < 2 {
            return Vec::new();
        }
        let mentions: Vec<(String, Vec<Span>)> = names
            .iter()
            .map(|name| (name.to_string(), self.name_mentions(name, &names)))
            .collect();
        let mut swaps = Vec::new();
        for first in 0..calls.len() {
            for second in first + 1..calls.len() {
                if calls[first].name == calls[second].name {
                    continue;
                }
                for argument in shared_arguments(&calls[first], &calls[second]) {
                    let owner = |value: &Value| self.sole_owner(value, &mentions);
                    let first_value = &calls[first].arguments[&argument];
                    let second_value = &calls[second].arguments[&argument];
                    if first_value == second_value
                        || owner(first_value) != Some(calls[second].name.as_str())
                        || owner(second_value) != Some(calls[first].name.as_str())
                    {
                        continue;
                    }
                    swap_argument(calls, first, second, &argument);
                    if valid(&calls[first]) && valid(&calls[second]) {
                        swaps.push(SwappedValues {
                            first,
                            second,
                            argument,
                        });
                    } else {
                        swap_argument(calls, first, second, &argument);
                    }
                }
            }
        }
        swaps
    }

    /// Leaves out of calls of one function an optional value the message writes once, in a
    /// sentence holding values of some of those calls alone, where all of a call's own values
    /// stand in other sentences (see the module's note). `optional` tells whether a
    /// function's argument is optional; a call is changed only when `valid` holds for it
    /// after. Returns what was left out.
    pub fn leave_out_stray_optionals(
        &self,
        calls: &mut [ParsedCall],
        optional: impl Fn(&str, &str) -> bool,
        valid: impl Fn(&ParsedCall) -> bool,
    ) -> Vec<StrayOptional> {
        let mut left_out = Vec::new();
        for group in same_function_groups(calls) {
            let arguments: Vec<String> = group
                .iter()
                .flat_map(|&at| scalar_arguments(&calls[at]))
                .filter(|argument| optional(&calls[group[0]].name, argument))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            for argument in arguments {
                for stray in self.stray_holders(calls, &group, &argument) {
                    let mut without = calls[stray].clone();
                    let Some(value) = without
                        .arguments
                        .as_object_mut()
                        .and_then(|fields| fields.remove(&argument))
                    else {
                        continue;
                    };
                    if valid(&without) {
                        calls[stray] = without;
                        left_out.push(StrayOptional {
                            call: stray,
                            argument: argument.clone(),
                            value,
                        });
                    }
                }
            }
        }
        left_out
    }

    /// Holds each call of one function to the items of a list argument that its part of the
    /// message names, among those the calls hold, where every call's part names some (see
    /// the module's note): the call's own first, in its order, then those only other calls
    /// held. A call is changed only when `valid` holds for it after. Returns what changed.
    pub fn keep_list_items_in_their_parts(
        &self,
        calls: &mut [ParsedCall],
        valid: impl Fn(&ParsedCall) -> bool,
    ) -> Vec<ListOfItsPart> {
        let mut changed = Vec::new();
        for group in same_function_groups(calls) {
            let Some(parts) = self.parts(calls, &group) else {
                continue;
            };
            for argument in string_list_arguments(calls, &group) {
                let mut items: Vec<Value> = Vec::new();
                for &at in &group {
                    for item in list_items(&calls[at], &argument) {
                        if !items.contains(item) {
                            items.push(item.clone());
                        }
                    }
                }
                let named: Vec<Vec<&Value>> = parts
                    .iter()
                    .map(|part| {
                        items
                            .iter()
                            .filter(|item| self.written_within(item, *part))
                            .collect()
                    })
                    .collect();
                if named.iter().any(Vec::is_empty) {
                    continue;
                }
                // An item written only before every part ("Parks with Parking: in New York
                // with…") may be meant for any call: it stays where the model put it.
                let outside: Vec<&Value> = items
                    .iter()
                    .filter(|item| {
                        !self.occurrences(item).is_empty()
                            && !parts.iter().any(|part| self.written_within(item, *part))
                    })
                    .collect();
                for (&at, named) in group.iter().zip(&named) {
                    if !calls[at].arguments.is_object() {
                        continue;
                    }
                    let held: Vec<&Value> = list_items(&calls[at], &argument).collect();
                    let mut kept: Vec<Value> = held
                        .iter()
                        .filter(|item| named.contains(item) || outside.contains(item))
                        .map(|item| (*item).clone())
                        .collect();
                    kept.extend(
                        named
                            .iter()
                            .filter(|item| !held.contains(item))
                            .map(|item| (*item).clone()),
                    );
                    if kept.len() == held.len() && held.iter().all(|item| kept.contains(item)) {
                        continue;
                    }
                    let mut told = calls[at].clone();
                    // A call without the list gets it (its part names items); `Null` stands
                    // for the list it did not write.
                    let written = std::mem::replace(
                        &mut told.arguments[argument.as_str()],
                        Value::Array(kept),
                    );
                    if valid(&told) {
                        calls[at] = told;
                        changed.push(ListOfItsPart {
                            call: at,
                            argument: argument.clone(),
                            written,
                        });
                    }
                }
            }
        }
        changed
    }

    /// For each function called two or more times whose calls' parts of the message can be
    /// told apart (see [`Self::parts`]), each call's position in `calls` with the text of its
    /// part.
    pub fn call_parts(&self, calls: &[ParsedCall]) -> Vec<Vec<(usize, String)>> {
        same_function_groups(calls)
            .into_iter()
            .filter_map(|group| {
                let parts = self.parts(calls, &group)?;
                Some(
                    group
                        .iter()
                        .zip(parts)
                        .map(|(&at, part)| (at, self.chars[part.start..part.end].iter().collect()))
                        .collect(),
                )
            })
            .collect()
    }

    /// Each call of `group`'s part of the message, in the group's order: from where it first
    /// writes one of the call's own values (a string or number no other call of the group
    /// gives the same argument, written once) to where the next part begins, the last to the
    /// message's end (its next sentences may still be its own: "…in Rome for 3 nights. I
    /// prefer a suite with airport transfer."). None unless every call has such a value and no
    /// two parts begin at one place.
    fn parts(&self, calls: &[ParsedCall], group: &[usize]) -> Option<Vec<Span>> {
        let mut starts = Vec::with_capacity(group.len());
        for &at in group {
            let start = self
                .own_values_written(calls, group, at, None)
                .iter()
                .map(|written| written.start)
                .min()?;
            if starts.contains(&start) {
                return None;
            }
            starts.push(start);
        }
        let parts = starts
            .iter()
            .map(|&start| Span {
                start,
                end: starts
                    .iter()
                    .copied()
                    .filter(|&other| other > start)
                    .min()
                    .unwrap_or(self.chars.len()),
            })
            .collect();
        Some(parts)
    }

    /// Whether the message writes `value` inside `part`.
    fn written_within(&self, value: &Value, part: Span) -> bool {
        self.occurrences(value)
            .iter()
            .any(|written| part.start <= written.start && written.end <= part.end)
    }

    /// The calls of `group` (one function's) holding a value of `argument` that another call
    /// of it holds too, written once in a sentence where that other call's own values stand
    /// and none of theirs.
    fn stray_holders(&self, calls: &[ParsedCall], group: &[usize], argument: &str) -> Vec<usize> {
        let mut strays = Vec::new();
        let mut seen: Vec<&Value> = Vec::new();
        for &at in group {
            let value = &calls[at].arguments[argument];
            if !(value.is_string() || value.is_number()) || seen.contains(&value) {
                continue;
            }
            seen.push(value);
            let holders: Vec<usize> = group
                .iter()
                .copied()
                .filter(|&other| calls[other].arguments.get(argument) == Some(value))
                .collect();
            if holders.len() < 2 {
                continue;
            }
            let [written] = self.occurrences(value)[..] else {
                continue;
            };
            let sentence = self.sentence_of(written);
            let own: Vec<HashSet<usize>> = holders
                .iter()
                .map(|&holder| self.own_sentences(calls, group, holder, argument))
                .collect();
            if !own.iter().any(|sentences| sentences.contains(&sentence)) {
                continue;
            }
            strays.extend(
                holders
                    .iter()
                    .zip(&own)
                    .filter(|(_, sentences)| {
                        !sentences.is_empty() && !sentences.contains(&sentence)
                    })
                    .map(|(holder, _)| *holder),
            );
        }
        strays
    }

    /// The sentences where call `at` of `group` has its own values (other than `argument`'s):
    /// those no other call of the group gives the same argument, written once.
    fn own_sentences(
        &self,
        calls: &[ParsedCall],
        group: &[usize],
        at: usize,
        argument: &str,
    ) -> HashSet<usize> {
        self.own_values_written(calls, group, at, Some(argument))
            .into_iter()
            .map(|written| self.sentence_of(written))
            .collect()
    }

    /// Where the message writes call `at` of `group`'s own values (but `except`'s): those no
    /// other call of the group gives the same argument, each written once.
    fn own_values_written(
        &self,
        calls: &[ParsedCall],
        group: &[usize],
        at: usize,
        except: Option<&str>,
    ) -> Vec<Span> {
        let Some(fields) = calls[at].arguments.as_object() else {
            return Vec::new();
        };
        fields
            .iter()
            .filter(|(name, _)| Some(name.as_str()) != except)
            .filter(|(name, value)| {
                !group.iter().any(|&other| {
                    other != at && calls[other].arguments.get(name.as_str()) == Some(value)
                })
            })
            .filter_map(|(_, value)| match self.occurrences(value)[..] {
                [written] => Some(written),
                _ => None,
            })
            .collect()
    }

    /// Which sentence of the message `span` stands in, counted from 0.
    fn sentence_of(&self, span: Span) -> usize {
        self.sentence_ends
            .iter()
            .filter(|end| **end < span.start)
            .count()
    }

    /// Where the message writes a word of function `name` that no other of `names` holds.
    fn name_mentions(&self, name: &str, names: &[&str]) -> Vec<Span> {
        let others: Vec<String> = names
            .iter()
            .filter(|other| **other != name)
            .flat_map(|other| telling_words(&name_words(other).join(" ")))
            .collect();
        let own: Vec<String> = telling_words(&name_words(name).join(" "))
            .into_iter()
            .filter(|word| !others.iter().any(|other| same_word_stem(word, other)))
            .collect();
        self.words
            .iter()
            .filter(|(word, _)| own.iter().any(|own| same_word_stem(word, own)))
            .map(|(_, span)| *span)
            .collect()
    }

    /// The function whose name the message writes nearest to `value`, when it writes the
    /// value once and one function is nearer than every other.
    fn sole_owner<'a>(
        &self,
        value: &Value,
        mentions: &'a [(String, Vec<Span>)],
    ) -> Option<&'a str> {
        let [written] = self.occurrences(value)[..] else {
            return None;
        };
        let mut distances: Vec<(usize, &str)> = mentions
            .iter()
            .filter_map(|(name, spans)| {
                let nearest = spans
                    .iter()
                    .map(|span| self.distance(written, *span))
                    .min()?;
                Some((nearest, name.as_str()))
            })
            .collect();
        distances.sort();
        match distances[..] {
            [(_, name)] => Some(name),
            [(nearest, name), (next, _), ..] if nearest < next => Some(name),
            _ => None,
        }
    }

    /// How many times the message writes `value` (see [`Self::occurrences`]).
    pub fn times_written(&self, value: &Value) -> usize {
        self.occurrences(value).len()
    }

    /// Where the message writes `value`: a string as whole words in any case, a number in
    /// digits. Nothing for other values.
    fn occurrences(&self, value: &Value) -> Vec<Span> {
        match value {
            Value::String(text) => {
                let needle: Vec<char> = text.trim().chars().collect();
                if needle.is_empty() {
                    return Vec::new();
                }
                (0..self.chars.len())
                    .filter(|&at| words_at(&self.chars, at, &needle))
                    .map(|at| Span {
                        start: at,
                        end: at + needle.len(),
                    })
                    .collect()
            }
            Value::Number(number) => number
                .as_f64()
                .map(|number| {
                    self.numbers
                        .iter()
                        .filter(|written| same_number(written.value, number))
                        .map(|written| Span {
                            start: written.start,
                            end: written.end,
                        })
                        .collect()
                })
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// How far apart two stretches stand: the words between them, and a sentence's end as
    /// [`SENTENCE_END_WORDS`] more.
    fn distance(&self, a: Span, b: Span) -> usize {
        let (from, to) = if a.end <= b.start {
            (a.end, b.start)
        } else if b.end <= a.start {
            (b.end, a.start)
        } else {
            return 0;
        };
        let words = self
            .words
            .iter()
            .filter(|(_, span)| span.start >= from && span.end <= to)
            .count();
        let ends = self
            .sentence_ends
            .iter()
            .filter(|at| (from..to).contains(*at))
            .count();
        words + ends * SENTENCE_END_WORDS
    }
}

/// The arguments both calls give a value that is a string or a number, in name order.
fn shared_arguments(first: &ParsedCall, second: &ParsedCall) -> Vec<String> {
    let in_second = scalar_arguments(second);
    let mut shared: Vec<String> = scalar_arguments(first)
        .into_iter()
        .filter(|name| in_second.contains(name))
        .collect();
    shared.sort();
    shared
}

/// The positions of the calls of each function called more than once.
fn same_function_groups(calls: &[ParsedCall]) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (at, call) in calls.iter().enumerate() {
        match groups
            .iter_mut()
            .find(|group| calls[group[0]].name == call.name)
        {
            Some(group) => group.push(at),
            None => groups.push(vec![at]),
        }
    }
    groups.retain(|group| group.len() >= 2);
    groups
}

/// The arguments some call of `group` gives a list of strings, in name order.
fn string_list_arguments(calls: &[ParsedCall], group: &[usize]) -> Vec<String> {
    group
        .iter()
        .filter_map(|&at| calls[at].arguments.as_object())
        .flat_map(|fields| {
            fields.iter().filter(|(_, value)| {
                value
                    .as_array()
                    .is_some_and(|items| !items.is_empty() && items.iter().all(Value::is_string))
            })
        })
        .map(|(name, _)| name.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The items of `call`'s list argument `argument` (none where it is not a list).
fn list_items<'a>(call: &'a ParsedCall, argument: &str) -> impl Iterator<Item = &'a Value> {
    call.arguments
        .get(argument)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// The arguments of `call` holding a string or a number.
fn scalar_arguments(call: &ParsedCall) -> Vec<String> {
    call.arguments
        .as_object()
        .map(|fields| {
            fields
                .iter()
                .filter(|(_, value)| value.is_string() || value.is_number())
                .map(|(name, _)| name.clone())
                .collect()
        })
        .unwrap_or_default()
}

fn swap_argument(calls: &mut [ParsedCall], first: usize, second: usize, argument: &str) {
    let first_value = calls[first].arguments[argument].take();
    let second_value = std::mem::replace(&mut calls[second].arguments[argument], first_value);
    calls[first].arguments[argument] = second_value;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(name: &str, arguments: Value) -> ParsedCall {
        ParsedCall {
            name: name.to_string(),
            arguments,
        }
    }

    fn given_back(message: &str, calls: &[ParsedCall]) -> Vec<ParsedCall> {
        let mut calls = calls.to_vec();
        Placement::new(message).give_values_back(&mut calls, |_| true);
        calls
    }

    #[test]
    fn values_written_beside_the_other_functions_name_are_swapped() {
        let message = "Can you tell me the scores for the Manchester United soccer team in the \
            English Premier League for the last 5 rounds and also the scores for the Los Angeles \
            Lakers basketball team in the NBA for the last 7 rounds?";
        let calls = [
            call(
                "basketball.scores",
                json!({"team": "Manchester United", "league": "English Premier League", "rounds": 5}),
            ),
            call(
                "soccer.scores",
                json!({"team": "Los Angeles Lakers", "league": "NBA", "rounds": 7}),
            ),
        ];
        let mut swapped = calls.to_vec();
        let swaps = Placement::new(message).give_values_back(&mut swapped, |_| true);
        assert_eq!(swaps.len(), 3, "{swaps:?}");
        assert_eq!(
            swapped[0].arguments,
            json!({"team": "Los Angeles Lakers", "league": "NBA", "rounds": 7})
        );
        assert_eq!(
            swapped[1].arguments,
            json!({"team": "Manchester United", "league": "English Premier League", "rounds": 5})
        );
    }

    #[test]
    fn a_sentences_end_parts_a_value_from_the_next_sentences_function() {
        // "Los Angeles" stands fewer words from "chess" than from "guitar", but in the
        // guitar's sentence.
        let message = "I'm buying a used guitar in good condition sold in Los Angeles. Then find \
            the top chess players in New York.";
        let calls = [
            call("guitar_price", json!({"location": "New York"})),
            call("chess_top_players", json!({"location": "Los Angeles"})),
        ];
        let given = given_back(message, &calls);
        assert_eq!(given[0].arguments["location"], "Los Angeles");
        assert_eq!(given[1].arguments["location"], "New York");
        // Already right: nothing moves.
        assert_eq!(given_back(message, &given), given);
    }

    #[test]
    fn a_value_written_twice_or_beside_both_functions_stays() {
        // Both particles are asked of both functions.
        let message = "What is the weight of Neutron and Proton in amu? Also what is the \
            diameter of a Proton and Neutron in femtometers?";
        let calls = [
            call("facts.get_weight", json!({"particle": "Neutron"})),
            call("facts.get_diameter", json!({"particle": "Proton"})),
        ];
        assert_eq!(given_back(message, &calls), calls);
        // A word both names hold ("scores") tells neither: the soccer function, named by no
        // word of its own, is given nothing.
        let message = "The scores of Arsenal, and the basketball scores of the Bulls.";
        let calls = [
            call("basketball_scores", json!({"team": "Arsenal"})),
            call("soccer_scores", json!({"team": "Bulls"})),
        ];
        assert_eq!(given_back(message, &calls), calls);
    }

    fn strays_left_out(message: &str, calls: &[ParsedCall]) -> Vec<ParsedCall> {
        let mut calls = calls.to_vec();
        Placement::new(message).leave_out_stray_optionals(
            &mut calls,
            |_, argument| argument == "duration",
            |_| true,
        );
        calls
    }

    #[test]
    fn an_optional_value_written_in_another_calls_sentence_is_left_out() {
        let message = "Generate an audio signal with a frequency of 440 Hz and an amplitude of \
            0.5? After that, generate another with a frequency of 300 Hz, an amplitude of 0.7 \
            and a duration of 5 seconds.";
        let signal = |frequency, amplitude| {
            call(
                "audio",
                json!({"frequency": frequency, "amplitude": amplitude, "duration": 5.0}),
            )
        };
        let calls = [signal(440, 0.5), signal(300, 0.7)];
        let mut kept = calls.to_vec();
        let left_out = Placement::new(message).leave_out_stray_optionals(
            &mut kept,
            |_, argument| argument == "duration",
            |_| true,
        );
        assert_eq!(
            left_out,
            vec![StrayOptional {
                call: 0,
                argument: "duration".into(),
                value: json!(5.0)
            }]
        );
        assert_eq!(
            kept[0].arguments,
            json!({"frequency": 440, "amplitude": 0.5})
        );
        assert_eq!(kept[1], calls[1]);

        // A required value stays: `optional` says which may go.
        let mut kept = calls.to_vec();
        Placement::new(message).leave_out_stray_optionals(&mut kept, |_, _| false, |_| true);
        assert_eq!(kept, calls);
    }

    #[test]
    fn an_optional_value_written_for_all_calls_or_in_one_sentence_stays() {
        // One sentence for both: "for the next 10 days" may be meant for both cities.
        let message = "The forecast for Boston and Rome for the next 10 days.";
        let forecast = |city| call("forecast", json!({"city": city, "duration": 10}));
        let calls = [forecast("Boston"), forecast("Rome")];
        assert_eq!(strays_left_out(message, &calls), calls);
        // Written twice, the value is each call's own.
        let message = "The forecast for Boston for 10 days. The forecast for Rome for 10 days.";
        assert_eq!(strays_left_out(message, &calls), calls);
        // Written in a sentence of neither call's values: nothing tells whose it is.
        let message = "The forecast for Boston. The forecast for Rome. Both for 10 days.";
        assert_eq!(strays_left_out(message, &calls), calls);
    }

    #[test]
    fn a_swap_the_schemas_refuse_is_undone() {
        let message = "The guitar price in Los Angeles. The chess players in New York.";
        let calls = [
            call("guitar_price", json!({"location": "New York"})),
            call("chess_top_players", json!({"location": "Los Angeles"})),
        ];
        let mut kept = calls.to_vec();
        let swaps = Placement::new(message).give_values_back(&mut kept, |call| {
            call.name != "guitar_price" || call.arguments["location"] == "New York"
        });
        assert!(swaps.is_empty());
        assert_eq!(kept, calls);
    }

    fn items_in_their_parts(message: &str, calls: &[ParsedCall]) -> Vec<ParsedCall> {
        let mut calls = calls.to_vec();
        Placement::new(message).keep_list_items_in_their_parts(&mut calls, |_| true);
        calls
    }

    fn parks(location: &str, amenities: &[&str]) -> ParsedCall {
        call(
            "parks",
            json!({"location": location, "amenities": amenities}),
        )
    }

    #[test]
    fn each_call_holds_the_items_its_part_of_the_message_names() {
        let message = "Find parks in New York, USA that have a Tennis Court and a Picnic Area, \
                       then find parks in Los Angeles, USA that have a Playground and Running \
                       Track, and finally parks in Chicago, USA with a Tennis Court and a Playground.";
        let all = ["Tennis Court", "Picnic Area", "Playground", "Running Track"];
        let calls = [
            parks("New York, USA", &all),
            parks(
                "Los Angeles, USA",
                &["Picnic Area", "Running Track", "Playground"],
            ),
            parks("Chicago, USA", &all),
        ];
        let held = [
            parks("New York, USA", &["Tennis Court", "Picnic Area"]),
            parks("Los Angeles, USA", &["Running Track", "Playground"]),
            parks("Chicago, USA", &["Tennis Court", "Playground"]),
        ];
        assert_eq!(items_in_their_parts(message, &calls), held);
        // An item of a call's part that only another call held is added, after its own.
        let calls = [
            parks("New York, USA", &all),
            parks("Los Angeles, USA", &["Running Track"]),
            parks("Chicago, USA", &["Playground"]),
        ];
        assert_eq!(
            items_in_their_parts(message, &calls),
            [
                held[0].clone(),
                held[1].clone(),
                parks("Chicago, USA", &["Playground", "Tennis Court"]),
            ]
        );
        // A call that wrote no list gets the items its part names.
        let calls = [
            parks("New York, USA", &all),
            parks("Los Angeles, USA", &["Running Track"]),
            call("parks", json!({"location": "Chicago, USA"})),
        ];
        assert_eq!(items_in_their_parts(message, &calls)[2], held[2]);
        // Items nobody wrote go too, when the part names others.
        let message = "An Italian restaurant in New York with vegetarian food and a Japanese one \
                       in Los Angeles that offers delivery.";
        let find = |cuisine, preferences: &[&str]| {
            call(
                "restaurants",
                json!({"cuisine": cuisine, "preferences": preferences}),
            )
        };
        let calls = [
            find("Italian", &["Vegetarian", "Delivery"]),
            find("Japanese", &["Delivery", "Vegan", "Takeout"]),
        ];
        assert_eq!(
            items_in_their_parts(message, &calls),
            [
                find("Italian", &["Vegetarian"]),
                find("Japanese", &["Delivery"])
            ]
        );
    }

    #[test]
    fn items_stay_where_some_part_names_none_of_them() {
        // Written before the places: the parts that follow each place cannot tell them.
        let message = "Parks with a Tennis Court in New York, and with a Playground in Chicago.";
        let calls = [
            parks("New York", &["Tennis Court"]),
            parks("Chicago", &["Tennis Court", "Playground"]),
        ];
        assert_eq!(items_in_their_parts(message, &calls), calls);
        // Written once for all calls.
        let message =
            "Parks in New York and in Chicago, each with a Tennis Court and a Playground.";
        let both = ["Tennis Court", "Playground"];
        let calls = [parks("New York", &both), parks("Chicago", &both)];
        assert_eq!(items_in_their_parts(message, &calls), calls);
        // Written before every part, for every call: it stays where the model put it,
        // while the parts still tell the rest.
        let message = "Parks with Parking, in New York with a Tennis Court, and in Los Angeles \
                       with a Playground and a Picnic Area.";
        let calls = [
            parks("New York", &["Tennis Court", "Picnic Area", "Parking"]),
            parks("Los Angeles", &["Playground", "Picnic Area", "Parking"]),
        ];
        assert_eq!(
            items_in_their_parts(message, &calls),
            [
                parks("New York", &["Tennis Court", "Parking"]),
                calls[1].clone()
            ]
        );
        // A call with no value of its own has no part.
        let message =
            "Parks in Chicago with a Tennis Court, and parks in Chicago with a Playground.";
        let calls = [parks("Chicago", &both), parks("Chicago", &both)];
        assert_eq!(items_in_their_parts(message, &calls), calls);
    }
}
