//! A long document as its sections (cut along its Markdown headings) and as the parts the
//! model reads one at a time (consecutive sections packed under a token budget; a section
//! longer than the budget cut at paragraphs, then at sentences).

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

/// A part: the indices of its sections (into the document's list) and, for a section cut
/// into pieces, which piece this is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub entries: Vec<PartEntry>,
    pub tokens: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartEntry {
    pub section: usize,
    pub text: String,
}

/// Packs the sections into parts of at most `budget` tokens each (as `count` counts them),
/// in document order.
pub fn parts<E>(
    sections: &[DocSection],
    budget: usize,
    count: &dyn Fn(&str) -> Result<usize, E>,
) -> Result<Vec<Part>, E> {
    let mut parts: Vec<Part> = Vec::new();
    let mut current = Part {
        entries: Vec::new(),
        tokens: 0,
    };
    for (index, section) in sections.iter().enumerate() {
        // The heading line each entry is shown under, counted with it.
        let overhead = count(&section.heading)? + 4;
        for piece in pieces(
            &section.text,
            budget.saturating_sub(overhead).max(16),
            count,
        )? {
            let tokens = count(&piece)? + overhead;
            if !current.entries.is_empty() && current.tokens + tokens > budget {
                parts.push(std::mem::replace(
                    &mut current,
                    Part {
                        entries: Vec::new(),
                        tokens: 0,
                    },
                ));
            }
            current.tokens += tokens;
            current.entries.push(PartEntry {
                section: index,
                text: piece,
            });
        }
    }
    if !current.entries.is_empty() {
        parts.push(current);
    }
    Ok(parts)
}

/// `text` whole when it fits `budget`, else cut at paragraph breaks, then at sentence ends,
/// then at word boundaries, into pieces that do.
fn pieces<E>(
    text: &str,
    budget: usize,
    count: &dyn Fn(&str) -> Result<usize, E>,
) -> Result<Vec<String>, E> {
    if count(text)? <= budget {
        return Ok(vec![text.to_string()]);
    }
    let units: Vec<&str> = if text.contains("\n\n") {
        text.split("\n\n").collect()
    } else if text.contains(". ") {
        text.split_inclusive(". ").collect()
    } else {
        text.split_inclusive(' ').collect()
    };
    if units.len() < 2 {
        // One unbreakable run: cut by characters.
        let chars: Vec<char> = text.chars().collect();
        let half = chars.len() / 2;
        let mut out = pieces(&chars[..half].iter().collect::<String>(), budget, count)?;
        out.extend(pieces(
            &chars[half..].iter().collect::<String>(),
            budget,
            count,
        )?);
        return Ok(out);
    }
    let mut out = Vec::new();
    let mut current = String::new();
    for unit in units {
        let candidate = if current.is_empty() {
            unit.to_string()
        } else if text.contains("\n\n") {
            format!("{current}\n\n{unit}")
        } else {
            format!("{current}{unit}")
        };
        if !current.is_empty() && count(&candidate)? > budget {
            out.extend(pieces(current.trim(), budget, count)?);
            current = unit.to_string();
        } else {
            current = candidate;
        }
    }
    if !current.trim().is_empty() {
        out.extend(pieces(current.trim(), budget, count)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Result<usize, ()> {
        Ok(text.split_whitespace().count())
    }

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

    #[test]
    fn parts_pack_sections_under_the_budget_and_cut_a_long_one() {
        let doc: Vec<DocSection> = (0..10)
            .map(|i| DocSection {
                heading: format!("S{i}"),
                text: "one two three four five six".into(),
            })
            .collect();
        let packed = parts(&doc, 30, &words).expect("parts");
        assert!(packed.len() >= 3, "{packed:?}");
        assert!(packed.iter().all(|p| p.tokens <= 30));
        let order: Vec<usize> = packed
            .iter()
            .flat_map(|p| p.entries.iter().map(|e| e.section))
            .collect();
        assert_eq!(
            order,
            (0..10).collect::<Vec<_>>(),
            "every section once, in order"
        );

        let long = vec![DocSection {
            heading: "Long".into(),
            text: "A b c d e. F g h i j. K l m n o. P q r s t.".into(),
        }];
        let packed = parts(&long, 12, &words).expect("parts");
        assert!(packed.len() >= 2, "{packed:?}");
        let rejoined: Vec<String> = packed
            .iter()
            .flat_map(|p| p.entries.iter().map(|e| e.text.clone()))
            .collect();
        assert_eq!(
            rejoined.join(" ").split_whitespace().count(),
            20,
            "nothing lost"
        );
    }
}
