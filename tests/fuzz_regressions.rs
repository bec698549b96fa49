//! Every input the fuzzers were started from (`fuzz/corpus/<target>/seed-*`) and every
//! input that once broke a decoder (`fuzz/regressions/<target>/*`) runs through the same
//! entry point as the fuzz target, in the normal test suite.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

/// `(target, file)` for every file under `dir/<target>/` whose name passes `keep`.
fn inputs(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<(String, std::path::PathBuf)> {
    let mut out = Vec::new();
    let Ok(targets) = std::fs::read_dir(dir) else {
        return out;
    };
    for target in targets.flatten() {
        let name = target.file_name().to_string_lossy().into_owned();
        for file in std::fs::read_dir(target.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if keep(&file.file_name().to_string_lossy()) {
                out.push((name.clone(), file.path()));
            }
        }
    }
    out
}

#[test]
fn seeds_and_past_crashes_decode_without_panicking() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut all = inputs(&fuzz.join("corpus"), |f| f.starts_with("seed-"));
    let seeds = all.len();
    all.extend(inputs(&fuzz.join("regressions"), |f| !f.starts_with('.')));
    assert!(seeds >= 5, "the seed corpus is missing: {seeds} files");
    for (target, file) in &all {
        let bytes = std::fs::read(file).unwrap();
        assert!(
            locus_runtime::fuzzing::run(target, &bytes),
            "{} names an unknown target {target}",
            file.display()
        );
    }
}
