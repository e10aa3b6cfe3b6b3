//! Whether a function is named for the opposite of what the user's message asks:
//! `calculate_sunrise` for "When will the sun set in Beijing today?",
//! `thermodynamics.calculate_boiling_point` for "the freezing point of water",
//! `game_tracker.high_score` for "the lowest score". Its values are the user's and the request
//! reads much like its description, so grounding and the relevance score both keep it; the
//! one word that tells them apart is a word and its opposite.

use super::grounding::{latin_words, name_words};

/// Pairs of opposites, each side with its inflections. Only pairs whose sides never serve
/// each other's request: opening hours do tell when a shop closes, a profit may be a loss,
/// and a start date sits beside an end date, so those are not here; nor are adjectives that
/// also measure ("how long", "a small business"), which are here as superlatives only.
const OPPOSITES: &[(&[&str], &[&str])] = &[
    (&["high", "higher", "highest"], &["low", "lower", "lowest"]),
    (
        &["max", "maximum", "maximal", "maximize", "maximise"],
        &["min", "minimum", "minimal", "minimize", "minimise"],
    ),
    (&["internal"], &["external"]),
    (
        &["boil", "boils", "boiling"],
        &["freeze", "freezes", "freezing"],
    ),
    (&["sunrise"], &["sunset"]),
    (
        &["buy", "buys", "buying", "bought", "buyer"],
        &["sell", "sells", "selling", "sold", "seller"],
    ),
    (
        &["import", "imports", "importer"],
        &["export", "exports", "exporter"],
    ),
    (
        &["increase", "increases", "increasing"],
        &["decrease", "decreases", "decreasing"],
    ),
    (&["ascending"], &["descending"]),
    (&["top"], &["bottom"]),
    (&["best"], &["worst"]),
    (&["most"], &["least", "fewest"]),
    (&["largest", "biggest"], &["smallest"]),
    (&["longest"], &["shortest"]),
    (&["fastest"], &["slowest"]),
    (&["cheapest"], &["priciest", "dearest"]),
    (&["earliest"], &["latest"]),
    (&["encrypt", "encryption"], &["decrypt", "decryption"]),
    (&["encode", "encoding"], &["decode", "decoding"]),
    (
        &["compress", "compression"],
        &["decompress", "decompression"],
    ),
    (&["upload", "uploads"], &["download", "downloads"]),
    (
        &["deposit", "deposits"],
        &["withdraw", "withdrawal", "withdrawals"],
    ),
    (&["winner", "winners"], &["loser", "losers"]),
    (&["enable"], &["disable"]),
];

/// The word of `function`'s name and the opposite `message` writes in its place, where the
/// name holds one side of a pair and the message only the other side: the function does
/// what the user asked the reverse of. A name holding both sides (`sunrise_and_sunset`)
/// serves either.
pub(super) fn named_for_the_opposite(function: &str, message: &str) -> Option<(String, String)> {
    let name = name_words(function);
    let written = latin_words(&message.to_lowercase());
    let holds = |words: &[String], side: &[&str]| {
        words
            .iter()
            .find(|word| side.contains(&word.as_str()))
            .cloned()
    };
    OPPOSITES.iter().find_map(|(one, other)| {
        [(*one, *other), (*other, *one)]
            .into_iter()
            .find_map(|(side, opposite)| {
                let named = holds(&name, side)?;
                let asked = holds(&written, opposite)?;
                (holds(&name, opposite).is_none() && holds(&written, side).is_none())
                    .then_some((named, asked))
            })
    })
}

#[cfg(test)]
mod tests {
    use super::named_for_the_opposite;

    #[test]
    fn a_function_named_for_the_opposite_of_the_request_is_found_with_both_words() {
        assert_eq!(
            named_for_the_opposite("calculate_sunrise", "When will be sunset in Beijing today?"),
            Some(("sunrise".into(), "sunset".into()))
        );
        assert_eq!(
            named_for_the_opposite(
                "game_tracker.high_score",
                "What's the lowest score in the Flappy Bird game?"
            ),
            Some(("high".into(), "lowest".into()))
        );
        assert!(named_for_the_opposite(
            "calculate_internal_rate_of_return",
            "What is the external rate of return for cash flows of -100, 40 and 60?"
        )
        .is_some());
    }

    #[test]
    fn a_name_or_a_message_holding_both_sides_or_neither_is_no_opposite() {
        for (function, message) in [
            ("calculate_sunrise_and_sunset", "When is sunset in Paris?"),
            (
                "get_max_temperature",
                "The highest and lowest maximum temperature",
            ),
            (
                "thermodynamics.calculate_boiling_point",
                "The boiling point of water",
            ),
            ("get_store_hours", "When does the store close?"),
            ("find_top_players", "Who are the best chess players?"),
        ] {
            assert_eq!(
                named_for_the_opposite(function, message),
                None,
                "{function}"
            );
        }
    }
}
