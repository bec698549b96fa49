//! Compile-time behaviour of `#[gen_server]`: what compiles, and the errors for mistakes.
//! Regenerate the expected errors with `TRYBUILD=overwrite cargo test -p locus-macros`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/gen_server/pass/*.rs");
    t.compile_fail("tests/gen_server/fail/*.rs");
}
