//! Whether the user's message asks for a function other than those already called.
//!
//! Asked for one more call, a small model picks some other function and fills it from the
//! request (`restaurant_info(location="New York")` for "art exhibitions at the Museum of
//! Modern Art, New York"): its values are the user's, so grounding keeps it. What tells such a
//! call from the second part of "do this, and also that" is whether the message speaks of what
//! the function is about: a word of its name or description that the message holds and the
//! functions already called do not ("the energy to heat water, and the **temperature** in
//! kelvin"). Words any tool's description uses ("calculate", "given", "specific") and English
//! function words tell nothing and are skipped.

use std::collections::HashSet;

use fulcrum_chat::ToolDefinition;

use super::grounding::{name_words, same_word_stem};
use crate::language::Language;

/// Words shorter than this tell nothing of a function ("get", "for", "id").
const MIN_WORD_CHARS: usize = 4;

/// English function words, and the words tool descriptions use for what any function does.
const UNTELLING_WORDS: &[&str] = &[
    "about",
    "after",
    "also",
    "another",
    "based",
    "been",
    "before",
    "being",
    "between",
    "both",
    "calculate",
    "calculates",
    "calculation",
    "certain",
    "could",
    "details",
    "does",
    "each",
    "fetch",
    "fetches",
    "find",
    "finds",
    "from",
    "function",
    "gets",
    "given",
    "have",
    "information",
    "into",
    "like",
    "more",
    "most",
    "other",
    "over",
    "particular",
    "please",
    "provide",
    "provided",
    "provides",
    "retrieve",
    "retrieves",
    "return",
    "returns",
    "should",
    "some",
    "specific",
    "specified",
    "such",
    "than",
    "that",
    "their",
    "them",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "using",
    "what",
    "when",
    "where",
    "which",
    "while",
    "will",
    "with",
    "would",
    "your",
];

/// The message a call answers, read for what it asks about.
#[derive(Debug, Clone)]
pub struct AskedFunctions {
    language: Language,
    /// English: the message's telling words, lowercased.
    words: Vec<String>,
    /// Chinese: the message's pairs of Han characters in a row.
    han_pairs: HashSet<String>,
    /// The message lowercased, dots as underscores: where it writes a tool's identifier.
    identifiers: String,
}

impl AskedFunctions {
    /// Whether the message is read by its words (English); a Chinese message's values are
    /// found inside runs of characters with no word to bound them.
    pub fn reads_words(&self) -> bool {
        self.language == Language::English
    }

    pub fn new(message: &str) -> Self {
        AskedFunctions {
            language: Language::of(message),
            words: telling_words(message),
            han_pairs: han_pairs(message),
            identifiers: as_identifier(message),
        }
    }

    /// Whether the message asks for `tool` beyond the functions `called`: it holds a word of
    /// the tool's name or description that theirs do not. `None` when that cannot be told
    /// (a Chinese message and a tool described in English only).
    pub fn asks_for(&self, tool: &ToolDefinition, called: &[&ToolDefinition]) -> Option<bool> {
        match self.language {
            Language::English => {
                let earlier: Vec<String> = called.iter().flat_map(|t| tool_words(t)).collect();
                Some(tool_words(tool).iter().any(|word| {
                    self.words.iter().any(|w| same_word_stem(w, word))
                        && !earlier.iter().any(|e| same_word_stem(e, word))
                }))
            }
            Language::Chinese => {
                let own = han_pairs(&tool_text(tool));
                if own.is_empty() {
                    return None;
                }
                let earlier: HashSet<String> = called
                    .iter()
                    .flat_map(|t| han_pairs(&tool_text(t)))
                    .collect();
                Some(
                    own.iter()
                        .any(|pair| self.han_pairs.contains(pair) && !earlier.contains(pair)),
                )
            }
        }
    }
}

/// The fewest telling words a function's name must have to be named by a message writing
/// them all: one word ("time", "case") is a topic, not a request.
const NAMING_WORDS: usize = 2;

impl AskedFunctions {
    /// Whether the message names `tool`: writes its identifier ("use the 'sum_elements'
    /// function"), or, in English, every telling word of its name, two at least ("the
    /// latest exchange rate" names `latest_exchange_rate`).
    pub fn names(&self, tool: &ToolDefinition) -> bool {
        if self.writes_identifier(&tool.name) {
            return true;
        }
        if self.language != Language::English {
            return false;
        }
        let words: Vec<String> = name_words(&tool.name)
            .iter()
            .map(|word| word.to_lowercase())
            .filter(|word| is_telling(word))
            .collect();
        words.len() >= NAMING_WORDS
            && words
                .iter()
                .all(|word| self.words.iter().any(|w| same_word_stem(w, word)))
    }

    /// Whether the message writes `name`, an identifier of two words or more, as a whole
    /// (dots and underscores alike: BFCL's `math.hypot` is served as `math_hypot`).
    fn writes_identifier(&self, name: &str) -> bool {
        let name = as_identifier(name);
        if !name.contains('_') {
            return false;
        }
        let part_of_identifier = |c: char| c.is_alphanumeric() || c == '_';
        self.identifiers.match_indices(&name).any(|(at, _)| {
            let before = self.identifiers[..at].chars().next_back();
            let after = self.identifiers[at + name.len()..].chars().next();
            !before.is_some_and(part_of_identifier) && !after.is_some_and(part_of_identifier)
        })
    }
}

fn as_identifier(text: &str) -> String {
    text.to_lowercase().replace('.', "_")
}

fn tool_text(tool: &ToolDefinition) -> String {
    format!(
        "{} {}",
        tool.name,
        tool.description.as_deref().unwrap_or_default()
    )
}

/// A tool's telling words: of its name (split as [`name_words`] splits it) and description.
pub(super) fn tool_words(tool: &ToolDefinition) -> Vec<String> {
    let description = tool.description.as_deref().unwrap_or_default();
    telling_words(&format!(
        "{} {description}",
        name_words(&tool.name).join(" ")
    ))
}

pub(super) fn telling_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .map(str::to_lowercase)
        .filter(|word| is_telling(word))
        .collect()
}

/// Whether a lowercased word may tell one function from another: long enough, and not an
/// English function word nor one any tool's description uses.
pub(super) fn is_telling(word: &str) -> bool {
    word.len() >= MIN_WORD_CHARS && !UNTELLING_WORDS.contains(&word)
}

fn han_pairs(text: &str) -> HashSet<String> {
    let han: Vec<char> = text.chars().collect();
    han.windows(2)
        .filter(|pair| pair.iter().all(|c| crate::language::is_han(*c)))
        .map(|pair| pair.iter().collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tool(name: &str, description: &str) -> ToolDefinition {
        ToolDefinition {
            name: name.into(),
            description: Some(description.into()),
            parameters: json!({"type": "object"}),
            strict: false,
        }
    }

    #[test]
    fn another_function_is_asked_for_by_a_word_the_called_ones_lack() {
        let exhibitions = tool(
            "exhibition_info",
            "Get exhibition information for a specific museum.",
        );
        let restaurants = tool(
            "restaurant_info",
            "Get restaurant information for a specific area.",
        );
        let message = AskedFunctions::new(
            "Find art exhibitions for the upcoming month in the Museum of Modern Art, New York.",
        );
        assert_eq!(message.asks_for(&restaurants, &[&exhibitions]), Some(false));
        let both = AskedFunctions::new(
            "Find art exhibitions at the Museum of Modern Art and a restaurant near it.",
        );
        assert_eq!(both.asks_for(&restaurants, &[&exhibitions]), Some(true));
    }

    #[test]
    fn a_word_the_called_function_also_holds_does_not_ask_for_another() {
        let forecast = tool(
            "corporate_finance.revenue_forecast",
            "Estimate the revenue of a company by multiplying the sales units of the product \
             with its selling price.",
        );
        let price = tool(
            "corporate_finance.product_price",
            "Fetch the current selling price of the product.",
        );
        let message = AskedFunctions::new(
            "How much revenue would company XYZ generate if we increase the sales units of \
             product A by 10% while keeping the price the same?",
        );
        assert_eq!(message.asks_for(&price, &[&forecast]), Some(false));
    }

    #[test]
    fn words_of_a_name_count_and_endings_do_not_matter() {
        let weather = tool("getWeather", "Current conditions for a city.");
        let time = tool("getLocalTime", "The time of day somewhere.");
        let message = AskedFunctions::new("What's the weather in Paris and the local time there?");
        assert_eq!(message.asks_for(&time, &[&weather]), Some(true));
        let plural = AskedFunctions::new("Any exhibitions in Boston?");
        let exhibitions = tool("exhibition_info", "Museum shows.");
        assert_eq!(plural.asks_for(&exhibitions, &[]), Some(true));
        let generic = AskedFunctions::new("Calculate something specific, given this.");
        let area = tool(
            "area",
            "Calculate the area of a specific shape given its sides.",
        );
        assert_eq!(generic.asks_for(&area, &[]), Some(false));
    }

    #[test]
    fn a_message_names_a_function_by_every_telling_word_of_its_name() {
        let rate = tool("latest_exchange_rate", "Retrieve the latest exchange rate.");
        let asked = AskedFunctions::new("Get me the latest exchange rate from Pounds to Yen.");
        assert!(asked.names(&rate));
        let traits = tool("get_personality_traits", "Traits of a personality type.");
        let asked =
            AskedFunctions::new("Get me strength and weakness traits for ENFJ personality type.");
        assert!(asked.names(&traits));
        // One word of two is a topic.
        assert!(!AskedFunctions::new("What is the exchange of gifts at Christmas?").names(&rate));
        // A name of one telling word ("time") is never named so.
        let time = tool("calculate_time", "Time to cover a distance.");
        assert!(!AskedFunctions::new("What's the time right now?").names(&time));
        // Nor in Chinese.
        assert!(
            !AskedFunctions::new("请帮我查一下最新的英镑兑日元的汇率 (latest exchange rate)")
                .names(&rate)
        );
        // Its identifier names it in any language, and only as a whole.
        let sum = tool("sum_elements", "Add the elements of a list.");
        let asked = AskedFunctions::new("First use the 'sum_elements' function on [5, 10].");
        assert!(asked.names(&sum));
        assert!(AskedFunctions::new("请用 sum_elements 计算 [5, 10] 的和").names(&sum));
        assert!(!AskedFunctions::new("Use my_sum_elements_v2 on [5, 10].").names(&sum));
        let hypot = tool("math_hypot", "The Euclidean norm.");
        assert!(AskedFunctions::new("Use math.hypot for (3, 4).").names(&hypot));
    }

    #[test]
    fn a_chinese_message_is_read_by_character_pairs_or_not_at_all() {
        let orders = tool("get_order", "查询订单状态 Look up an order.");
        let rooms = tool("query_meeting_room", "查询会议室 Find meeting rooms.");
        let message = AskedFunctions::new("订单 12345 现在是什么状态？");
        assert_eq!(message.asks_for(&rooms, &[]), Some(false));
        assert_eq!(message.asks_for(&orders, &[]), Some(true));
        let english_only = tool("get_stock", "Stock level of a product.");
        assert_eq!(message.asks_for(&english_only, &[&orders]), None);
    }
}
