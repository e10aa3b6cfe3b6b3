//! The summary's flow with a scripted model: what is asked, in what sizes and at once, what the
//! checks keep, send back and drop.

use std::sync::Mutex;

use serde_json::json;

use super::*;
use crate::error::ReportError;
use crate::prose::ATTEMPTS;

/// Answers by rules over the ask; counts tokens as words; remembers every batch.
struct Scripted {
    window: usize,
    rules: Box<dyn Fn(&Ask) -> String + Send + Sync>,
    batches: Mutex<Vec<Vec<Ask>>>,
}

impl Scripted {
    fn new(rules: impl Fn(&Ask) -> String + Send + Sync + 'static) -> Self {
        Scripted {
            window: 4_096,
            rules: Box::new(rules),
            batches: Mutex::new(Vec::new()),
        }
    }

    fn batches(&self) -> Vec<Vec<Ask>> {
        self.batches.lock().expect("batches").clone()
    }
}

impl SummaryModel for Scripted {
    fn count_tokens(&self, text: &str) -> Result<usize, ReportError> {
        Ok(text.split_whitespace().count())
    }

    fn window(&self) -> usize {
        self.window
    }

    fn answer_all(&self, asks: &[Ask]) -> Vec<Result<String, ReportError>> {
        self.batches.lock().expect("batches").push(asks.to_vec());
        asks.iter().map(|ask| Ok((self.rules)(ask))).collect()
    }
}

/// A report of `n` routine sections with the highlights first and one risk sentence in the
/// middle.
fn report(n: usize) -> String {
    let mut text = String::from(
        "# Acme Group: annual report 2024\n\n## Financial highlights\n\nRevenue rose 12.7% \
         year on year to 42.8 billion yuan. Net profit fell 20.2% to 3.0 billion yuan.\n",
    );
    for i in 0..n {
        if i == n / 2 {
            text.push_str(
                "\n## Kunming subsidiary: working capital\n\nThe team grew to 754 employees. \
                 Accounts receivable turnover at the Kunming subsidiary fell 26% year on year, \
                 to 4.7 times.\n",
            );
        }
        text.push_str(&format!(
            "\n## Unit {i}: people\n\nStaff completed {} training courses and the team planted \
             trees near the office in spring.\n",
            100 + i
        ));
    }
    text
}

/// The numbered sentences of a map ask, in order.
fn shown_sentences(user: &str) -> Vec<String> {
    user.lines()
        .filter_map(|line| line.split_once("] ").map(|(_, text)| text.to_string()))
        .collect()
}

/// Labels by the sentences' words: the receivable fall is bad news, revenue and profit key
/// figures, the rest routine; the overview's first draft calls a fall a rise, the next one
/// is faithful.
fn labeller(ask: &Ask) -> String {
    if ask.user.starts_with("Part ") {
        let labels: Vec<_> = shown_sentences(&ask.user)
            .iter()
            .map(|sentence| {
                if sentence.contains("receivable") {
                    json!({"figure": "routine", "news": "bad"})
                } else if sentence.contains("Revenue") || sentence.contains("Net profit") {
                    json!({"figure": "key", "news": "neutral"})
                } else {
                    json!({"figure": "routine", "news": "neutral"})
                }
            })
            .collect();
        json!({ "labels": labels }).to_string()
    } else if ask.user.contains("Your draft") {
        json!({"overview": "Revenue rose 12.7% to 42.8 billion yuan, net profit fell 20.2% and receivable turnover at Kunming fell 26%."}).to_string()
    } else {
        json!({"overview": "Revenue rose 12.7% to 42.8 billion yuan while net profit rose 20.2%."})
            .to_string()
    }
}

fn small_options() -> SummaryOptions {
    SummaryOptions {
        max_prompt_tokens: 600,
        part_tokens: 200,
        ..SummaryOptions::default()
    }
}

#[test]
fn distinctive_sentences_are_labelled_at_once_under_the_budget_and_become_the_points() {
    let model = Scripted::new(labeller);
    let text = report(40);
    let summary = summarize(&model, &text, "acme.md", &small_options()).expect("summary");

    let batches = model.batches();
    // The highlights' two sentences and the Kunming section's two; the forty units' routine
    // sentence is the same shape every time and is not asked about.
    assert_eq!(summary.stats.candidate_sentences, 4, "{:?}", summary.stats);
    assert_eq!(
        batches[0].len(),
        summary.stats.parts,
        "every part handed over in one batch"
    );
    for ask in batches.iter().flatten() {
        let tokens = model.count_tokens(&ask.system).expect("count")
            + model.count_tokens(&ask.user).expect("count");
        assert!(tokens <= 600, "a prompt of {tokens} tokens");
        assert!(!ask.user.contains("planted trees"), "{}", ask.user);
    }
    let indicators: Vec<&str> = summary.indicators.iter().map(|p| p.text.as_str()).collect();
    assert_eq!(
        indicators,
        [
            "Revenue rose 12.7% year on year to 42.8 billion yuan.",
            "Net profit fell 20.2% to 3.0 billion yuan."
        ]
    );
    assert_eq!(summary.risks.len(), 1);
    assert_eq!(
        summary.risks[0].section,
        "Kunming subsidiary: working capital"
    );
    assert!(summary.risks[0].text.contains("fell 26%"));
    assert_eq!(summary.other[0].text, "The team grew to 754 employees.");

    // The overview's first draft called the profit's fall a rise: sent back, naming it.
    let overviews: Vec<&Ask> = batches
        .iter()
        .flatten()
        .filter(|a| a.user.starts_with("Document:"))
        .collect();
    assert_eq!(overviews.len(), 2);
    assert!(
        overviews[1].user.contains("20.2% is called a rise"),
        "{}",
        overviews[1].user
    );
    assert!(summary
        .overview
        .as_deref()
        .is_some_and(|o| o.contains("net profit fell 20.2%")));
    assert_eq!(summary.stats.dropped, 0);
    let markdown = summary.markdown();
    assert!(
        markdown.contains("(§ Kunming subsidiary: working capital)"),
        "{markdown}"
    );
}

/// Whole mode answers with `points`; fixes repeat `fix` (a finding), the overview is plain.
fn whole_answering(points: serde_json::Value, fix: &'static str) -> Scripted {
    Scripted::new(move |ask| {
        if ask.user.starts_with("Section") {
            json!({ "finding": fix }).to_string()
        } else if ask.user.starts_with("Document:") {
            json!({"overview": "Revenue rose 12.7% to 42.8 billion yuan."}).to_string()
        } else {
            let mut answer = points.clone();
            answer["overview"] = json!("Revenue rose 12.7% to 42.8 billion yuan.");
            answer.to_string()
        }
    })
}

#[test]
fn a_point_that_stays_wrong_is_dropped_and_counted() {
    let model = whole_answering(
        json!({"indicators": [{"section": 1, "finding": "Revenue rose 15.0% to 44.1 billion yuan."}], "risks": []}),
        "Revenue rose 15.0% to 44.1 billion yuan.",
    );
    let options = SummaryOptions {
        mode: SummaryMode::Whole,
        ..SummaryOptions::default()
    };
    let summary = summarize(&model, &report(10), "acme.md", &options).expect("summary");
    assert!(summary.indicators.is_empty());
    assert_eq!(summary.stats.findings, 1);
    assert_eq!(summary.stats.dropped, 1);
    assert_eq!(summary.stats.dropped_invented, 1);
    let fixes: Vec<Ask> = model
        .batches()
        .into_iter()
        .flatten()
        .filter(|a| a.user.starts_with("Section"))
        .collect();
    assert_eq!(fixes.len(), ATTEMPTS - 1);
    assert!(
        fixes[0]
            .user
            .contains("15.0% is not written anywhere in the document"),
        "{}",
        fixes[0].user
    );
}

#[test]
fn a_point_sent_back_comes_back_right_and_a_misplaced_citation_is_moved() {
    let model = whole_answering(
        json!({"indicators": [{"section": 1, "finding": "Revenue rose 13.1% to 42.8 billion yuan."}],
               "risks": [{"section": 1, "finding": "Kunming's receivable turnover fell 26%, to 4.7 times."}]}),
        "Revenue rose 12.7% to 42.8 billion yuan.",
    );
    let options = SummaryOptions {
        mode: SummaryMode::Whole,
        ..SummaryOptions::default()
    };
    let summary = summarize(&model, &report(20), "acme.md", &options).expect("summary");
    assert_eq!(summary.indicators.len(), 1, "{summary:?}");
    assert_eq!(
        summary.indicators[0].text,
        "Revenue rose 12.7% to 42.8 billion yuan."
    );
    assert_eq!(summary.indicators[0].attempts, 2);
    assert_eq!(summary.risks.len(), 1, "{summary:?}");
    assert_eq!(
        summary.risks[0].section,
        "Kunming subsidiary: working capital"
    );
    assert_eq!(summary.risks[0].attempts, 1);
    assert_eq!(summary.stats.dropped, 0);
}

#[test]
fn whole_mode_asks_once_and_refuses_a_document_past_the_window() {
    let model = Scripted::new(|_| {
        json!({
            "overview": "Revenue rose 12.7% to 42.8 billion yuan.",
            "indicators": [{"section": 1, "finding": "Revenue rose 12.7% to 42.8 billion yuan."}],
            "risks": [{"section": 1, "finding": "Net profit fell 20.2% to 3.0 billion yuan."}],
        })
        .to_string()
    });
    let options = SummaryOptions {
        mode: SummaryMode::Whole,
        ..SummaryOptions::default()
    };
    let summary = summarize(&model, &report(10), "acme.md", &options).expect("summary");
    assert_eq!(model.batches().len(), 1, "one prompt, nothing to fix");
    assert_eq!(summary.indicators[0].section, "Financial highlights");
    assert_eq!(summary.risks.len(), 1);
    assert_eq!(
        summary.overview.as_deref(),
        Some("Revenue rose 12.7% to 42.8 billion yuan.")
    );

    let err = summarize(&model, &report(400), "acme.md", &options).expect_err("too long");
    let message = err.to_string();
    assert!(
        message.contains("4096-token window") && message.contains("use map-reduce"),
        "{message}"
    );
}

#[test]
fn past_the_candidate_limit_trends_are_asked_about_first() {
    let model = Scripted::new(labeller);
    let options = SummaryOptions {
        max_candidates: 2,
        ..small_options()
    };
    let summary = summarize(&model, &report(10), "acme.md", &options).expect("summary");
    assert_eq!(summary.stats.candidate_sentences, 2);
    assert_eq!(summary.stats.candidates_left_out, 2);
    let asked: Vec<String> = model.batches()[0]
        .iter()
        .flat_map(|a| shown_sentences(&a.user))
        .collect();
    assert_eq!(
        asked,
        [
            "Revenue rose 12.7% year on year to 42.8 billion yuan.",
            "Net profit fell 20.2% to 3.0 billion yuan."
        ]
    );
}

#[test]
fn an_empty_document_is_refused_with_its_name() {
    let model = Scripted::new(|_| String::new());
    let err = summarize(
        &model,
        "# Title only\n",
        "empty.md",
        &SummaryOptions::default(),
    )
    .expect_err("nothing to read");
    assert!(err.to_string().contains("`empty.md` has no text"), "{err}");
}
