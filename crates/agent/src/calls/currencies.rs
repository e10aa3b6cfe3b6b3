//! Currencies by their ISO 4217 codes.
//!
//! Asked to "convert 5000 Japanese Yen to United States Dollar", a small model writes the
//! names into `base_currency` and `target_currency`; asked for "euros to US dollars",
//! `"euros"` and `"us_dollars"`. Exchange-rate services take the three-letter codes. A string
//! argument named for a currency (`currency`, `from_currency`, `base_currency`) that holds a
//! currency's name (or its code in lower case) is given the code: "Japanese Yen" → `JPY`,
//! "euros" → `EUR`. A bare "dollars" is the US dollar only where the conversation names no
//! other dollar ("Canadian dollars"): which one is meant is the user's to say.

use serde_json::Value;

use super::grounding::{property, Grounds};

/// Codes and the names a currency goes by (lowercase, words separated by one space).
const CURRENCIES: &[(&str, &[&str])] = &[
    (
        "USD",
        &[
            "us dollar",
            "us dollars",
            "u.s. dollar",
            "u.s. dollars",
            "united states dollar",
            "united states dollars",
            "american dollar",
            "american dollars",
            "usd",
        ],
    ),
    ("EUR", &["euro", "euros", "eur"]),
    (
        "GBP",
        &[
            "british pound",
            "british pounds",
            "pound sterling",
            "pounds sterling",
            "sterling",
            "uk pound",
            "uk pounds",
            "gbp",
        ],
    ),
    ("JPY", &["japanese yen", "yen", "jpy"]),
    (
        "CNY",
        &["chinese yuan", "yuan", "renminbi", "rmb", "cny", "人民币"],
    ),
    ("CAD", &["canadian dollar", "canadian dollars", "cad"]),
    ("AUD", &["australian dollar", "australian dollars", "aud"]),
    ("NZD", &["new zealand dollar", "new zealand dollars", "nzd"]),
    ("HKD", &["hong kong dollar", "hong kong dollars", "hkd"]),
    ("SGD", &["singapore dollar", "singapore dollars", "sgd"]),
    ("CHF", &["swiss franc", "swiss francs", "chf"]),
    ("INR", &["indian rupee", "indian rupees", "inr"]),
    ("KRW", &["south korean won", "korean won", "krw"]),
    ("MXN", &["mexican peso", "mexican pesos", "mxn"]),
    ("BRL", &["brazilian real", "brazilian reais", "brl"]),
    (
        "RUB",
        &[
            "russian ruble",
            "russian rubles",
            "russian rouble",
            "russian roubles",
            "rub",
        ],
    ),
    ("SEK", &["swedish krona", "swedish kronor", "sek"]),
];

/// Names of a dollar that is not the US dollar: where the text has one, a bare "dollars" is
/// not read as USD.
const OTHER_DOLLARS: &[&str] = &[
    "canadian",
    "australian",
    "new zealand",
    "hong kong",
    "singapore",
    "taiwan",
];

/// Names that stand for the US dollar where no other dollar is named.
const BARE_DOLLARS: &[&str] = &["dollar", "dollars"];

/// For each string argument of `arguments` (a tool with parameter schema `schema`) named for a
/// currency and not a choice among an enum's values, that holds a currency's name or its code
/// in another case: the argument and the code (see the module's comment).
pub fn currencies_as_codes(
    grounds: &Grounds,
    arguments: &Value,
    schema: &Value,
) -> Vec<(String, String)> {
    let Some(arguments) = arguments.as_object() else {
        return Vec::new();
    };
    arguments
        .iter()
        .filter(|(name, _)| name.to_lowercase().contains("currency"))
        .filter(|(name, _)| property(schema, name).is_none_or(|p| p.get("enum").is_none()))
        .filter_map(|(name, value)| {
            let written = value.as_str()?;
            let code = code_of(written, grounds)?;
            (code != written).then(|| (name.clone(), code.to_string()))
        })
        .collect()
}

/// The code of the currency `text` names, where it names one.
fn code_of(text: &str, grounds: &Grounds) -> Option<&'static str> {
    let name = text
        .to_lowercase()
        .replace(['_', '-'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let name = name.strip_prefix("the ").unwrap_or(&name);
    if let Some((code, _)) = CURRENCIES.iter().find(|(_, names)| names.contains(&name)) {
        return Some(code);
    }
    if !BARE_DOLLARS.contains(&name) {
        return None;
    }
    let another_dollar = OTHER_DOLLARS.iter().any(|other| {
        grounds.writes_words(&format!("{other} dollar"))
            || grounds.writes_words(&format!("{other} dollars"))
    });
    (!another_dollar).then_some("USD")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn exchange() -> Value {
        json!({
            "type": "object",
            "properties": {
                "base_currency": {"type": "string", "description": "The currency to convert from."},
                "target_currency": {"type": "string"},
                "amount": {"type": "number"},
                "note": {"type": "string"},
                "pair_currency": {"type": "string", "enum": ["euros", "dollars"]}
            }
        })
    }

    fn coded(message: &str, arguments: Value) -> Vec<(String, String)> {
        let mut coded = currencies_as_codes(&Grounds::new(message), &arguments, &exchange());
        coded.sort();
        coded
    }

    #[test]
    fn currency_names_are_given_their_codes() {
        assert_eq!(
            coded(
                "Convert 20000 Japanese Yen to United States Dollar",
                json!({"base_currency": "Japanese Yen", "target_currency": "United States Dollar", "amount": 20000})
            ),
            vec![
                ("base_currency".to_string(), "JPY".to_string()),
                ("target_currency".to_string(), "USD".to_string())
            ]
        );
        assert_eq!(
            coded(
                "200 euros in US dollars",
                json!({"base_currency": "euros", "target_currency": "us_dollars"})
            ),
            vec![
                ("base_currency".to_string(), "EUR".to_string()),
                ("target_currency".to_string(), "USD".to_string())
            ]
        );
        // A code in lower case is written as a code.
        assert_eq!(
            coded("200 gbp to usd", json!({"base_currency": "gbp"})),
            vec![("base_currency".to_string(), "GBP".to_string())]
        );
    }

    #[test]
    fn codes_unknown_names_other_arguments_and_choices_are_left_alone() {
        assert!(coded(
            "EUR to USD",
            json!({"base_currency": "EUR", "target_currency": "USD"})
        )
        .is_empty());
        assert!(coded("Bitcoin to EUR", json!({"base_currency": "Bitcoin"})).is_empty());
        assert!(coded("euros", json!({"note": "euros", "pair_currency": "euros"})).is_empty());
    }

    #[test]
    fn a_bare_dollar_is_the_us_dollar_unless_another_dollar_is_named() {
        assert_eq!(
            coded(
                "100 euros in dollars",
                json!({"target_currency": "dollars"})
            ),
            vec![("target_currency".to_string(), "USD".to_string())]
        );
        assert!(coded(
            "100 euros in Canadian dollars",
            json!({"target_currency": "dollars"})
        )
        .is_empty());
    }
}
