//! The lists a user writes: "in 2017, 2018 and 2019", "for Boston and New York",
//! "北京、上海和广州".
//!
//! Asked for the same thing over a list, a small model makes the call for the first member and
//! stops, and asked for another call it copies the first. A call that used one member of a
//! list shows which argument the list fills; each other member is then one more call, with
//! that argument set to it (see `checked`).

use serde_json::{Number, Value};

use super::grounding::{
    find_words, latin_word_char, non_latin_letter, same_number, spelled_numbers, words_at,
    written_numbers, SCALES,
};

/// Words that join the members of a list.
const JOINING_WORDS: &[&str] = &["and", "or", "和", "与", "及", "或", "跟"];

/// Words before the first of two ends of a range, which are no list.
const RANGE_WORDS: &[&str] = &["between"];

/// Marks that separate members without ending the list (`A, B and C`).
const SEPARATORS: &[char] = &[',', '、', '，', '&'];

/// Words written around each member of a number list and left out of the joint
/// ("the number 4567 and the number 7890", "10 years and 20 years").
const MAX_WORDS_AROUND_A_JOINT: usize = 2;

/// Articles a member may start with ("Paris and the Louvre").
const ARTICLES: &[&str] = &["the", "a", "an"];

/// The lists of one text, read once.
#[derive(Debug, Clone, Default)]
pub struct Lists {
    chars: Vec<char>,
    /// The members of each list of numbers written in digits.
    numbers: Vec<Vec<f64>>,
    /// Every number the text writes, in digits or in words, each time it does.
    mentions: Vec<f64>,
    /// The hours of the times of day the text writes on the hour ("22:00" is 22).
    clock_hours: Vec<f64>,
}

impl Lists {
    pub fn new(text: &str) -> Self {
        let chars: Vec<char> = text.chars().collect();
        let mut numbers: Vec<Vec<f64>> = Vec::new();
        let mut run: Vec<f64> = Vec::new();
        let mut run_start = 0;
        // Whether the run's last joint was "and", "or", "和"…: "5, 10 and 15" is a list, the
        // comma of "May 1, 2022" is not.
        let mut closed_by_word = false;
        let written = written_numbers(&chars);
        for (index, number) in written.iter().enumerate() {
            let joint = (index > 0)
                .then(|| {
                    let previous = &written[index - 1];
                    let gap: String = chars[previous.end..number.start].iter().collect();
                    // The next member dressed as the previous one ("the number 4567 and the
                    // number 7890"), not a name that holds a number ("20 minutes and Maroon 5").
                    joint(&gap).filter(|joint| {
                        let dressed = &joint.words_after;
                        words_before(&chars, previous.start, dressed.len()) == *dressed
                    })
                })
                .flatten();
            match joint {
                Some(joint) => closed_by_word = joint.by_word,
                None => {
                    if run.len() > 1 && closed_by_word && !opens_a_range(&chars, run_start) {
                        numbers.push(std::mem::take(&mut run));
                    }
                    run.clear();
                    run_start = number.start;
                }
            }
            run.push(number.value);
        }
        if run.len() > 1 && closed_by_word && !opens_a_range(&chars, run_start) {
            numbers.push(run);
        }
        let mut mentions: Vec<f64> = written.iter().map(|number| number.value).collect();
        mentions.extend(spelled_numbers(text));
        let clock_hours = written
            .windows(2)
            .filter(|pair| {
                let gap = &chars[pair[0].end..pair[1].start];
                let minutes = &chars[pair[1].start..pair[1].end];
                gap == [':'] && minutes == ['0', '0'] && (0.0..24.0).contains(&pair[0].value)
            })
            .map(|pair| pair[0].value)
            .collect();
        Lists {
            chars,
            numbers,
            mentions,
            clock_hours,
        }
    }

    /// The other members of the list `value` belongs to, written as `value` is: numbers
    /// scaled the same way (a call's 0.04 for "4%" makes "5%" 0.05), strings as the text
    /// writes them. Empty when `value` is in no list.
    pub fn siblings(&self, value: &Value) -> Vec<Value> {
        match value {
            Value::Number(number) => number
                .as_f64()
                .map(|n| self.number_siblings(n, number.is_f64()))
                .unwrap_or_default(),
            Value::String(text) => self
                .string_siblings(text)
                .into_iter()
                .map(Value::String)
                .collect(),
            _ => Vec::new(),
        }
    }

    fn number_siblings(&self, value: f64, fractional: bool) -> Vec<Value> {
        for list in &self.numbers {
            for (index, member) in list.iter().enumerate() {
                let Some(scale) = scale_between(*member, value) else {
                    continue;
                };
                return list
                    .iter()
                    .enumerate()
                    .filter(|(other, _)| *other != index)
                    .filter_map(|(_, sibling)| json_number(sibling * scale, fractional))
                    .collect();
            }
        }
        Vec::new()
    }

    /// The members after `value` in a list of words: "Boston and New York", "human HbA1c,
    /// normal hemoglobin, and rat hemoglobin"; where the text writes `value` more than once,
    /// after the first that opens a list ("the weight of the Neutron and the Proton, and the
    /// diameter of the Proton and the Neutron": the Proton's sibling is the Neutron).
    /// A value the text does not write whole is read as its part before a comma, where the
    /// text writes that ("Berlin, Germany" for "Berlin and Madrid": the model added the
    /// country).
    fn string_siblings(&self, value: &str) -> Vec<String> {
        let whole: Vec<char> = value.trim().chars().collect();
        if whole.is_empty() {
            return Vec::new();
        }
        if let Some(siblings) = self.siblings_where_written(&whole, false) {
            return siblings;
        }
        let part: Vec<char> = value
            .split(',')
            .next()
            .unwrap_or_default()
            .trim()
            .chars()
            .collect();
        if part.is_empty() || part.len() == whole.len() {
            return Vec::new();
        }
        self.siblings_where_written(&part, true).unwrap_or_default()
    }

    /// The siblings of `needle` at the first place the text writes it that opens a list;
    /// `None` where the text writes it nowhere. A `part` of a value is not read where the
    /// text writes a comma after it: the text's member is longer too ("San Francisco,
    /// California, and Chicago" for "San Francisco, CA").
    fn siblings_where_written(&self, needle: &[char], part: bool) -> Option<Vec<String>> {
        let comma_after =
            |at: usize| self.chars.get(skip_spaces(&self.chars, at + needle.len())) == Some(&',');
        let mut written = (0..self.chars.len())
            .filter(|&at| words_at(&self.chars, at, needle) && !(part && comma_after(at)))
            .peekable();
        written.peek()?;
        Some(
            written
                .map(|start| self.string_siblings_at(start, needle.len()))
                .find(|siblings| !siblings.is_empty())
                .unwrap_or_default(),
        )
    }

    /// The members after the one written at `start`, `length` chars long.
    fn string_siblings_at(&self, start: usize, length: usize) -> Vec<String> {
        let needle = &self.chars[start..start + length];
        if ends_a_list(&self.chars, start) || opens_a_range(&self.chars, start) {
            // "A, B and C": C is the last member, whatever follows it.
            return Vec::new();
        }
        if let Some(close) = quoted_at(&self.chars, start, start + needle.len()) {
            return self.quoted_siblings(start + needle.len() + 1, close);
        }
        let Some(shape) = MemberShape::of(&self.chars[start..start + needle.len()]) else {
            return Vec::new();
        };
        let mut siblings = Vec::new();
        let mut at = start + needle.len();
        while let Some((member_start, last)) = joint_after(&self.chars, at) {
            let Some(end) = shape
                .member_end(&self.chars, member_start)
                // Chinese has no spaces to end a member at: its length is the member's.
                .filter(|end| {
                    matches!(shape, MemberShape::Characters(_)) || ends_cleanly(&self.chars, *end)
                })
            else {
                break;
            };
            let member: String = self.chars[member_start..end].iter().collect();
            siblings.push(without_possessive(member.trim(), needle));
            at = end;
            if last {
                return siblings;
            }
        }
        // No "and" or "or" before a last member: "Paris, France" names one place.
        Vec::new()
    }

    /// Whether the text writes `value` nowhere but as a member of its lists: a number also
    /// written elsewhere ("multiples of 3 and 5 … the first five primes") may be a call's
    /// value from there, not from the list. Strings are taken as their list's.
    pub fn only_in_lists(&self, value: &Value) -> bool {
        let Some(number) = value.as_f64() else {
            return true;
        };
        let same = |n: &&f64| same_number(**n, number);
        self.mentions.iter().filter(same).count()
            <= self.numbers.iter().flatten().filter(same).count()
    }

    /// Whether `a` and `b` are two members of one list (as [`Self::siblings`] reads them).
    pub fn same_list(&self, a: &Value, b: &Value) -> bool {
        let among = |siblings: Vec<Value>, other: &Value| {
            siblings.iter().any(|sibling| same_member(sibling, other))
        };
        !same_member(a, b) && (among(self.siblings(a), b) || among(self.siblings(b), a))
    }

    /// Whether the text says its lists pair up member by member ("Japan and India in 10 and
    /// 20 years respectively") rather than each with each.
    pub fn paired(&self) -> bool {
        PAIRING_WORDS.iter().any(|word| {
            let word: Vec<char> = word.chars().collect();
            find_words(&self.chars, &word).is_some()
        })
    }

    /// The first of two neighbouring members of a number list that `value` writes run
    /// together, where the text writes `value` nowhere itself ("15, 20 and 30" carried as
    /// 1520, "1,5 and 10" as 15): a small model's slip over a list's first members, which
    /// stands for the first of them.
    pub fn run_together(&self, value: f64) -> Option<f64> {
        if self.mentions.iter().any(|m| same_number(*m, value)) {
            return None;
        }
        let in_a_list = self
            .numbers
            .iter()
            .flat_map(|list| list.windows(2))
            .find_map(|pair| {
                let joined = format!("{}{}", whole_digits(pair[0])?, whole_digits(pair[1])?);
                let joined: f64 = joined.parse().ok()?;
                same_number(joined, value).then_some(pair[0])
            });
        // A time on the hour with its colon left out ("22:00" carried as 2200) is its hour.
        in_a_list.or_else(|| {
            self.clock_hours
                .iter()
                .copied()
                .find(|hour| same_number(hour * 100.0, value))
        })
    }

    /// `values`, members of one list (as [`Self::same_list`] reads them), in the order the
    /// text writes them in their list; `None` when that order cannot be told (values of
    /// different lists, or not all of one).
    pub fn in_written_order(&self, values: &[Value]) -> Option<Vec<Value>> {
        let mut ranked: Vec<(usize, Value)> = values
            .iter()
            .map(|value| Some((self.rank(value, values)?, value.clone())))
            .collect::<Option<_>>()?;
        ranked.sort_by_key(|(rank, _)| *rank);
        let distinct = ranked.windows(2).all(|pair| pair[0].0 != pair[1].0);
        distinct.then(|| ranked.into_iter().map(|(_, value)| value).collect())
    }

    /// Where `value` stands among `group`, members of its list: for a number, its place in
    /// the list; for a string, how many of the group the list writes before it.
    fn rank(&self, value: &Value, group: &[Value]) -> Option<usize> {
        match value {
            Value::Number(number) => {
                let number = number.as_f64()?;
                self.numbers.iter().find_map(|list| {
                    list.iter()
                        .position(|member| scale_between(*member, number).is_some())
                })
            }
            Value::String(_) => Some(
                group
                    .iter()
                    .filter(|other| !same_member(other, value))
                    .filter(|other| {
                        self.siblings(other)
                            .iter()
                            .any(|sibling| same_member(sibling, value))
                    })
                    .count(),
            ),
            _ => None,
        }
    }

    /// The quoted members after a quoted one that ends before `at` ("'Civil' and
    /// 'Criminal'", "\"Climate Change\" and \"Artificial Intelligence\""): the quotes
    /// bound each member, whatever its words.
    fn quoted_siblings(&self, mut at: usize, close: char) -> Vec<String> {
        let mut siblings = Vec::new();
        while let Some((member_start, last)) = joint_after(&self.chars, at) {
            if self.chars.get(member_start) != Some(&opening_quote(close)) {
                break;
            }
            let inside = member_start + 1;
            let Some(length) = self.chars[inside..]
                .iter()
                .take(MAX_QUOTED_MEMBER_CHARS + 1)
                .position(|c| *c == close)
            else {
                break;
            };
            let member: String = self.chars[inside..inside + length].iter().collect();
            if member.trim().is_empty() {
                break;
            }
            siblings.push(member.trim().to_string());
            at = inside + length + 1;
            if last {
                return siblings;
            }
        }
        // As for words: no "and" or "or" before a last member, no list.
        Vec::new()
    }
}

/// `member` without the possessive ending the value it is a sibling of lacks ("Berlin and
/// Madrid's music stores": the sibling is Madrid).
fn without_possessive(member: &str, value: &[char]) -> String {
    let value: String = value.iter().collect();
    ["'s", "’s"]
        .iter()
        .find_map(|ending| {
            member
                .strip_suffix(ending)
                .filter(|bare| !bare.is_empty() && !value.ends_with(ending))
        })
        .unwrap_or(member)
        .to_string()
}

/// Words that pair the members of two lists one to one.
const PAIRING_WORDS: &[&str] = &["respectively", "correspondingly", "in that order", "分别"];

/// Two values the same member: equal, or strings equal but for case.
pub(super) fn same_member(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(a), Value::String(b)) => a.trim().to_lowercase() == b.trim().to_lowercase(),
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .zip(b.as_f64())
            .is_some_and(|(a, b)| same_number(a, b)),
        _ => a == b,
    }
}

/// Quote marks a member may be written in, each with its closing mark.
const QUOTES: &[(char, char)] = &[('"', '"'), ('\'', '\''), ('“', '”'), ('‘', '’')];

/// The longest quoted member read.
const MAX_QUOTED_MEMBER_CHARS: usize = 100;

/// The closing quote of a member written in quotes from `start` to `end` (the quotes
/// outside them), if it is.
fn quoted_at(chars: &[char], start: usize, end: usize) -> Option<char> {
    let open = *chars.get(start.checked_sub(1)?)?;
    let close = *chars.get(end)?;
    QUOTES.contains(&(open, close)).then_some(close)
}

fn opening_quote(close: char) -> char {
    QUOTES
        .iter()
        .find(|(_, c)| *c == close)
        .map_or(close, |(open, _)| *open)
}

/// How two numbers are joined as members of one list.
struct Joint {
    /// The words after the joint, lowercased, which the earlier member must have before it.
    words_after: Vec<String>,
    /// The joint holds "and", "or", "和"… (not only a comma).
    by_word: bool,
}

/// How `gap`, the text between two numbers, joins them as members of one list, if it does: a
/// joint (`,`, `and`, `, or`, `、`, `和`) with at most two words on either side and nothing
/// else.
fn joint(gap: &str) -> Option<Joint> {
    let mut tokens: Vec<String> = Vec::new();
    let gap = gap.replace("以及", "及");
    let gap = gap.trim_end_matches(['-', '+', ' ']);
    let mut word = String::new();
    for c in gap.chars() {
        if latin_word_char(c) || c == '%' {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            tokens.push(std::mem::take(&mut word).to_lowercase());
        }
        if c.is_whitespace() || "$€£¥".contains(c) {
            continue;
        }
        if non_latin_letter(c) || SEPARATORS.contains(&c) {
            tokens.push(c.to_string());
        } else {
            return None;
        }
    }
    if !word.is_empty() {
        tokens.push(word.to_lowercase());
    }
    let is_joint = |t: &String| {
        JOINING_WORDS.contains(&t.as_str()) || t.chars().all(|c| SEPARATORS.contains(&c))
    };
    let first = tokens.iter().position(is_joint)?;
    let mut last = first;
    // ", and": a separator and a joining word make one joint.
    if tokens.get(first + 1).is_some_and(is_joint)
        && !JOINING_WORDS.contains(&tokens[first].as_str())
    {
        last = first + 1;
    }
    let after = &tokens[last + 1..];
    (first <= MAX_WORDS_AROUND_A_JOINT
        && after.len() <= MAX_WORDS_AROUND_A_JOINT
        && !after.iter().any(is_joint))
    .then(|| Joint {
        words_after: after.to_vec(),
        by_word: JOINING_WORDS.contains(&tokens[last].as_str()),
    })
}

/// The digits of a whole number written without a fraction or sign ("15"), if it is one.
fn whole_digits(number: f64) -> Option<String> {
    let whole = number >= 0.0 && number.fract() == 0.0 && number < 1e12;
    whole.then(|| format!("{}", number as u64))
}

/// The scale that turns `written` (a number of the text) into `value` (a call's): 1, or a
/// multiplier the text may have written after it (`%`, `k`, `million`).
fn scale_between(written: f64, value: f64) -> Option<f64> {
    std::iter::once(1.0)
        .chain(SCALES.iter().map(|(_, scale)| *scale))
        .find(|scale| same_number(written * scale, value))
}

fn json_number(value: f64, fractional: bool) -> Option<Value> {
    // 5 × 0.01 is 0.05000000000000000277 in binary: round away what scaling added.
    let value = if value.abs() < 1e8 {
        (value * 1e10).round() / 1e10
    } else {
        value
    };
    if !fractional && value.fract() == 0.0 && value.abs() < 9.0e15 {
        #[allow(clippy::cast_possible_truncation)]
        return Some(Value::Number(Number::from(value as i64)));
    }
    Number::from_f64(value).map(Value::Number)
}

/// Where the member after a joint that starts at `at` begins, and whether the joint was the
/// list's last (`and`, `or`, `和`: "A, B and C" ends at C).
fn joint_after(chars: &[char], at: usize) -> Option<(usize, bool)> {
    let mut i = skip_spaces(chars, at);
    let mut joined = false;
    if chars.get(i).is_some_and(|c| SEPARATORS.contains(c)) {
        joined = true;
        i = skip_spaces(chars, i + 1);
    }
    let mut last = false;
    if let Some(after) = joining_word_at(chars, i) {
        joined = true;
        last = true;
        i = skip_spaces(chars, after);
    }
    if !joined {
        return None;
    }
    if let Some(after) = ARTICLES.iter().find_map(|word| word_at(chars, i, word)) {
        i = skip_spaces(chars, after);
    }
    (i < chars.len()).then_some((i, last))
}

/// Whether the member starting at `start` is the first end of a range ("between 50 and 150",
/// "between the Louvre and the Eiffel Tower"): the two ends of one value, not two values.
fn opens_a_range(chars: &[char], start: usize) -> bool {
    word_before_member(chars, start).is_some_and(|word| RANGE_WORDS.contains(&word.as_str()))
}

/// Whether the member starting at `start` follows a joining word ("and C", "and the C"):
/// the last member of its list.
fn ends_a_list(chars: &[char], start: usize) -> bool {
    word_before_member(chars, start).is_some_and(|word| JOINING_WORDS.contains(&word.as_str()))
}

/// The word before the member starting at `start`, past an article ("and the C": "and").
fn word_before_member(chars: &[char], start: usize) -> Option<String> {
    let mut before = words_before(chars, start, 2);
    if before
        .last()
        .is_some_and(|word| ARTICLES.contains(&word.as_str()))
    {
        before.pop();
    }
    before.pop()
}

/// The last `count` words before char `end`, lowercased, in order (fewer at the text's start);
/// a Chinese character is a word, marks and spaces are not.
fn words_before(chars: &[char], end: usize, count: usize) -> Vec<String> {
    let mut words = Vec::with_capacity(count);
    let mut at = end;
    while words.len() < count && at > 0 {
        let c = chars[at - 1];
        if non_latin_letter(c) {
            words.push(c.to_string());
            at -= 1;
        } else if latin_word_char(c) {
            let word_end = at;
            while at > 0 && latin_word_char(chars[at - 1]) {
                at -= 1;
            }
            words.push(
                chars[at..word_end]
                    .iter()
                    .collect::<String>()
                    .to_lowercase(),
            );
        } else {
            at -= 1;
        }
    }
    words.reverse();
    words
}

/// The end of `word` when the text has it at `at` as whole words (Chinese: as characters).
fn word_at(chars: &[char], at: usize, word: &str) -> Option<usize> {
    let word: Vec<char> = word.chars().collect();
    words_at(chars, at, &word).then_some(at + word.len())
}

/// The end of the joining word ("and", "或"…) the text has at `at`, if any.
fn joining_word_at(chars: &[char], at: usize) -> Option<usize> {
    JOINING_WORDS
        .iter()
        .find_map(|word| word_at(chars, at, word))
}

fn skip_spaces(chars: &[char], mut at: usize) -> usize {
    while chars.get(at).is_some_and(|c| c.is_whitespace()) {
        at += 1;
    }
    at
}

/// Whether a member ending at `end` ends there: at a space, a mark that ends a phrase, or the
/// text's end, not inside a token such as `y=2x+3`.
fn ends_cleanly(chars: &[char], end: usize) -> bool {
    chars
        .get(end)
        .is_none_or(|c| c.is_whitespace() || ",.;:!?)]}\"'".contains(*c))
}

/// How the members of a list look, judged by the member a call used.
#[derive(Debug, Clone, Copy)]
enum MemberShape {
    /// Chinese (or another script without spaces): as many characters.
    Characters(usize),
    /// A name: words that start with a capital letter (or a digit, after the first word or
    /// when the member started with one), with as many commas
    /// inside ("Boston, MA and San Francisco, CA"). A name whose later words are lowercase
    /// ("Homo sapiens and Pan troglodytes") has exactly as many `words`, whatever their case.
    Name {
        commas: usize,
        numbered: bool,
        words: Option<usize>,
    },
    /// Lowercase words: at most one more than the member had, ending at a joint or a mark.
    Words(usize),
}

impl MemberShape {
    /// `None` for what is not words (a formula such as `y=3x+2`, a path, a query).
    fn of(member: &[char]) -> Option<MemberShape> {
        if member.iter().all(|c| non_latin_letter(*c)) {
            return Some(MemberShape::Characters(member.len()));
        }
        let words_only = member
            .iter()
            .all(|c| c.is_alphanumeric() || c.is_whitespace() || "-'.,&".contains(*c));
        if !words_only {
            return None;
        }
        let text: String = member.iter().collect();
        let words: Vec<&str> = text.split_whitespace().collect();
        if member
            .first()
            .is_some_and(|c| c.is_uppercase() || c.is_ascii_digit())
        {
            let lowercase_after_first = member[0].is_uppercase()
                && words
                    .iter()
                    .skip(1)
                    .any(|word| word.chars().next().is_some_and(char::is_lowercase));
            return Some(MemberShape::Name {
                commas: member.iter().filter(|c| **c == ',').count(),
                numbered: member[0].is_ascii_digit(),
                words: lowercase_after_first.then_some(words.len()),
            });
        }
        Some(MemberShape::Words(words.len()))
    }

    /// Where a member of this shape starting at `start` ends; `None` when no such member
    /// starts there.
    fn member_end(self, chars: &[char], start: usize) -> Option<usize> {
        match self {
            MemberShape::Characters(count) => {
                let end = start + count;
                chars
                    .get(start..end)
                    .is_some_and(|found| found.iter().all(|c| non_latin_letter(*c)))
                    .then_some(end)
            }
            MemberShape::Name {
                words: Some(count), ..
            } => {
                if !chars.get(start).is_some_and(|c| c.is_uppercase()) {
                    return None;
                }
                // At most as many words, the member closed where they end: by a mark, a
                // joint or the text's end ("Pan troglodytes (chimpanzee)", not "Kawai piano
                // in" of "Kawai piano in Los Angeles").
                let mut ends = Vec::new();
                let mut at = start;
                for _ in 0..count {
                    let word_end = word_end(chars, at);
                    if word_end == at || joining_word_at(chars, at).is_some() {
                        break;
                    }
                    ends.push(word_end);
                    at = skip_spaces(chars, word_end);
                }
                ends.into_iter().rev().find(|&end| {
                    let next = skip_spaces(chars, end);
                    next >= chars.len()
                        || !chars[next].is_alphanumeric()
                        || joining_word_at(chars, next).is_some()
                })
            }
            MemberShape::Name {
                commas, numbered, ..
            } => {
                let mut end = start;
                let mut commas_left = commas;
                let mut at = start;
                loop {
                    let word_end = word_end(chars, at);
                    // A name starts as the member did: with a capital ("4000 sq ft" is not a
                    // place) unless that one started with a digit; digits may follow ("Galaxy
                    // S24", "Studio 54").
                    let capitalised = chars.get(at).is_some_and(|c| {
                        c.is_uppercase() || ((numbered || at > start) && c.is_ascii_digit())
                    });
                    if word_end == at || !capitalised {
                        break;
                    }
                    end = word_end;
                    at = skip_spaces(chars, word_end);
                    if chars.get(word_end) == Some(&',') {
                        if commas_left == 0 {
                            break;
                        }
                        commas_left -= 1;
                        at = skip_spaces(chars, word_end + 1);
                    }
                }
                (end > start).then_some(end)
            }
            MemberShape::Words(count) => {
                let mut at = start;
                let mut end = start;
                for _ in 0..=count {
                    if joining_word_at(chars, at).is_some() {
                        break;
                    }
                    let word_end = word_end(chars, at);
                    if word_end == at {
                        break;
                    }
                    end = word_end;
                    at = skip_spaces(chars, word_end);
                }
                let closed = at >= chars.len()
                    || !chars[at].is_alphanumeric()
                    || joining_word_at(chars, at).is_some();
                (end > start && closed).then_some(end)
            }
        }
    }
}

/// The end of the word (letters, digits, `-`, `'`, and the dots of "St. Louis" or "D.C.")
/// starting at `at`.
fn word_end(chars: &[char], start: usize) -> usize {
    let mut at = start;
    loop {
        let Some(&c) = chars.get(at) else {
            return at;
        };
        let letter = latin_word_char(c);
        let abbreviation_dot = c == '.'
            && (chars.get(at + 1).is_some_and(|n| n.is_alphanumeric())
                || chars[start..at].contains(&'.')
                || at - start == 1 && chars[start].is_uppercase()
                || chars[start..at] == ['S', 't']);
        if !(letter || matches!(c, '-' | '\'') || abbreviation_dot) {
            return at;
        }
        at += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn siblings(text: &str, value: Value) -> Vec<Value> {
        Lists::new(text).siblings(&value)
    }

    #[test]
    fn numbers_in_a_list_are_siblings_however_the_members_are_dressed() {
        let text = "a loan term of 15, 20 and 30 years";
        assert_eq!(siblings(text, json!(15)), vec![json!(20), json!(30)]);
        assert_eq!(siblings(text, json!(30)), vec![json!(15), json!(20)]);
        assert_eq!(
            siblings("seasons 2017, 2018 and 2019.", json!(2018)),
            vec![json!(2017), json!(2019)]
        );
        assert_eq!(
            siblings("the number 4567 and the number 7890", json!(4567)),
            vec![json!(7890)]
        );
        assert_eq!(
            siblings("for the next 10 years and 20 years", json!(10)),
            vec![json!(20)]
        );
        assert_eq!(
            siblings("2017年、2018年和2019年的销售额", json!(2019)),
            vec![json!(2017), json!(2018)]
        );
        // Scaled as the call scaled its member.
        assert_eq!(
            siblings("at 4% or 5% interest", json!(0.04)),
            vec![json!(0.05)]
        );
    }

    #[test]
    fn numbers_that_play_different_parts_are_not_a_list() {
        let text = "short term gains of $15000, long term gains of $25000 in California";
        assert!(siblings(text, json!(15000)).is_empty());
        assert!(siblings("from 3 to 7", json!(3)).is_empty());
        assert!(siblings("x = 3. Then 4 and more", json!(3)).is_empty());
        assert!(siblings("derivative of 3x^2 at 4", json!(3)).is_empty());
        assert!(siblings("Play it for 20 minutes and Maroon 5 for 15", json!(20)).is_empty());
        assert!(siblings("a loan of $400,000 at 4%", json!(400000)).is_empty());
        // A date, not a list: no "and" before the last member.
        let booking =
            "Book 2 adults and a child with check-in on May 1, 2022 and check-out on May 5, 2022.";
        assert!(siblings(booking, json!(1)).is_empty());
        assert!(siblings(booking, json!(2022)).is_empty());
    }

    #[test]
    fn words_after_a_member_joined_to_it_are_siblings() {
        assert_eq!(
            siblings(
                "What's the weather in Boston and New York today?",
                json!("Boston")
            ),
            vec![json!("New York")]
        );
        assert_eq!(
            siblings(
                "Get the protein sequence of human HbA1c, normal hemoglobin, and rat hemoglobin and their 3D models",
                json!("human HbA1c")
            ),
            vec![json!("normal hemoglobin"), json!("rat hemoglobin")]
        );
        assert!(
            siblings(
                "sequences of human HbA1c, normal hemoglobin, and rat hemoglobin and their 3D models",
                json!("rat hemoglobin")
            )
            .is_empty(),
            "the last member of a list has no siblings after it"
        );
        assert_eq!(
            siblings(
                "Weather in Boston, MA and San Francisco, CA.",
                json!("Boston, MA")
            ),
            vec![json!("San Francisco, CA")]
        );
        assert_eq!(
            siblings("北京、上海和广州的天气", json!("北京")),
            vec![json!("上海"), json!("广州")]
        );
        assert_eq!(
            siblings("Codes 2017A and 2018B, please", json!("2017A")),
            vec![json!("2018B")]
        );
        assert_eq!(
            siblings("Compare Paris and the Louvre", json!("Paris")),
            vec![json!("Louvre")]
        );
        // A member written first outside its list.
        assert_eq!(
            siblings(
                "The weight of Neutron and Proton? Also the diameter of a Proton and Neutron?",
                json!("Proton")
            ),
            vec![json!("Neutron")]
        );
    }

    #[test]
    fn a_name_with_lowercase_words_has_siblings_of_as_many_words() {
        let species = "the BRCA1 and BRCA2 genes in Homo sapiens and Pan troglodytes (chimpanzee)?";
        assert_eq!(
            siblings(species, json!("Homo sapiens")),
            vec![json!("Pan troglodytes")]
        );
        // Words that do not close where the member's count ends are no member.
        let shops = "a Yamaha acoustic guitar and Kawai piano in San Francisco";
        assert!(siblings(shops, json!("Yamaha acoustic guitar")).is_empty());
    }

    #[test]
    fn a_possessive_is_not_part_of_a_sibling() {
        let stores = "a Yamaha P125 piano in Berlin and Madrid's music stores.";
        assert_eq!(siblings(stores, json!("Berlin")), vec![json!("Madrid")]);
        assert_eq!(
            siblings("John's and Mary's scores", json!("John's")),
            vec![json!("Mary's")]
        );
    }

    #[test]
    fn a_value_the_text_writes_shorter_is_read_as_its_part_before_a_comma() {
        let stores = "a Yamaha P125 piano in Berlin and Madrid's music stores.";
        assert_eq!(
            siblings(stores, json!("Berlin, Germany")),
            vec![json!("Madrid")]
        );
        // The text's own member runs on past a comma: it is longer, not a list member.
        let cities = "shops in San Francisco, California, and Chicago, Illinois.";
        assert!(siblings(cities, json!("San Francisco, CA")).is_empty());
    }

    #[test]
    fn members_of_one_list_are_told_from_members_of_two() {
        let lists = Lists::new(
            "Win rates of the Lakers and the Bulls in seasons 2018 and 2020, on 2022-01-01 and 2022-02-01",
        );
        assert!(lists.same_list(&json!("Lakers"), &json!("Bulls")));
        assert!(lists.same_list(&json!("bulls"), &json!("Lakers")));
        assert!(lists.same_list(&json!(2020), &json!(2018)));
        assert!(lists.same_list(&json!("2022-01-01"), &json!("2022-02-01")));
        assert!(!lists.same_list(&json!("Lakers"), &json!(2018)));
        assert!(!lists.same_list(&json!("Lakers"), &json!("Lakers")));
        assert!(!lists.paired());
        assert!(Lists::new("Japan and India in 10 and 20 years respectively").paired());
    }

    #[test]
    fn a_number_also_written_outside_its_list_may_not_be_the_lists() {
        let lists =
            Lists::new("the multiples of 3 and 5, and the product of the first five primes");
        assert!(lists.only_in_lists(&json!(3)));
        assert!(!lists.only_in_lists(&json!(5)), "also written as \"five\"");
        let lists = Lists::new("in 1980 and 1990, and the GDP in 1990");
        assert!(lists.only_in_lists(&json!(1980)));
        assert!(!lists.only_in_lists(&json!(1990)));
        assert!(lists.only_in_lists(&json!("Boston")));
    }

    #[test]
    fn quoted_members_are_bounded_by_their_quotes() {
        assert_eq!(
            siblings(
                "the news on \"Climate Change\" and \"Artificial Intelligence\", each with 5 articles",
                json!("Climate Change")
            ),
            vec![json!("Artificial Intelligence")]
        );
        assert_eq!(
            siblings(
                "train on 'dataset1' and 'dataset2'. For the first run",
                json!("dataset1")
            ),
            vec![json!("dataset2")]
        );
        assert_eq!(
            siblings("types ‘Civil’, ‘Criminal’ or ‘Family’", json!("Civil")),
            vec![json!("Criminal"), json!("Family")]
        );
        // No joining word before the last: one name, not a list; nor a quote then a word.
        assert!(siblings("the 'Civil', 'Criminal' cases", json!("Civil")).is_empty());
        assert!(siblings("the 'Civil' and the Criminal cases", json!("Civil")).is_empty());
    }

    #[test]
    fn two_members_run_together_stand_for_the_first_of_them() {
        let lists = Lists::new("a loan term of 15, 20 and 30 years");
        assert_eq!(lists.run_together(1520.0), Some(15.0));
        assert_eq!(lists.run_together(2030.0), Some(20.0));
        // Not neighbours, or a number the text writes.
        assert_eq!(lists.run_together(1530.0), None);
        assert_eq!(lists.run_together(15.0), None);
        let lists = Lists::new("for 1,5 and 10 years");
        assert_eq!(lists.run_together(15.0), Some(1.0));
        assert_eq!(lists.run_together(510.0), Some(5.0));
        // A thousands separator writes one number, not a list.
        assert_eq!(
            Lists::new("a loan of 400,000 and 500,000").run_together(400.0),
            None
        );
        // Numbers in no list.
        assert_eq!(Lists::new("5 people at 3 tables").run_together(53.0), None);
        // A time on the hour, its colon left out, is its hour; not one with minutes.
        let open = Lists::new("restaurants open until at least 22:00, or 7:30 on Sundays");
        assert_eq!(open.run_together(2200.0), Some(22.0));
        assert_eq!(open.run_together(730.0), None);
        assert_eq!(open.run_together(22.0), None);
    }

    #[test]
    fn members_of_a_list_are_put_in_the_order_it_writes_them() {
        let lists = Lists::new(
            "the ranking of Barcelona and Manchester United in the UEFA Champions League and La Liga respectively",
        );
        assert_eq!(
            lists.in_written_order(&[json!("La Liga"), json!("UEFA Champions League")]),
            Some(vec![json!("UEFA Champions League"), json!("La Liga")])
        );
        assert_eq!(
            lists.in_written_order(&[json!("Manchester United"), json!("Barcelona")]),
            Some(vec![json!("Barcelona"), json!("Manchester United")])
        );
        let lists = Lists::new("Japan and India in the next 10, 20 and 30 years respectively");
        assert_eq!(
            lists.in_written_order(&[json!(30), json!(10), json!(20)]),
            Some(vec![json!(10), json!(20), json!(30)])
        );
        // Two members the list does not order (neither written before the other).
        assert_eq!(
            Lists::new("Paris, Rome and Oslo").in_written_order(&[json!("Lima"), json!("Quito")]),
            None
        );
    }

    #[test]
    fn words_that_are_not_a_list_have_no_siblings() {
        // Another clause, not another member.
        assert!(siblings("Book a flight to Boston and a hotel there", json!("Boston")).is_empty());
        assert!(siblings(
            "walking and running in the park every day",
            json!("walking")
        )
        .is_empty());
        assert!(siblings("Weather in Boston today", json!("Boston")).is_empty());
        assert!(siblings("Weather in Boston and", json!("Boston")).is_empty());
        assert!(siblings("anything", json!(true)).is_empty());
        // "cm" is a unit inside "6cm", not a member of "6cm and 10cm".
        assert!(siblings("base and height as 6cm and 10cm.", json!("cm")).is_empty());
        assert!(siblings(
            "a house of 3000 sq ft. in New York and 4000 sq ft. in Los Angeles",
            json!("New York")
        )
        .is_empty());
        // A place and its country, not two places.
        assert!(siblings(
            "the shortest path from Paris, France to Rome, Italy",
            json!("Paris")
        )
        .is_empty());
        // Formulas are not words.
        assert!(siblings("the intersection of y=3x+2 and y=2x+3", json!("y=3x+2")).is_empty());
        assert!(siblings("between x and y=2x+3", json!("x")).is_empty());
        // The two ends of a range.
        assert!(siblings("all primes between 50 and 150, then", json!(50)).is_empty());
        assert!(siblings(
            "the distance between the Louvre and the Eiffel Tower",
            json!("Louvre")
        )
        .is_empty());
        assert_eq!(
            siblings("primes in 50 and 150, then", json!(50)),
            vec![json!(150)]
        );
    }
}
