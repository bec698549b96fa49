//! Writes the starting corpus (valid inputs from `locus_runtime::fuzzing::seeds`) into
//! `corpus/<target>/seed-<n>`: `cargo run --bin write_corpus` from `fuzz/`.

fn main() -> std::io::Result<()> {
    for (n, (target, bytes)) in locus_runtime::fuzzing::seeds().into_iter().enumerate() {
        let dir = std::path::Path::new("corpus").join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(format!("seed-{n}")), bytes)?;
    }
    Ok(())
}
