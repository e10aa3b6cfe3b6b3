//! The language a user wrote in, where the agent's own words depend on it: the refusals it
//! writes and the instruction that closes a prompt after tool results.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Language {
    English,
    Chinese,
}

impl Language {
    /// Chinese when `text` holds Han characters, at least half as many as Latin letters (a
    /// Chinese word carries more than a letter: "把订单 12345 的备注改成“VIP 客户”" is
    /// Chinese, "Which rooms of the 杭州 office have a projector?" is not); English otherwise.
    pub(crate) fn of(text: &str) -> Language {
        let han = text.chars().filter(|c| is_han(*c)).count();
        let latin = text.chars().filter(char::is_ascii_alphabetic).count();
        if han > 0 && han * 2 >= latin {
            Language::Chinese
        } else {
            Language::English
        }
    }
}

pub(crate) fn is_han(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{F900}'..='\u{FAFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_chinese_when_its_han_characters_are_not_outweighed() {
        assert_eq!(
            Language::of("把订单 12345 的备注改成“VIP 客户”。"),
            Language::Chinese
        );
        assert_eq!(
            Language::of("订单 12345 现在是什么状态？"),
            Language::Chinese
        );
        assert_eq!(Language::of("Refund order 12345"), Language::English);
        assert_eq!(
            Language::of("Which rooms of the 杭州 office have a projector?"),
            Language::English
        );
        assert_eq!(Language::of("12345"), Language::English);
    }
}
