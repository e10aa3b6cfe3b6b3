//! A long document as its sections, cut along its Markdown headings.

/// One section: its heading (the innermost; the document's preamble has the title's) and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocSection {
    pub heading: String,
    pub text: String,
}

/// The document's title (its first top-level heading, else `fallback`) and its sections, in
/// order; sections without text are left out.
pub fn sections(text: &str, fallback: &str) -> (String, Vec<DocSection>) {
    let mut title: Option<String> = None;
    let mut sections = Vec::new();
    let mut heading = String::new();
    let mut body = String::new();
    let flush = |heading: &str, body: &mut String, sections: &mut Vec<DocSection>| {
        let text = body.trim();
        if !text.is_empty() {
            sections.push(DocSection {
                heading: heading.to_string(),
                text: text.to_string(),
            });
        }
        body.clear();
    };
    for line in text.lines() {
        match heading_of(line) {
            Some((level, name)) => {
                flush(&heading, &mut body, &mut sections);
                if level == 1 && title.is_none() {
                    title = Some(name.to_string());
                }
                heading = name.to_string();
            }
            None => {
                body.push_str(line);
                body.push('\n');
            }
        }
    }
    flush(&heading, &mut body, &mut sections);
    let title = title.unwrap_or_else(|| fallback.to_string());
    for section in &mut sections {
        if section.heading.is_empty() {
            section.heading.clone_from(&title);
        }
    }
    (title, sections)
}

/// `## Title` → (2, "Title").
fn heading_of(line: &str) -> Option<(usize, &str)> {
    let level = line.chars().take_while(|c| *c == '#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let rest = &line[level..];
    rest.starts_with(' ').then(|| (level, rest.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_follow_headings_and_the_preamble_takes_the_title() {
        let (title, found) = sections(
            "# Annual report\n\nIntro text.\n\n## Highlights\n\nRevenue rose.\n\n## Empty\n\n## Risks\nDebt.\n",
            "file.md",
        );
        assert_eq!(title, "Annual report");
        let headings: Vec<&str> = found.iter().map(|s| s.heading.as_str()).collect();
        assert_eq!(headings, ["Annual report", "Highlights", "Risks"]);
        assert_eq!(found[1].text, "Revenue rose.");
        let (title, _) = sections("no headings at all", "notes.txt");
        assert_eq!(title, "notes.txt");
    }
}
