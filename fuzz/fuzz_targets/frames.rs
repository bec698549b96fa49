//! Fuzz target: see `locus_runtime::fuzzing::frames`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    locus_runtime::fuzzing::frames(data);
});
