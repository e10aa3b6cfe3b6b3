//! The report's shape: a title and the sections the model writes, each with the fact groups
//! it draws on. `--template FILE` replaces the built-in one (same TOML shape).

use serde::Deserialize;

use crate::error::ReportError;

/// The fact groups a section may draw on.
pub const FACT_GROUPS: [&str; 5] = ["totals", "regions", "channels", "products", "notable"];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    pub title: String,
    pub sections: Vec<SectionSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionSpec {
    pub title: String,
    /// What the section should say, for the model.
    pub instruction: String,
    /// Which facts it is shown (and may quote).
    pub facts: Vec<String>,
}

const DEFAULT: &str = include_str!("default_template.toml");

impl Template {
    pub fn builtin() -> Self {
        // The built-in template is part of the source and tested; it always parses.
        Self::parse(DEFAULT)
            .unwrap_or_else(|err| panic!("the built-in report template is invalid: {err}"))
    }

    pub fn parse(text: &str) -> Result<Self, ReportError> {
        let template: Template =
            toml::from_str(text).map_err(|err| ReportError::Template(err.to_string()))?;
        if template.sections.is_empty() {
            return Err(ReportError::Template("it has no `[[sections]]`".into()));
        }
        for (index, section) in template.sections.iter().enumerate() {
            if section.facts.is_empty() {
                return Err(ReportError::Template(format!(
                    "section {} (`{}`) names no `facts`",
                    index + 1,
                    section.title
                )));
            }
            if let Some(unknown) = section
                .facts
                .iter()
                .find(|f| !FACT_GROUPS.contains(&f.as_str()))
            {
                return Err(ReportError::Template(format!(
                    "section `{}` names the unknown fact group `{unknown}` (known: {})",
                    section.title,
                    FACT_GROUPS.join(", ")
                )));
            }
        }
        Ok(template)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_template_parses_and_bad_ones_say_why() {
        assert!(Template::builtin().sections.len() >= 3);
        let err = Template::parse("title = \"x\"\nsections = []").expect_err("empty");
        assert!(err.to_string().contains("no `[[sections]]`"));
        let err = Template::parse(
            "title = \"x\"\n[[sections]]\ntitle = \"A\"\ninstruction = \"i\"\nfacts = [\"weather\"]",
        )
        .expect_err("unknown group");
        assert!(err.to_string().contains("weather"), "{err}");
    }
}
