//! The check that every number in the model's prose is one of the facts, as written in
//! `wording`, with its meaning, direction and owner.

use crate::facts::Facts;

/// What a fact's number means, as far as the prose can say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Money,
    Count,
    YearChange,
    MonthChange,
    Share,
    /// The period, counts of things, numbers inside names.
    Context,
}

/// A number the prose may use: its value (signed), the decimals it was shown with, its meaning,
/// and whose figure it is (an index into `NumberCheck::entities`; `None` for the month's
/// totals, the trend and context numbers).
#[derive(Debug, Clone, Copy)]
struct Allowed {
    value: f64,
    decimals: u32,
    kind: Kind,
    owner: Option<usize>,
}

/// The numbers of the facts (as shown), plus those of the period and of names.
#[derive(Debug, Clone)]
pub struct NumberCheck {
    allowed: Vec<Allowed>,
    /// The names of regions, channels and products: as written, and lower-cased to find them
    /// in the prose.
    entities: Vec<(String, String)>,
    /// Words that place a percentage against the month before ("month", "February").
    month_words: Vec<String>,
}

impl NumberCheck {
    pub fn new(facts: &Facts) -> Self {
        let mut entities: Vec<(String, String)> = Vec::new();
        let mut entity = |name: &str| -> usize {
            match entities.iter().position(|(known, _)| known == name) {
                Some(index) => index,
                None => {
                    entities.push((name.to_string(), name.to_lowercase()));
                    entities.len() - 1
                }
            }
        };
        let mut allowed = Vec::new();
        let mut add = |value: f64, decimals: u32, kind: Kind, owner: Option<usize>| {
            allowed.push(Allowed {
                value,
                decimals,
                kind,
                owner,
            });
        };
        let add_money =
            |add: &mut dyn FnMut(f64, u32, Kind, Option<usize>), cny: f64, owner: Option<usize>| {
                add(cny / 1e6, 2, Kind::Money, owner);
                add(cny, 2, Kind::Money, owner);
            };
        for cny in [
            facts.revenue,
            facts.previous_revenue,
            facts.year_ago_revenue,
        ] {
            add_money(&mut add, cny, None);
        }
        add(facts.units as f64, 0, Kind::Count, None);
        add(facts.mom_pct, 1, Kind::MonthChange, None);
        add(facts.yoy_pct, 1, Kind::YearChange, None);
        let all = facts
            .regions
            .iter()
            .chain(&facts.channels)
            .chain(&facts.products);
        for entry in all {
            let owner = Some(entity(&entry.name));
            add_money(&mut add, entry.revenue, owner);
            add(entry.units as f64, 0, Kind::Count, owner);
            add(entry.share_pct, 1, Kind::Share, owner);
            if let Some(yoy) = entry.yoy_pct {
                add(yoy, 1, Kind::YearChange, owner);
            }
        }
        for notable in &facts.notable {
            // A product's result in a region is the figure of both names.
            let product = Some(entity(&notable.product));
            for owner in [product, Some(entity(&notable.region))] {
                add_money(&mut add, notable.revenue, owner);
                add(notable.yoy_pct, 1, Kind::YearChange, owner);
            }
            add(notable.product_yoy_pct, 1, Kind::YearChange, product);
        }
        for (_, revenue) in &facts.trend {
            add_money(&mut add, *revenue, None);
        }
        // The period, counts of things ("the top 3 products"), and numbers inside names
        // ("Mate 60").
        for year in [facts.month.year, facts.month.year - 1] {
            add(f64::from(year), 0, Kind::Context, None);
        }
        add(f64::from(facts.month.month), 0, Kind::Context, None);
        for small in 0..=12 {
            add(f64::from(small), 0, Kind::Context, None);
        }
        let names = facts
            .regions
            .iter()
            .chain(&facts.channels)
            .chain(&facts.products);
        for name in names.map(|b| b.name.as_str()) {
            for token in numbers_in(name) {
                add(token.value, token.decimals, Kind::Context, None);
            }
        }
        let previous = facts.month.previous().long_name();
        let month_name = previous
            .split(' ')
            .next()
            .unwrap_or_default()
            .to_lowercase();
        NumberCheck {
            allowed,
            entities,
            month_words: vec!["month".into(), month_name],
        }
    }

    /// The numbers in `text` that no fact supports, as written; a number whose value is a
    /// fact's but whose stated meaning is not (a share called a growth rate, a rise called a
    /// fall) is named with what was wrong.
    pub fn unsupported(&self, text: &str) -> Vec<String> {
        let found = numbers_in(text);
        let lower: Vec<char> = text.to_lowercase().chars().collect();
        let mut wrong = Vec::new();
        for (index, n) in found.iter().enumerate() {
            let matching: Vec<&Allowed> =
                self.allowed.iter().filter(|a| supports(**a, n)).collect();
            if matching.is_empty() {
                wrong.push(n.shown());
                continue;
            }
            if let Some(named) = self.named_before(&lower, n.start) {
                let owned = matching
                    .iter()
                    .any(|a| a.owner.is_none_or(|owner| owner == named));
                if !owned {
                    let name = &self.entities[named].0;
                    wrong.push(format!("{} (not a figure of {name})", n.shown()));
                    continue;
                }
            }
            if !n.percent {
                continue;
            }
            let from = if index == 0 { 0 } else { found[index - 1].end };
            let to = found.get(index + 1).map_or(lower.len(), |next| next.start);
            let segment = clause(&lower, from, n.start, n.end, to);
            let meant = self.meaning(&segment);
            let worded = direction_of(&segment);
            if let (Some(sign), Some(word)) = (n.sign, worded) {
                if sign != word {
                    let called = if word { "a rise" } else { "a fall" };
                    wrong.push(format!("{} (called {called})", n.shown()));
                    continue;
                }
            }
            let direction = n.sign.or(worded);
            let fits = matching.iter().any(|a| {
                let kind_fits = match meant {
                    Some(kind) => a.kind == kind,
                    None => matches!(a.kind, Kind::YearChange | Kind::MonthChange | Kind::Share),
                };
                let sign_fits = match (a.kind, direction) {
                    (Kind::YearChange | Kind::MonthChange, Some(up)) => (a.value >= 0.0) == up,
                    _ => true,
                };
                kind_fits && sign_fits
            });
            if !fits {
                let stated = match (meant, direction) {
                    (Some(Kind::Share), _) => "as a share",
                    (Some(Kind::YearChange), Some(true)) => "as a rise year on year",
                    (Some(Kind::YearChange), Some(false)) => "as a fall year on year",
                    (Some(Kind::YearChange), None) => "as a year-on-year change",
                    (Some(Kind::MonthChange), Some(true)) => "as a rise from the month before",
                    (Some(Kind::MonthChange), Some(false)) => "as a fall from the month before",
                    (Some(_), _) => "as a change from the month before",
                    (None, Some(true)) => "as a rise",
                    (None, Some(false)) => "as a fall",
                    (None, None) => "as a percentage",
                };
                wrong.push(format!("{} ({stated})", n.shown()));
            }
        }
        wrong
    }

    /// The region, channel or product named last before `at` in the same clause, if any: the
    /// one a number there is said of ("…, and North China sold 7.84 million" is North China's).
    fn named_before(&self, lower: &[char], at: usize) -> Option<usize> {
        let mut start = at;
        while start > 0 && !ends_clause(lower, start - 1) {
            start -= 1;
        }
        let clause: String = lower[start..at].iter().collect();
        // The last name to end before the number; of two ending together, the longer.
        self.entities
            .iter()
            .enumerate()
            .filter(|(_, (_, name))| !name.is_empty())
            .filter_map(|(index, (_, name))| {
                clause
                    .rfind(name.as_str())
                    .map(|at| (at + name.len(), name.len(), index))
            })
            .max()
            .map(|(_, _, index)| index)
    }

    fn meaning(&self, segment: &str) -> Option<Kind> {
        const SHARE: [&str; 6] = [
            "share",
            "of revenue",
            "of total",
            "of sales",
            "of the total",
            "accounted",
        ];
        if segment.contains("year") || segment.contains("yoy") {
            Some(Kind::YearChange)
        } else if self
            .month_words
            .iter()
            .any(|w| !w.is_empty() && segment.contains(w.as_str()))
        {
            Some(Kind::MonthChange)
        } else if SHARE.iter().any(|w| segment.contains(w)) {
            Some(Kind::Share)
        } else {
            None
        }
    }
}

/// The text around a number that speaks of it: from the previous number (or the start of its
/// clause) to the next number (or the end of its clause).
pub(crate) fn clause(lower: &[char], from: usize, start: usize, end: usize, to: usize) -> String {
    let mut left = start;
    while left > from && !ends_clause(lower, left - 1) {
        left -= 1;
    }
    let mut right = end;
    while right < to && !ends_clause(lower, right) {
        right += 1;
    }
    lower[left..right].iter().collect()
}

/// Whether the character at `i` ends a clause: punctuation, or a full stop (a point followed by
/// a digit is a decimal point).
pub(crate) fn ends_clause(text: &[char], i: usize) -> bool {
    match text[i] {
        ',' | ';' | ':' | '(' | ')' | '\n' | '!' | '?' => true,
        '.' => !text.get(i + 1).is_some_and(char::is_ascii_digit),
        _ => false,
    }
}

/// Up (`true`) or down (`false`) when the words say which.
pub(crate) fn direction_of(segment: &str) -> Option<bool> {
    const DOWN: [&str; 9] = [
        "decreas", "declin", "fell", "fall", "drop", "down", "lower", "shrank", "contract",
    ];
    const UP: [&str; 8] = [
        "increas", "grew", "grow", "rose", "rise", "up ", "higher", "gain",
    ];
    let down = DOWN.iter().any(|w| segment.contains(w));
    let up = UP.iter().any(|w| segment.contains(w));
    match (up, down) {
        (true, false) => Some(true),
        (false, true) => Some(false),
        _ => None,
    }
}

/// `n` is `allowed` as shown, or rounded to fewer decimals ("8%" for "+8.3%").
fn supports(allowed: Allowed, n: &Written) -> bool {
    if n.decimals > allowed.decimals {
        return false;
    }
    let scale = 10f64.powi(n.decimals as i32);
    (allowed.value.abs() - n.value).abs() <= 0.5 / scale + 1e-9
}

#[derive(Debug, Clone)]
pub(crate) struct Written {
    pub(crate) text: String,
    pub(crate) value: f64,
    pub(crate) decimals: u32,
    /// An explicit `+` (true) or `-` (false) right before it.
    pub(crate) sign: Option<bool>,
    /// Followed by `%` or "percent".
    pub(crate) percent: bool,
    /// Char positions in the text.
    pub(crate) start: usize,
    pub(crate) end: usize,
}

impl Written {
    pub(crate) fn shown(&self) -> String {
        let sign = match self.sign {
            Some(true) => "+",
            Some(false) => "-",
            None => "",
        };
        format!("{sign}{}{}", self.text, if self.percent { "%" } else { "" })
    }
}

/// Numbers as a reader sees them: digits with thousands commas and a decimal part; digits
/// glued to letters ("S24", "Q1") belong to a name and are skipped.
pub(crate) fn numbers_in(text: &str) -> Vec<Written> {
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
        let sign = match start.checked_sub(1).map(|p| chars[p]) {
            Some('+') => Some(true),
            Some('-' | '−') => Some(false),
            _ => None,
        };
        let after: String = chars[i..chars.len().min(i + 8)].iter().collect();
        let percent = after.starts_with('%') || after.trim_start().starts_with("percent");
        if let Ok(value) = raw.parse::<f64>() {
            found.push(Written {
                text: chars[start..i].iter().collect(),
                value,
                decimals,
                sign,
                percent,
                start,
                end: i,
            });
        }
    }
    found
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

    fn sample_check() -> NumberCheck {
        use crate::month::Month;
        use crate::sales::SalesRow;
        let row = |region: &str, revenue: f64| SalesRow {
            region: region.into(),
            channel: "Online".into(),
            product: "A".into(),
            units: 1,
            revenue,
        };
        let march = Month::parse("2024-03").expect("month");
        let mut data = std::collections::BTreeMap::new();
        data.insert(
            march.year_before(),
            vec![row("East", 100.0), row("West", 200.0)],
        );
        data.insert(march.previous(), vec![row("East", 400.0)]);
        data.insert(march, vec![row("East", 220.0), row("West", 110.0)]);
        NumberCheck::new(&Facts::compute(march, &data).expect("facts"))
    }

    #[test]
    fn a_number_stated_with_the_wrong_meaning_or_direction_is_caught() {
        // Year on year +10.0%, month on month -17.5%; East 66.7% of revenue, +120.0% year on
        // year; West 33.3%, -45.0%.
        let check = sample_check();
        for fine in [
            "Revenue rose 10.0% year on year.",
            "Revenue fell 17.5% from February.",
            "East took 66.7% of revenue, up 120.0% year on year.",
            "West: -45.0% year on year, 33.3% of revenue.",
            "It changed 17.5%.",
        ] {
            assert_eq!(check.unsupported(fine), Vec::<String>::new(), "{fine}");
        }
        assert_eq!(
            check.unsupported("Revenue fell 10.0% year on year."),
            ["10.0% (as a fall year on year)"]
        );
        assert_eq!(
            check.unsupported("East grew 66.7% year on year."),
            ["66.7% (as a rise year on year)"]
        );
        assert_eq!(
            check.unsupported("West: +45.0% year on year."),
            ["+45.0% (as a rise year on year)"]
        );
        assert_eq!(check.unsupported("Revenue rose 12.5%."), ["12.5%"]);
        assert_eq!(
            check.unsupported("West saw a -45.0% year on year increase."),
            ["-45.0% (called a rise)"]
        );
    }

    #[test]
    fn a_figure_said_of_another_region_is_caught() {
        // East: 220 CNY, 66.7% of revenue; West: 110 CNY, 33.3%.
        let check = sample_check();
        for fine in [
            "East took 66.7% of revenue and West 33.3%.",
            "West and East sold 330 CNY together, East 220 CNY of it.",
            "With 220 CNY, East led.",
            "Revenue was 330 CNY in March 2024.",
        ] {
            assert_eq!(check.unsupported(fine), Vec::<String>::new(), "{fine}");
        }
        assert_eq!(
            check.unsupported("West took 66.7% of revenue."),
            ["66.7% (not a figure of West)"]
        );
        assert_eq!(
            check.unsupported("East and West sold the most with 220 CNY."),
            ["220 (not a figure of West)"]
        );
    }

    #[test]
    fn a_rounded_number_is_supported_and_an_invented_one_is_not() {
        let allowed = Allowed {
            value: 8.26,
            decimals: 1,
            kind: Kind::YearChange,
            owner: None,
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
