//! Calendar months as the sales data names them (`YYYY-MM`).

use std::fmt;

use crate::error::ReportError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Month {
    pub year: i32,
    /// 1 to 12.
    pub month: u32,
}

impl Month {
    pub fn parse(text: &str) -> Result<Self, ReportError> {
        let invalid = || ReportError::InvalidMonth(text.to_string());
        let (year, month) = text.split_once('-').ok_or_else(invalid)?;
        if year.len() != 4 || month.len() != 2 {
            return Err(invalid());
        }
        let year: i32 = year.parse().map_err(|_| invalid())?;
        let month: u32 = month.parse().map_err(|_| invalid())?;
        if !(1..=12).contains(&month) {
            return Err(invalid());
        }
        Ok(Month { year, month })
    }

    pub fn previous(self) -> Self {
        if self.month == 1 {
            Month {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Month {
                year: self.year,
                month: self.month - 1,
            }
        }
    }

    pub fn year_before(self) -> Self {
        Month {
            year: self.year - 1,
            month: self.month,
        }
    }

    /// This month and the `count - 1` before it, oldest first.
    pub fn window(self, count: usize) -> Vec<Month> {
        let mut months = Vec::with_capacity(count);
        let mut current = self;
        for _ in 0..count {
            months.push(current);
            current = current.previous();
        }
        months.reverse();
        months
    }

    /// "March 2024".
    pub fn long_name(self) -> String {
        const NAMES: [&str; 12] = [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ];
        format!("{} {}", NAMES[(self.month - 1) as usize], self.year)
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_parse_and_step_across_years() {
        let march = Month::parse("2024-03").expect("valid");
        assert_eq!(march.to_string(), "2024-03");
        assert_eq!(march.year_before().to_string(), "2023-03");
        assert_eq!(
            Month::parse("2024-01")
                .expect("valid")
                .previous()
                .to_string(),
            "2023-12"
        );
        let window = march.window(13);
        assert_eq!(window.len(), 13);
        assert_eq!(window[0].to_string(), "2023-03");
        assert_eq!(window[12], march);
        assert_eq!(march.long_name(), "March 2024");
        for bad in ["2024-13", "2024-3", "24-03", "march", "2024-00", ""] {
            assert!(Month::parse(bad).is_err(), "{bad}");
        }
    }
}
