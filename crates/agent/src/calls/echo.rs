//! A text answer that only repeats the user's message ("iPhone 15 多少钱？" answered
//! "iPhone 15 多少钱？"): no answer at all. Compared by letters and digits, so that spacing,
//! punctuation, case and a passage's citation mark ("[S2]") do not hide it.

/// Messages shorter than this (in letters and digits) are not compared: a greeting said
/// back ("Hi") is an answer.
const SHORTEST_MESSAGE: usize = 8;

/// The user's message, as a text answer that may repeat it is compared with.
#[derive(Debug, Clone)]
pub struct Echo {
    letters: String,
}

impl Echo {
    pub fn of(message: &str) -> Echo {
        Echo {
            letters: letters(message),
        }
    }

    /// Whether the message is long enough to be told apart when repeated.
    pub fn is_some(&self) -> bool {
        self.letters.chars().count() >= SHORTEST_MESSAGE
    }

    /// Whether `text`, an answer so far, may still be the message repeated.
    pub fn begun_by(&self, text: &str) -> bool {
        self.letters.starts_with(&letters(text))
    }

    /// Whether `text`, a whole answer, is the message repeated.
    pub fn whole_in(&self, text: &str) -> bool {
        let written = letters(text);
        !written.is_empty() && written == self.letters
    }
}

/// The letters and digits of `text`, lowercased, its citation marks left out.
fn letters(text: &str) -> String {
    without_citations(text)
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// `text` without citation marks of passages ("[S2]"), also one still being written at its
/// end ("[S").
fn without_citations(text: &str) -> String {
    let mut kept = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        match after.find(']') {
            Some(close) if is_citation(&after[..close]) => {
                kept.push_str(&rest[..open]);
                rest = &after[close + 1..];
            }
            None if after.is_empty() || is_citation(after) || after == "S" => {
                kept.push_str(&rest[..open]);
                rest = "";
            }
            _ => {
                kept.push_str(&rest[..=open]);
                rest = after;
            }
        }
    }
    kept.push_str(rest);
    kept
}

fn is_citation(inner: &str) -> bool {
    inner
        .strip_prefix('S')
        .is_some_and(|number| !number.is_empty() && number.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_said_back_is_told_apart_from_an_answer() {
        let echo = Echo::of("iPhone 15 多少钱？");
        assert!(echo.is_some());
        assert!(echo.whole_in("iPhone 15 多少钱？"));
        assert!(echo.whole_in("iphone 15多少钱?"));
        assert!(Echo::of("平板电脑保修多长时间？").whole_in("平板电脑保修多长时间？[S2]"));
        assert!(!echo.whole_in("iPhone 15 的价格是 5999 元。"));
        assert!(!echo.whole_in("iPhone 15 多少钱？iPhone 15 的价格是 5999 元。"));
        assert!(!echo.whole_in(""));
    }

    #[test]
    fn an_answer_is_held_only_while_it_follows_the_message() {
        let echo = Echo::of("平板电脑保修多长时间？");
        assert!(echo.begun_by(""));
        assert!(echo.begun_by("平板电脑"));
        assert!(echo.begun_by("平板电脑保修多长时间？[S"));
        assert!(!echo.begun_by("平板电脑保修一年"));
        assert!(!echo.begun_by("The warranty"));
    }

    #[test]
    fn short_messages_are_not_compared() {
        assert!(!Echo::of("Hi!").is_some());
        assert!(!Echo::of("你好").is_some());
        assert!(Echo::of("How much is it?").is_some());
    }
}
