//! How facts are written (the forms the model is shown and asked to copy), and the check that
//! every number in the model's prose is one of them.

use crate::facts::{Breakdown, Facts};

/// "12.35 million CNY".
pub fn money(cny: f64) -> String {
    format!("{:.2} million CNY", cny / 1e6)
}

/// "+8.3%" / "-4.1%".
pub fn change(pct: f64) -> String {
    format!("{pct:+.1}%")
}

/// "31.2%".
pub fn share(pct: f64) -> String {
    format!("{pct:.1}%")
}

/// "12,345".
pub fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// A number the prose may use: its value and the decimals it was shown with.
#[derive(Debug, Clone, Copy)]
struct Allowed {
    value: f64,
    decimals: u32,
}

/// The numbers of the facts (as shown), plus those of the period and of names.
#[derive(Debug, Clone)]
pub struct NumberCheck {
    allowed: Vec<Allowed>,
}

impl NumberCheck {
    pub fn new(facts: &Facts) -> Self {
        let mut allowed = Vec::new();
        let mut add = |value: f64, decimals: u32| {
            allowed.push(Allowed {
                value: value.abs(),
                decimals,
            });
        };
        let add_money = |add: &mut dyn FnMut(f64, u32), cny: f64| {
            add(cny / 1e6, 2);
            add(cny, 2);
        };
        for cny in [
            facts.revenue,
            facts.previous_revenue,
            facts.year_ago_revenue,
        ] {
            add_money(&mut add, cny);
        }
        add(facts.units as f64, 0);
        add(facts.mom_pct, 1);
        add(facts.yoy_pct, 1);
        let all = facts
            .regions
            .iter()
            .chain(&facts.channels)
            .chain(&facts.products);
        for entry in all {
            add_money(&mut add, entry.revenue);
            add(entry.units as f64, 0);
            add(entry.share_pct, 1);
            if let Some(yoy) = entry.yoy_pct {
                add(yoy, 1);
            }
        }
        for notable in &facts.notable {
            add_money(&mut add, notable.revenue);
            add(notable.yoy_pct, 1);
            add(notable.product_yoy_pct, 1);
        }
        for (_, revenue) in &facts.trend {
            add_money(&mut add, *revenue);
        }
        // The period, counts of things ("the top 3 products"), and numbers inside names
        // ("Mate 60").
        for year in [facts.month.year, facts.month.year - 1] {
            add(f64::from(year), 0);
        }
        add(f64::from(facts.month.month), 0);
        for small in 0..=12 {
            add(f64::from(small), 0);
        }
        let names = facts
            .regions
            .iter()
            .chain(&facts.channels)
            .chain(&facts.products);
        for name in names.map(|b| b.name.as_str()) {
            for token in numbers_in(name) {
                add(token.value, token.decimals);
            }
        }
        NumberCheck { allowed }
    }

    /// The numbers in `text` that no fact supports, as written.
    pub fn unsupported(&self, text: &str) -> Vec<String> {
        numbers_in(text)
            .into_iter()
            .filter(|n| !self.allowed.iter().any(|a| supports(*a, n)))
            .map(|n| n.text)
            .collect()
    }
}

/// `n` is `allowed` as shown, or rounded to fewer decimals ("8%" for "+8.3%").
fn supports(allowed: Allowed, n: &Written) -> bool {
    if n.decimals > allowed.decimals {
        return false;
    }
    let scale = 10f64.powi(n.decimals as i32);
    let rounded = (allowed.value * scale).round() / scale;
    // Either rounding direction of a value that sits on a half.
    (rounded - n.value).abs() < 0.5 / scale + 1e-9
        && (allowed.value - n.value).abs() <= 0.5 / scale + 1e-9
}

#[derive(Debug, Clone)]
struct Written {
    text: String,
    value: f64,
    decimals: u32,
}

/// Numbers as a reader sees them: digits with thousands commas and a decimal part; digits
/// glued to letters ("S24", "Q1") belong to a name and are skipped.
fn numbers_in(text: &str) -> Vec<Written> {
    let chars: Vec<char> = text.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() || (i > 0 && chars[i - 1].is_alphanumeric()) {
            i += 1;
            continue;
        }
        let start = i;
        let mut raw = String::new();
        let mut decimals = 0u32;
        let mut seen_point = false;
        while i < chars.len() {
            let c = chars[i];
            let next_is_digit = chars.get(i + 1).is_some_and(char::is_ascii_digit);
            if c.is_ascii_digit() {
                raw.push(c);
                if seen_point {
                    decimals += 1;
                }
            } else if c == ',' && !seen_point && next_is_digit {
                // thousands separator
            } else if c == '.' && !seen_point && next_is_digit {
                seen_point = true;
                raw.push('.');
            } else {
                break;
            }
            i += 1;
        }
        if chars.get(i).is_some_and(|c| c.is_alphabetic()) {
            continue;
        }
        if let Ok(value) = raw.parse::<f64>() {
            found.push(Written {
                text: chars[start..i].iter().collect(),
                value,
                decimals,
            });
        }
    }
    found
}

/// The facts as the model is shown them, one line each, for the given groups.
pub fn fact_lines(facts: &Facts, groups: &[String]) -> Vec<String> {
    let mut lines = Vec::new();
    let yoy = |b: &Breakdown| {
        b.yoy_pct
            .map_or_else(String::new, |p| format!(", {} year on year", change(p)))
    };
    for group in groups {
        match group.as_str() {
            "totals" => {
                lines.push(format!(
                    "Revenue in {}: {} ({} units)",
                    facts.month.long_name(),
                    money(facts.revenue),
                    count(facts.units)
                ));
                lines.push(format!(
                    "Change from {}: {} (then {})",
                    facts.month.previous().long_name(),
                    change(facts.mom_pct),
                    money(facts.previous_revenue)
                ));
                lines.push(format!(
                    "Change from {}: {} (then {})",
                    facts.month.year_before().long_name(),
                    change(facts.yoy_pct),
                    money(facts.year_ago_revenue)
                ));
            }
            "regions" | "channels" => {
                let list = if group == "regions" {
                    &facts.regions
                } else {
                    &facts.channels
                };
                for b in list {
                    lines.push(format!(
                        "{} ({}): {}, {} of revenue{}",
                        b.name,
                        &group[..group.len() - 1],
                        money(b.revenue),
                        share(b.share_pct),
                        yoy(b)
                    ));
                }
            }
            "products" => {
                for b in facts.top_products() {
                    lines.push(format!(
                        "Top product {}: {}, {} of revenue{}",
                        b.name,
                        money(b.revenue),
                        share(b.share_pct),
                        yoy(b)
                    ));
                }
                for b in facts.bottom_products() {
                    lines.push(format!(
                        "Weakest product {}: {}, {} of revenue{}",
                        b.name,
                        money(b.revenue),
                        share(b.share_pct),
                        yoy(b)
                    ));
                }
            }
            "notable" => {
                for n in &facts.notable {
                    lines.push(format!(
                        "{} in {}: {} year on year, where the product overall changed {}",
                        n.product,
                        n.region,
                        change(n.yoy_pct),
                        change(n.product_yoy_pct)
                    ));
                }
                if facts.notable.is_empty() {
                    lines.push("No region moved far from its products' national trends.".into());
                }
            }
            _ => {}
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_read_as_written_and_names_are_skipped() {
        let found: Vec<(String, f64, u32)> =
            numbers_in("Revenue was 12,345.67 CNY (+8.3%), Galaxy S24 and Mate 60; 2024-03.")
                .into_iter()
                .map(|n| (n.text, n.value, n.decimals))
                .collect();
        assert_eq!(
            found,
            [
                ("12,345.67".to_string(), 12345.67, 2),
                ("8.3".to_string(), 8.3, 1),
                ("60".to_string(), 60.0, 0),
                ("2024".to_string(), 2024.0, 0),
                ("03".to_string(), 3.0, 0),
            ]
        );
    }

    #[test]
    fn formats_are_the_ones_the_model_is_shown() {
        assert_eq!(money(12_345_678.0), "12.35 million CNY");
        assert_eq!(change(8.26), "+8.3%");
        assert_eq!(change(-4.14), "-4.1%");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(12), "12");
    }

    #[test]
    fn a_rounded_number_is_supported_and_an_invented_one_is_not() {
        let allowed = Allowed {
            value: 8.26,
            decimals: 1,
        };
        let written = |text: &str| numbers_in(text).remove(0);
        assert!(supports(allowed, &written("8.3%")));
        assert!(supports(allowed, &written("8%")));
        assert!(!supports(allowed, &written("8.4%")));
        assert!(
            !supports(allowed, &written("8.26%")),
            "more decimals than shown"
        );
        assert!(!supports(allowed, &written("9%")));
    }
}
