//! Reports from the demo enterprise's real SQLite sales data, read through the governed tool:
//! every figure equals the SQL ground truth, the DOCX parses back with its sections, the PDF
//! renders to pages whose text holds the totals, and prose with a number that is not in the
//! data is written again, then marked for review.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fulcrum_report::{
    Format, Month, Progress, ProgressSink, ProseModel, ReportError, ReportRequest, Template,
    ATTEMPTS,
};
use fulcrum_retrieval::{Passage, PassageSource};
use fulcrum_tools::{CallContext, Durability, Policy, Principal, Registry};

struct Demo {
    _dir: tempfile::TempDir,
    root: PathBuf,
    policy: Policy,
}

fn demo() -> Demo {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().to_path_buf();
    let policy_file = fulcrum_tools::demo::install(&root.join("demo")).expect("demo installs");
    let registry = Registry::load(&policy_file).expect("demo policy loads");
    let policy = Policy::open(
        registry,
        &root.join("state.db"),
        Durability::Process,
        Duration::from_secs(60),
    )
    .expect("policy");
    Demo {
        _dir: dir,
        root,
        policy,
    }
}

fn as_user(user: &str, role: &str) -> CallContext {
    CallContext {
        principal: Principal {
            user: user.into(),
            role: role.into(),
        },
        request_id: Some("report-test".into()),
        session_id: None,
    }
}

fn request(out: &Path, formats: Vec<Format>) -> ReportRequest {
    ReportRequest {
        template: Template::builtin(),
        formats,
        out_dir: out.to_path_buf(),
        font: fulcrum_report::font_path(),
        progress: None,
    }
}

fn march() -> Month {
    Month::parse("2024-03").expect("month")
}

/// Gathers as `context`'s user (async, through the policy), then composes (blocking).
fn report(
    demo: &Demo,
    context: &CallContext,
    model: Option<&dyn ProseModel>,
    request: &ReportRequest,
) -> Result<fulcrum_report::Report, ReportError> {
    report_with_strategy(demo, context, model, None, request)
}

fn report_with_strategy(
    demo: &Demo,
    context: &CallContext,
    model: Option<&dyn ProseModel>,
    strategy: Option<&dyn PassageSource>,
    request: &ReportRequest,
) -> Result<fulcrum_report::Report, ReportError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let gathered = runtime.block_on(fulcrum_report::gather(&demo.policy, context, march()))?;
    fulcrum_report::compose(gathered, model, strategy, "test", request)
}

/// Ground truth straight from the database, not through the report's code.
fn sql_sum(demo: &Demo, sql: &str) -> f64 {
    let connection = rusqlite::Connection::open(demo.root.join("demo/demo.db")).expect("demo db");
    connection
        .query_row(sql, [], |row| row.get(0))
        .expect("query")
}

fn million(cny: f64) -> String {
    format!("{:.2} million CNY", cny / 1e6)
}

#[test]
fn every_figure_matches_the_database_and_all_three_files_read_back() {
    let demo = demo();
    let out = demo.root.join("out");
    let report = report(
        &demo,
        &as_user("li.employee", "employee"),
        None,
        &request(&out, vec![Format::Markdown, Format::Docx, Format::Pdf]),
    )
    .expect("report");

    let total = sql_sum(
        &demo,
        "SELECT sum(revenue) FROM sales WHERE month = '2024-03'",
    );
    let previous = sql_sum(
        &demo,
        "SELECT sum(revenue) FROM sales WHERE month = '2024-02'",
    );
    let year_ago = sql_sum(
        &demo,
        "SELECT sum(revenue) FROM sales WHERE month = '2023-03'",
    );
    let east = sql_sum(
        &demo,
        "SELECT sum(revenue) FROM sales WHERE month = '2024-03' AND region = 'East China'",
    );
    assert!((report.facts.revenue - total).abs() < 0.01);
    assert!((report.facts.previous_revenue - previous).abs() < 0.01);
    assert!((report.facts.yoy_pct - 100.0 * (total - year_ago) / year_ago).abs() < 1e-6);
    let east_fact = report
        .facts
        .regions
        .iter()
        .find(|r| r.name == "East China")
        .expect("East China");
    assert!((east_fact.revenue - east).abs() < 0.01);
    // The planted outliers of March 2024 are found by the analysis.
    assert!(
        report
            .facts
            .notable
            .iter()
            .any(|n| n.region == "East China"),
        "{:?}",
        report.facts.notable
    );
    assert!(report.sections.iter().all(|s| !s.needs_review()));
    assert_eq!(report.files.len(), 3);

    let markdown = std::fs::read_to_string(out.join("sales-report-2024-03.md")).expect("md");
    assert!(markdown.contains(&million(total)), "{markdown}");
    assert!(markdown.contains(&million(east)));
    for chart in ["trend", "regions", "products"] {
        assert!(markdown.contains(&format!("charts/{chart}.png")));
        let png = std::fs::read(out.join(format!("charts/{chart}.png"))).expect("chart file");
        assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{chart}");
    }

    let docx = std::fs::File::open(out.join("sales-report-2024-03.docx")).expect("docx");
    let mut archive = zip::ZipArchive::new(docx).expect("the DOCX is a zip");
    let mut document = String::new();
    std::io::Read::read_to_string(
        &mut archive.by_name("word/document.xml").expect("document part"),
        &mut document,
    )
    .expect("xml");
    for section in &Template::builtin().sections {
        assert!(document.contains(&section.title), "{}", section.title);
    }
    assert!(document.contains(&million(total)));
    let images = (0..archive.len())
        .filter_map(|i| archive.by_index(i).ok().map(|f| f.name().to_string()))
        .filter(|name| name.starts_with("word/media/"))
        .collect::<Vec<_>>();
    let pictures = images.iter().filter(|n| !n.ends_with('/')).count();
    assert!(pictures >= 3, "the three charts are embedded: {images:?}");

    let pdf = out.join("sales-report-2024-03.pdf");
    let pages = std::process::Command::new("pdftoppm")
        .args(["-r", "30", "-png"])
        .arg(&pdf)
        .arg(out.join("page"))
        .status()
        .expect("pdftoppm runs (scripts/setup installs poppler-utils)");
    assert!(pages.success());
    let rendered = std::fs::read_dir(&out)
        .expect("out")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().starts_with("page"))
        })
        .count();
    assert!(rendered >= 2, "{rendered} pages");
    let text = std::process::Command::new("pdftotext")
        .arg(&pdf)
        .arg("-")
        .output()
        .expect("pdftotext");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains(&million(total)), "{text}");
    assert!(text.contains("Regional performance"));
}

/// Replays fixed answers and records the prompts.
struct Scripted {
    answers: Mutex<Vec<String>>,
    prompts: Mutex<Vec<String>>,
}

impl Scripted {
    fn new(answers: &[&str]) -> Self {
        Scripted {
            answers: Mutex::new(answers.iter().rev().map(|s| s.to_string()).collect()),
            prompts: Mutex::new(Vec::new()),
        }
    }
}

impl ProseModel for Scripted {
    fn complete(&self, _system: &str, user: &str) -> Result<String, ReportError> {
        self.prompts.lock().expect("lock").push(user.to_string());
        let mut answers = self.answers.lock().expect("lock");
        Ok(answers.pop().unwrap_or_else(|| "Sales were steady.".into()))
    }
}

#[test]
fn prose_with_an_invented_number_is_rewritten_then_replaced_by_the_facts() {
    let demo = demo();
    let out = demo.root.join("out");
    let mut template = Template::builtin();
    template.sections.truncate(2);
    // Section 1: wrong, then right. Section 2: wrong every time.
    let first_total = "Revenue reached 999.99 million CNY.";
    let model = Scripted::new(&[
        first_total,
        "Revenue was steady.",
        "East China grew 77.7%.",
        "East China grew 66.6%.",
        "East China grew 55.5%.",
    ]);
    let mut req = request(&out, vec![Format::Markdown]);
    req.template = template;
    let report = report(&demo, &as_user("admin", "admin"), Some(&model), &req).expect("report");
    assert_eq!(report.sections[0].attempts, 2);
    assert!(!report.sections[0].needs_review());
    assert_eq!(report.sections[0].text, "Revenue was steady.");
    // Every draft of section 2 failed: it states the facts, and says why.
    let second = &report.sections[1];
    assert_eq!(second.attempts, ATTEMPTS);
    assert!(second.unsupported_numbers.is_empty());
    assert_eq!(
        second.rejected_draft.as_deref(),
        Some(&["the number 55.5%".to_string()][..])
    );
    assert!(
        second.text.contains("East China (region)"),
        "{}",
        second.text
    );
    let prompts = model.prompts.lock().expect("lock");
    assert!(
        prompts[1].contains("999.99"),
        "the retry names the wrong number: {}",
        prompts[1]
    );
    let markdown = std::fs::read_to_string(&report.files[0]).expect("md");
    assert!(markdown.contains(
        "Stated from the data: the model's 3 drafts did not pass the checks (the last: the number 55.5%)."
    ));
}

#[test]
fn a_role_without_the_sales_tool_gets_no_report_and_the_refusal_is_audited() {
    let demo = demo();
    let out = demo.root.join("out");
    let err = report(
        &demo,
        &as_user("sun.auditor", "auditor"),
        None,
        &request(&out, vec![Format::Markdown]),
    )
    .expect_err("auditors may not read sales data");
    assert!(matches!(err, ReportError::NotPermitted(_)), "{err}");
    assert!(!out.join("sales-report-2024-03.md").exists());
    let rows = demo.policy.audit().records(0, 100).expect("audit");
    assert!(rows
        .iter()
        .any(|r| r.event.kind == "decision" && r.event.data["decision"] == "deny"));
}

#[test]
fn chinese_text_is_typeset_in_the_pdf() {
    let demo = demo();
    let out = demo.root.join("out");
    let template = Template::parse(
        "title = \"月度销售报告\"\n[[sections]]\ntitle = \"概要\"\ninstruction = \"总结本月销售。\"\nfacts = [\"totals\"]\n",
    )
    .expect("template");
    let mut req = request(&out, vec![Format::Pdf, Format::Docx]);
    req.template = template;
    let report = report(&demo, &as_user("admin", "admin"), None, &req).expect("report");
    let text = std::process::Command::new("pdftotext")
        .arg(&report.files[0])
        .arg("-")
        .output()
        .expect("pdftotext");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("月度销售报告"), "{text}");
    assert!(text.contains("概要"), "{text}");
}

/// The strategy documents, as a fixed list, and the questions asked of them.
struct Strategy {
    queries: Mutex<Vec<String>>,
    /// Who each question was asked as.
    readers: Mutex<Vec<String>>,
}

impl PassageSource for Strategy {
    fn passages(&self, caller: &Principal, query: &str) -> Result<Vec<Passage>, String> {
        self.queries.lock().expect("lock").push(query.to_string());
        self.readers.lock().expect("lock").push(caller.user.clone());
        Ok(vec![Passage {
            id: "S1".into(),
            source: "strategy-2024.md".into(),
            section: "Southwest recovery".into(),
            text: "The Southwest region targets 480 new stores in 2024.".into(),
        }])
    }
}

/// Each section is written beside its strategy passages; the passages it cites are listed
/// under it in the files; a draft that cites a passage it was not given, takes a number from
/// one, or copies one is written again.
#[test]
fn prose_cites_the_strategy_passages_it_was_given_and_takes_no_number_from_them() {
    let demo = demo();
    let out = demo.root.join("out");
    let mut template = Template::builtin();
    template.sections.truncate(2);
    let model = Scripted::new(&[
        "Revenue was steady, in line with the plan [S2].",
        "Revenue was steady, far from the 480 new stores the plan sets [S1].",
        "Revenue was steady, as the plan for the Southwest expects [S1].",
        "The Southwest region targets … new stores in … [S1].",
        "The regions moved apart, as the strategy foresaw [S1].",
    ]);
    let strategy = Strategy {
        queries: Mutex::new(Vec::new()),
        readers: Mutex::new(Vec::new()),
    };
    let mut req = request(&out, vec![Format::Markdown, Format::Docx]);
    req.template = template;
    let report = report_with_strategy(
        &demo,
        &as_user("admin", "admin"),
        Some(&model),
        Some(&strategy),
        &req,
    )
    .expect("report");

    // One question per section, naming the section and its facts, asked as the report's
    // reader (the user the data was read as).
    let queries = strategy.queries.lock().expect("lock");
    assert_eq!(queries.len(), 2);
    assert_eq!(*strategy.readers.lock().expect("lock"), ["admin", "admin"]);
    assert!(
        queries[1].starts_with("Regional performance."),
        "{}",
        queries[1]
    );
    assert!(queries[1].contains("East China (region)"), "{}", queries[1]);
    let prompts = model.prompts.lock().expect("lock");
    // The note is shown without its figures.
    assert!(
        prompts[0].contains(
            "[S1] (strategy-2024.md, Southwest recovery) The Southwest region targets … new \
             stores in …."
        ),
        "{}",
        prompts[0]
    );
    assert!(
        prompts[1].contains("it cites [S2], which is not one of the notes"),
        "{}",
        prompts[1]
    );
    assert!(prompts[2].contains("the number 480"), "{}", prompts[2]);
    assert!(
        prompts[4].contains("copies a strategy note"),
        "{}",
        prompts[4]
    );

    let first = &report.sections[0];
    assert_eq!(first.attempts, 3);
    assert_eq!(first.citations.len(), 1);
    assert_eq!(first.citations[0].id, "S1");
    assert_eq!(first.citations[0].section, "Southwest recovery");
    assert_eq!(report.sections[1].attempts, 2);

    let markdown = std::fs::read_to_string(&report.files[0]).expect("md");
    assert!(
        markdown.contains("_Sources: [S1] strategy-2024.md, Southwest recovery._"),
        "{markdown}"
    );
    let docx = std::fs::read(&report.files[1]).expect("docx");
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(docx)).expect("zip");
    let mut document = String::new();
    std::io::Read::read_to_string(
        &mut archive.by_name("word/document.xml").expect("document.xml"),
        &mut document,
    )
    .expect("read");
    assert!(document.contains("Sources: [S1] strategy-2024.md, Southwest recovery."));
}

#[test]
fn progress_names_each_stage_and_section_in_order_as_the_report_is_written() {
    let demo = demo();
    let out = tempfile::tempdir().expect("out");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut request = request(out.path(), vec![Format::Markdown, Format::Pdf]);
    let sink = Arc::clone(&seen);
    request.progress = Some(ProgressSink(Arc::new(move |step| {
        sink.lock().expect("lock").push(step)
    })));
    let written =
        report(&demo, &as_user("li.employee", "employee"), None, &request).expect("report");
    let seen = seen.lock().expect("lock").clone();
    let stages: Vec<&str> = seen
        .iter()
        .filter_map(|step| match step {
            Progress::Stage { name, .. } => Some(*name),
            Progress::Section { .. } => None,
        })
        .collect();
    assert_eq!(
        stages,
        ["data", "analysis", "charts", "strategy", "prose", "md", "pdf"]
    );
    let sections: Vec<(usize, usize, String)> = seen
        .iter()
        .filter_map(|step| match step {
            Progress::Section {
                index,
                total,
                title,
                ..
            } => Some((*index, *total, title.clone())),
            Progress::Stage { .. } => None,
        })
        .collect();
    let total = written.sections.len();
    let expected: Vec<(usize, usize, String)> = written
        .sections
        .iter()
        .enumerate()
        .map(|(i, s)| (i + 1, total, s.title.clone()))
        .collect();
    assert_eq!(sections, expected);
    // Sections are told between the strategy stage and the prose stage's end.
    let first_section = seen
        .iter()
        .position(|s| matches!(s, Progress::Section { .. }))
        .expect("a section");
    assert!(matches!(
        &seen[first_section - 1],
        Progress::Stage {
            name: "strategy",
            ..
        }
    ));
}
