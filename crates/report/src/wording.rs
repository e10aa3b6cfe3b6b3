//! How facts are written: the forms the model is shown and asked to copy (money, changes,
//! shares, counts) and the fact lines of a section.

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
    fn formats_are_the_ones_the_model_is_shown() {
        assert_eq!(money(12_345_678.0), "12.35 million CNY");
        assert_eq!(change(8.26), "+8.3%");
        assert_eq!(change(-4.14), "-4.1%");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(12), "12");
    }
}
