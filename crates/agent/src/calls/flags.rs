//! Optional flags set on that nobody asked for.
//!
//! Asked "What are the names of proteins found in the plasma membrane?", a small model fills
//! `include_description: true`; asked for "the market performance of the S&P 500 over the
//! past 5 days", `detailed: true`. A flag like these changes what the tool returns (longer
//! answers, other data) and its default is what the user gets unless they ask. A flag is
//! asked for by a word of its own name ("give me detail information" for `detail`) or of its
//! description that the tool's own name and description do not already hold ("including
//! the match statistics" for `include_stats`, described "If true, include match statistics
//! like possession"): words of the tool ("proteins" for a tool that lists proteins) tell
//! nothing of the flag.
//!
//! The other way round, a request may ask for a flag both on and off ("The process is
//! isothermal … What if the process is not isothermal?"; "without standardization … then
//! with standardization"): that is two calls, and a small model makes one ([`FlagMentions`]).
//! And a request that asks for a flag one way only ("the population and species of
//! turtles", "without its history") gets it that way, whatever the model set
//! ([`FlagMentions::as_written`]), and a flag every call left out that the request asks for
//! by its words ("please include a brief description of each protein") gets it on
//! ([`FlagMentions::asks_on`]).

use serde_json::Value;

use fulcrum_chat::ToolDefinition;

use super::asked::{is_telling, telling_words, tool_words};
use super::grounding::{
    latin_word_char, name_words, property, property_description, required_names, same_word_stem,
    Grounds,
};

/// Words that say what a flag is, not what it does ("Whether to…", "Default is false").
const FLAG_WORDS: &[&str] = &[
    "boolean",
    "default",
    "defaults",
    "enable",
    "enabled",
    "false",
    "flag",
    "included",
    "indicates",
    "indicating",
    "only",
    "option",
    "optional",
    "parameter",
    "returned",
    "true",
    "value",
    "values",
    "want",
    "whether",
];

/// Name words shorter than this tell nothing of a flag ("is", "get", "use").
const MIN_NAME_WORD_CHARS: usize = 4;

/// Words that turn a flag off where they stand shortly before its word ("is not isothermal",
/// "without applying standardization"); "t" is what is left of "don't", "isn't" at the
/// apostrophe; "few" is "not many" ("has few artistic interests"), but not in "a few".
const NEGATIONS: &[&str] = &["not", "no", "non", "never", "without", "t", "few"];

/// Verbs many flags' names start with ("include_images", "show_details"): written both ways
/// they may be about two flags ("don't include images, but include the descriptions").
const GENERIC_FLAG_VERBS: &[&str] = &["include", "return", "show", "allow", "enable", "give"];

/// How many words before a flag's word a negation still reaches ("I don't need the full
/// text").
const NEGATION_REACH: usize = 5;

/// Marks that end a sentence: a negation does not reach past one.
const SENTENCE_ENDS: &[char] = &['.', '?', '!', ';', '\n', '。', '？', '！', '；'];

/// The words of a text, sentence by sentence, read for the flags it asks for: both on and
/// off, or one way only.
#[derive(Debug, Clone)]
pub struct FlagMentions {
    sentences: Vec<Vec<String>>,
}

impl FlagMentions {
    pub fn new(text: &str) -> Self {
        let sentences = text
            .to_lowercase()
            .split(SENTENCE_ENDS)
            .map(|sentence| {
                sentence
                    // "don't" is "don" and "t": the apostrophe is no word character.
                    .split(|c: char| !latin_word_char(c))
                    .filter(|word| !word.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .collect();
        FlagMentions { sentences }
    }

    /// Whether the text writes a word of the flag `name` both as wanted and, in another
    /// place, as not: plainly once and after a negation once ("is isothermal" and "is not
    /// isothermal"), or "with and without" before it. One word of the name must be written
    /// both ways: "I don't need the full text" turns off `full_text` and says nothing for
    /// it, though "text" follows no negation directly.
    pub fn both_ways(&self, name: &str) -> bool {
        flag_name_words(name).any(|word| {
            let written = self.written(&word);
            written.plainly && written.negated
        })
    }

    /// The value the text asks for the flag `name` of the tool `tool_name`: `true` where it
    /// writes words of the flag's name only plainly ("the population and species of
    /// turtles" for `species`), `false` where only after a negation ("without their
    /// history" for `include_history`); `None` where it writes them both ways or not at all.
    /// Words of the tool's own name ("function" of `function_lookup`) and words any
    /// description uses tell nothing of the flag.
    pub fn as_written(&self, name: &str, tool_name: &str) -> Option<bool> {
        let tool_words = name_words(tool_name);
        let mut written = Written::default();
        for word in flag_name_words(name)
            .filter(|word| is_telling(word))
            .filter(|word| !tool_words.iter().any(|tool| same_word_stem(tool, word)))
        {
            let of_word = self.written(&word);
            written.plainly |= of_word.plainly;
            written.negated |= of_word.negated;
        }
        match (written.plainly, written.negated) {
            (true, false) => Some(true),
            (false, true) => Some(false),
            _ => None,
        }
    }

    /// Whether the text asks for the flag `name` of `tool` to be on, where a call leaves it
    /// out: an optional flag off by default, a word of which (of its name, or of its
    /// description that neither the tool's own words nor its other arguments' hold) the text
    /// writes plainly, and none after a negation ("please include a brief description of
    /// each protein" for `include_description`; "include the match statistics" for
    /// `include_stats`, described "include match statistics like possession").
    pub fn asks_on(&self, tool: &ToolDefinition, name: &str) -> bool {
        let schema = &tool.parameters;
        let Some(flag) = property(schema, name) else {
            return false;
        };
        if required_names(schema).contains(&name) || !is_flag_off_by_default(flag) {
            return false;
        }
        let tool_name = name_words(&tool.name);
        let other_arguments = other_argument_words(schema, name);
        let mut written = Written::default();
        for word in flag_words(name, flag, &tool_words(tool))
            .into_iter()
            .filter(|word| is_telling(word) && !GENERIC_FLAG_VERBS.contains(&word.as_str()))
            .filter(|word| !tool_name.iter().any(|tool| same_word_stem(tool, word)))
            .filter(|word| {
                !other_arguments
                    .iter()
                    .any(|other| same_word_stem(other, word))
            })
        {
            let of_word = self.written(&word);
            written.plainly |= of_word.plainly;
            written.negated |= of_word.negated;
        }
        written.plainly && !written.negated
    }

    /// How the text writes `word`: plainly somewhere, after a negation somewhere.
    fn written(&self, word: &str) -> Written {
        let mut written = Written::default();
        for sentence in &self.sentences {
            for (at, token) in sentence.iter().enumerate() {
                if !same_word_stem(word, token) {
                    continue;
                }
                let from = at.saturating_sub(NEGATION_REACH);
                let before = &sentence[from..at];
                let negation =
                    (0..before.len()).rposition(|offset| negates(sentence, from + offset));
                match negation {
                    Some(negation) => {
                        written.negated = true;
                        // "with and without standardization", "with or without".
                        written.plainly |= negation >= 2
                            && before[negation - 2] == "with"
                            && matches!(before[negation - 1].as_str(), "and" | "or");
                    }
                    None => written.plainly = true,
                }
            }
        }
        written
    }
}

/// Where a text writes a flag's word.
#[derive(Debug, Default, Clone, Copy)]
struct Written {
    plainly: bool,
    negated: bool,
}

/// Whether the word at `at` of `sentence` negates what follows: a negation, but not "No"
/// before a number ("Case No 28473" numbers a case) nor "few" after "a" or "quite".
fn negates(sentence: &[String], at: usize) -> bool {
    let word = sentence[at].as_str();
    let numbers_next = sentence
        .get(at + 1)
        .and_then(|next| next.chars().next())
        .is_some_and(|c| c.is_ascii_digit());
    let some = word == "few"
        && at
            .checked_sub(1)
            .is_some_and(|before| matches!(sentence[before].as_str(), "a" | "quite"));
    NEGATIONS.contains(&word) && !numbers_next && !some
}

/// The words of a flag's name that may tell it in a text: long enough, and neither a word
/// that says what a flag is nor a verb many flags start with.
fn flag_name_words(name: &str) -> impl Iterator<Item = String> {
    name_words(name)
        .into_iter()
        .filter(|word| word.chars().count() >= MIN_NAME_WORD_CHARS)
        .filter(|word| !FLAG_WORDS.contains(&word.as_str()))
        .filter(|word| !GENERIC_FLAG_VERBS.contains(&word.as_str()))
}

/// The words of the names and descriptions of the arguments of `schema` other than `name`:
/// a word that describes another argument ("the annual depreciation rate") tells nothing of
/// this one ("monthly depreciation instead of annually").
fn other_argument_words(schema: &Value, name: &str) -> Vec<String> {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    properties
        .iter()
        .filter(|(other, _)| other.as_str() != name)
        .flat_map(|(other, property)| {
            name_words(other)
                .into_iter()
                .chain(telling_words(property_description(property)))
        })
        .collect()
}

/// The value a boolean `property` has when a call leaves it out: `true` only where its
/// `default` or its description says so.
pub fn flag_default(property: &Value) -> bool {
    !is_flag_off_by_default(property)
        && property.get("type").and_then(Value::as_str) == Some("boolean")
}

/// The optional boolean arguments of `arguments` (a call of `tool`) set to `true` where
/// that is not their default, when the text names no word of the flag (see the module's
/// comment). A flag with no word to tell it by is kept, and so is every flag against text in
/// another script.
pub fn unasked_flags(grounds: &Grounds, tool: &ToolDefinition, arguments: &Value) -> Vec<String> {
    let Some(arguments) = arguments.as_object() else {
        return Vec::new();
    };
    // Most calls set no flag: the tool's words are read only for one that does.
    if grounds.reads_other_scripts() || !arguments.values().any(|value| *value == Value::Bool(true))
    {
        return Vec::new();
    }
    let schema = &tool.parameters;
    let required = required_names(schema);
    let tool_words = tool_words(tool);
    arguments
        .iter()
        .filter(|(name, value)| **value == Value::Bool(true) && !required.contains(&name.as_str()))
        .filter_map(|(name, _)| Some((name, property(schema, name)?)))
        .filter(|(_, flag)| is_flag_off_by_default(flag))
        .filter(|(name, flag)| {
            let words = flag_words(name, flag, &tool_words);
            !words.is_empty() && !words.iter().any(|word| grounds.names(word))
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// Whether `property` is a boolean whose default is not `true`, by its `default` or by its
/// description ("Default to true", "defaults to True").
fn is_flag_off_by_default(property: &Value) -> bool {
    if property.get("type").and_then(Value::as_str) != Some("boolean") {
        return false;
    }
    let default_true = match property.get("default") {
        Some(Value::Bool(default)) => *default,
        Some(Value::String(default)) => default.eq_ignore_ascii_case("true"),
        _ => false,
    };
    !default_true && !describes_default_true(property_description(property))
}

/// Whether `description` says the default is true: "true" among the few words after
/// "default".
fn describes_default_true(description: &str) -> bool {
    const WORDS_AFTER_DEFAULT: usize = 4;
    let words: Vec<String> = description
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect();
    words.iter().enumerate().any(|(at, word)| {
        word.starts_with("default")
            && words
                .iter()
                .skip(at + 1)
                .take(WORDS_AFTER_DEFAULT)
                .any(|next| next == "true")
    })
}

/// The words that ask for the flag `name`: those of its name, and those of its description
/// that the tool's own words (`tool_words`) do not hold.
fn flag_words(name: &str, property: &Value, tool_words: &[String]) -> Vec<String> {
    let own_name = name_words(name)
        .into_iter()
        .filter(|word| word.chars().count() >= MIN_NAME_WORD_CHARS);
    let described = telling_words(property_description(property))
        .into_iter()
        .filter(|word| !tool_words.iter().any(|tool| same_word_stem(tool, word)));
    own_name
        .chain(described)
        .filter(|word| !FLAG_WORDS.contains(&word.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn proteins() -> ToolDefinition {
        ToolDefinition {
            name: "cellbio.get_proteins".into(),
            description: Some("Get the list of proteins in a specific cell compartment.".into()),
            parameters: json!({
                "type": "object",
                "properties": {
                    "cell_compartment": {"type": "string", "description": "The cell compartment."},
                    "include_description": {
                        "type": "boolean",
                        "description": "Set true if you want a brief description of each protein.",
                        "default": "false"
                    },
                    "sorted": {"type": "boolean", "description": "Sort them. Defaults to true."}
                },
                "required": ["cell_compartment"]
            }),
            strict: false,
        }
    }

    fn unasked(message: &str, arguments: Value) -> Vec<String> {
        unasked_flags(&Grounds::new(message), &proteins(), &arguments)
    }

    #[test]
    fn a_flag_the_message_names_no_word_of_is_unasked() {
        let arguments = json!({"cell_compartment": "plasma membrane", "include_description": true});
        assert_eq!(
            unasked(
                "What are the names of proteins found in the plasma membrane?",
                arguments
            ),
            vec!["include_description".to_string()]
        );
    }

    #[test]
    fn a_flag_named_by_its_name_or_its_own_description_stays() {
        let arguments = json!({"cell_compartment": "plasma membrane", "include_description": true});
        for message in [
            "List the proteins of the plasma membrane with their descriptions.",
            "Proteins of the plasma membrane, each with a brief note.",
        ] {
            assert!(unasked(message, arguments.clone()).is_empty(), "{message}");
        }
    }

    #[test]
    fn false_flags_defaults_and_required_flags_stay() {
        let message = "What are the names of proteins found in the plasma membrane?";
        assert!(unasked(message, json!({"include_description": false})).is_empty());
        assert!(unasked(message, json!({"sorted": true})).is_empty());
        let mut tool = proteins();
        tool.parameters["required"] = json!(["cell_compartment", "include_description"]);
        let arguments = json!({"cell_compartment": "plasma membrane", "include_description": true});
        assert!(unasked_flags(&Grounds::new(message), &tool, &arguments).is_empty());
    }

    #[test]
    fn a_flag_is_asked_both_ways_where_one_word_of_it_is_written_plainly_and_negated() {
        let both = |text: &str, name: &str| FlagMentions::new(text).both_ways(name);
        let entropy = "The process is isothermal. Can you calculate the entropy change? What if the process is not isothermal?";
        assert!(both(entropy, "isothermal"));
        assert!(both(
            "Fit it without applying standardization on the predictors. Then fit it again with standardization applied.",
            "standardize"
        ));
        assert!(both(
            "Run it with and without standardization.",
            "standardize"
        ));
        assert!(both(
            "The forecast considering the impact of human activities, then without considering human impact.",
            "include_human_impact"
        ));
        // One way only.
        assert!(!both("The process is isothermal.", "isothermal"));
        assert!(!both(
            "What if the process is not isothermal?",
            "isothermal"
        ));
        // "text" after "the full" in "I don't need the full text" is negated too: no word of
        // `full_text` is written plainly.
        assert!(!both(
            "I don't need the full text of the ruling. Who won?",
            "full_text"
        ));
        // A negation does not reach into the next sentence.
        assert!(!both("Not now. Isothermal, please.", "isothermal"));
        // A verb many flags start with is no word of this one.
        assert!(!both(
            "Don't include images, but include the descriptions.",
            "include_images"
        ));
        // Words shorter than four letters or of any flag say nothing.
        assert!(!both("Is it on? It is not on.", "is_on"));
    }

    #[test]
    fn a_flag_is_asked_as_its_words_are_written() {
        let written =
            |text: &str, name: &str, tool: &str| FlagMentions::new(text).as_written(name, tool);
        let turtles =
            "Find out the population and species of turtles in Mississippi river in 2020.";
        assert_eq!(
            written(turtles, "species", "ecology.get_turtle_population"),
            Some(true)
        );
        assert_eq!(
            written(
                "The latest game score, individual player stats, and team stats",
                "include_player_stats",
                "get_team_score"
            ),
            Some(true)
        );
        assert_eq!(
            written(
                "The details of case 28473, but without its history.",
                "include_history",
                "law_case.get_details"
            ),
            Some(false)
        );
        // "No" before a number numbers a case: the history is asked for.
        assert_eq!(
            written(
                "Case law details of Case No 28473 and 64725, their history and litigants",
                "include_history",
                "law_case.get_details"
            ),
            Some(true)
        );
        // "Few" is "not many"; "a few" is some.
        let traits =
            "I'm talkative, gets nervous easily, has few artistic interests, tend to be lazy";
        let five = "five_factor_model.analyse";
        assert_eq!(written(traits, "artistic_interests", five), Some(false));
        assert_eq!(written(traits, "talkative", five), Some(true));
        assert_eq!(written(traits, "lazy", five), Some(true));
        assert_eq!(
            written(
                "I have a few artistic interests",
                "artistic_interests",
                five
            ),
            Some(true)
        );
        // Both ways, or not at all: nothing to say.
        assert_eq!(
            written(
                "The process is isothermal. What if it is not isothermal?",
                "isothermal",
                "entropy_change"
            ),
            None
        );
        assert_eq!(
            written(turtles, "detailed", "ecology.get_turtle_population"),
            None
        );
        // A word of the tool's own name, or one any description uses, tells nothing.
        assert_eq!(
            written(
                "What is the function of ATP synthase in mitochondria?",
                "specific_function",
                "cell_biology.function_lookup"
            ),
            None
        );
        assert_eq!(
            written(
                "The population of turtles",
                "population_only",
                "get_population"
            ),
            None
        );
    }

    fn match_details() -> ToolDefinition {
        ToolDefinition {
            name: "soccer.get_last_match".into(),
            description: Some(
                "Retrieve the details of the last match played by a soccer club.".into(),
            ),
            parameters: json!({
                "type": "object",
                "properties": {
                    "team_name": {"type": "string", "description": "The name of the soccer club."},
                    "include_stats": {
                        "type": "boolean",
                        "description": "If true, include match statistics like possession, shots on target etc. Default is false."
                    },
                    "monthly": {
                        "type": "boolean",
                        "description": "If true, the team's monthly form instead of its season's."
                    }
                },
                "required": ["team_name"]
            }),
            strict: false,
        }
    }

    #[test]
    fn a_flag_is_asked_on_by_a_word_of_its_name_or_its_own_description_written_plainly() {
        let asks = |text: &str, tool: &ToolDefinition, name: &str| {
            FlagMentions::new(text).asks_on(tool, name)
        };
        let proteins = proteins();
        assert!(asks(
            "List the proteins in the nucleus. And please include a brief description of each protein.",
            &proteins,
            "include_description"
        ));
        let club = match_details();
        assert!(asks(
            "The last match of Manchester United? Also, include the match statistics.",
            &club,
            "include_stats"
        ));
        // "include" starts many flags and "match" is the tool's own word: they ask for nothing.
        assert!(!asks(
            "Include the last match of Manchester United.",
            &club,
            "include_stats"
        ));
        assert!(!asks(
            "The last match of Manchester United, without the statistics.",
            &club,
            "include_stats"
        ));
        assert!(!asks(
            "List the proteins in the nucleus.",
            &proteins,
            "include_description"
        ));
    }

    #[test]
    fn a_flag_on_by_default_required_or_named_by_another_arguments_word_is_not_asked_on() {
        let asks = |text: &str, tool: &ToolDefinition, name: &str| {
            FlagMentions::new(text).asks_on(tool, name)
        };
        assert!(!asks(
            "Sort the proteins of the nucleus.",
            &proteins(),
            "sorted"
        ));
        let mut required = proteins();
        required.parameters["required"] = json!(["cell_compartment", "include_description"]);
        assert!(!asks(
            "The proteins of the nucleus with a brief description.",
            &required,
            "include_description"
        ));
        // "team" describes `team_name` too: it tells nothing of the flag.
        let club = match_details();
        assert!(!asks("The team's last match.", &club, "monthly"));
        assert!(asks(
            "The last match of Arsenal this month, monthly.",
            &club,
            "monthly"
        ));
    }

    #[test]
    fn text_in_another_script_cannot_tell() {
        let arguments = json!({"cell_compartment": "质膜", "include_description": true});
        assert!(unasked("质膜里有哪些蛋白质？", arguments).is_empty());
    }
}
