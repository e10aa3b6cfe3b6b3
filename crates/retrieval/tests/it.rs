//! Retrieval with the real embedding model (all-MiniLM-L6-v2, fetched by `scripts/test` into
//! FULCRUM_EMBEDDING_WEIGHTS / FULCRUM_EMBEDDING_TOKENIZER), and document extraction.

use std::path::{Path, PathBuf};

use fulcrum_retrieval::{
    evaluate, extract_text, load_queries, similarity, ChunkLimits, Embedder, IngestOutcome,
    KnowledgeStore, SearchMode, DIMENSIONS,
};

fn embedder() -> Embedder {
    let path = |name: &str| {
        PathBuf::from(std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: run the tests with scripts/test (it fetches the embedding model)")
        }))
    };
    Embedder::load(
        &path("FULCRUM_EMBEDDING_WEIGHTS"),
        &path("FULCRUM_EMBEDDING_TOKENIZER"),
    )
    .expect("the embedding model loads")
}

fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

#[test]
fn embeddings_are_unit_vectors_that_put_paraphrases_together() {
    let embedder = embedder();
    let vectors = embedder
        .embed(&[
            "How long is the warranty on my phone?",
            "Phones carry a two-year guarantee against defects.",
            "Hotel rooms in Shanghai are capped at 800 yuan a night.",
        ])
        .expect("embed");
    assert_eq!(vectors.len(), 3);
    for vector in &vectors {
        assert_eq!(vector.len(), DIMENSIONS);
        let norm: f32 = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3, "norm {norm}");
    }
    let related = similarity(&vectors[0], &vectors[1]);
    let unrelated = similarity(&vectors[0], &vectors[2]);
    assert!(related > unrelated + 0.2, "{related} vs {unrelated}");
    // Batching pads short texts: padding must not change a text's vector.
    let alone = embedder
        .embed(&["How long is the warranty on my phone?"])
        .expect("embed");
    assert!(similarity(&alone[0], &vectors[0]) > 0.9999);
}

#[test]
fn dense_and_hybrid_search_find_paraphrased_questions_that_words_miss() {
    let embedder = embedder();
    let [bm25, dense, hybrid] = evaluate_set(
        &embedder,
        "docs/eval/retrieval/corpus",
        "docs/eval/retrieval/queries.jsonl",
    );
    assert!(bm25.ranks.len() >= 50);
    // EVAL.md's first table, with a margin: words alone miss paraphrases, the fusion keeps
    // most of what the embeddings find.
    assert!(dense.recall_at(5) >= 0.95, "dense {}", dense.recall_at(5));
    assert!(
        hybrid.recall_at(5) >= 0.95,
        "hybrid {}",
        hybrid.recall_at(5)
    );
    assert!(
        hybrid.recall_at(5) > bm25.recall_at(5) + 0.03,
        "hybrid {} vs bm25 {}",
        hybrid.recall_at(5),
        bm25.recall_at(5)
    );
}

#[test]
fn hybrid_without_the_embedder_is_bm25_and_dense_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let mut store = KnowledgeStore::open(&dir.path().join("k.db")).expect("open");
    let text = extract_text(&repo_file("docs/eval/retrieval/corpus/it-security.md")).expect("text");
    let ingested = store
        .ingest(
            "eval",
            "it-security.md",
            &text,
            ChunkLimits::default(),
            None,
        )
        .expect("ingest");
    assert!(matches!(ingested.outcome, IngestOutcome::Added { .. }));
    let hits = store
        .search("eval", "GlobalProtect", 3, SearchMode::Hybrid, None)
        .expect("bm25 fallback");
    assert!(hits[0].heading.ends_with("VPN"), "{hits:?}");
    assert!(store
        .search("eval", "x", 3, SearchMode::Dense, None)
        .is_err());
}

/// Ingests every document of `corpus` and runs its labeled queries in the three modes.
fn evaluate_set(
    embedder: &Embedder,
    corpus: &str,
    queries: &str,
) -> [fulcrum_retrieval::ModeResult; 3] {
    let dir = tempfile::tempdir().expect("dir");
    let mut store = KnowledgeStore::open(&dir.path().join("k.db")).expect("open");
    let mut files: Vec<_> = std::fs::read_dir(repo_file(corpus))
        .expect("corpus")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    for file in &files {
        let text = extract_text(file).expect("text");
        store
            .ingest(
                "eval",
                &file.display().to_string(),
                &text,
                ChunkLimits::default(),
                Some(embedder),
            )
            .expect("ingest");
    }
    let queries = load_queries(&repo_file(queries)).expect("queries");
    [SearchMode::Bm25, SearchMode::Dense, SearchMode::Hybrid]
        .map(|mode| evaluate(&store, "eval", &queries, mode, Some(embedder), 10).expect("eval"))
}

#[test]
fn on_look_alike_product_sheets_words_find_the_product_and_fusion_the_section() {
    let embedder = embedder();
    let [bm25, dense, hybrid] = evaluate_set(
        &embedder,
        "docs/eval/retrieval/catalogue",
        "docs/eval/retrieval/catalogue-queries.jsonl",
    );
    // EVAL.md: the SKU decides the document, which embeddings cannot tell apart; words find
    // it, and the fusion finds the section within 5 more often than either alone.
    assert!(
        bm25.recall_at(5) > dense.recall_at(5) + 0.3,
        "bm25 {} dense {}",
        bm25.recall_at(5),
        dense.recall_at(5)
    );
    assert!(
        hybrid.recall_at(5) >= bm25.recall_at(5) + 0.03,
        "hybrid {} bm25 {}",
        hybrid.recall_at(5),
        bm25.recall_at(5)
    );
    assert!(
        hybrid.recall_at(1) > bm25.recall_at(1) && hybrid.recall_at(1) > dense.recall_at(1),
        "recall@1 hybrid {} bm25 {} dense {}",
        hybrid.recall_at(1),
        bm25.recall_at(1),
        dense.recall_at(1)
    );
}

#[test]
fn docx_headings_become_sections_and_pdf_text_is_read() {
    use docx_rs::{Docx, Paragraph, Run, Table, TableCell, TableRow};
    let dir = tempfile::tempdir().expect("dir");
    let docx_path = dir.path().join("handbook.docx");
    let file = std::fs::File::create(&docx_path).expect("create");
    Docx::new()
        .add_paragraph(
            Paragraph::new()
                .add_run(Run::new().add_text("Expenses"))
                .style("Heading1"),
        )
        .add_paragraph(
            Paragraph::new().add_run(Run::new().add_text("Taxis are refunded after 9 pm.")),
        )
        .add_table(Table::new(vec![TableRow::new(vec![
            TableCell::new()
                .add_paragraph(Paragraph::new().add_run(Run::new().add_text("Beijing"))),
            TableCell::new()
                .add_paragraph(Paragraph::new().add_run(Run::new().add_text("800 yuan"))),
        ])]))
        .build()
        .pack(file)
        .expect("write docx");
    let text = extract_text(&docx_path).expect("docx text");
    assert!(text.starts_with("# Expenses\n"), "{text}");
    assert!(text.contains("Taxis are refunded after 9 pm."), "{text}");
    assert!(text.contains("Beijing | 800 yuan"), "{text}");

    // The sample report's PDF (a committed example): its text layer is read.
    let pdf = extract_text(&repo_file("docs/examples/sales-report-2024-03.pdf")).expect("pdf");
    assert!(pdf.contains("Southwest"), "{pdf}");
    // Not a PDF at all: an error naming the file, not a panic.
    let fake = dir.path().join("fake.pdf");
    std::fs::write(&fake, b"hello").expect("write");
    let err = extract_text(&fake).expect_err("not a pdf").to_string();
    assert!(err.contains("fake.pdf"), "{err}");
}

#[test]
fn a_zip_bomb_docx_and_an_oversized_file_are_refused_unread() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("dir");
    // 20 MB of one byte deflates to a few kilobytes: over 100 times its size once unzipped.
    let bomb = dir.path().join("bomb.docx");
    let mut writer = zip::ZipWriter::new(std::fs::File::create(&bomb).expect("create"));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    writer
        .start_file("word/document.xml", options)
        .expect("part");
    let block = vec![b'a'; 1024 * 1024];
    for _ in 0..20 {
        writer.write_all(&block).expect("write");
    }
    writer.finish().expect("finish");
    let err = extract_text(&bomb).expect_err("a bomb").to_string();
    assert!(
        err.contains("zip bomb") && err.contains("bomb.docx"),
        "{err}"
    );

    let huge = dir.path().join("huge.txt");
    let file = std::fs::File::create(&huge).expect("create");
    file.set_len(fulcrum_retrieval::MAX_DOCUMENT_BYTES + 1)
        .expect("sparse file");
    let err = extract_text(&huge).expect_err("too big").to_string();
    assert!(err.contains("more than the"), "{err}");
}
