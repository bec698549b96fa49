//! Fuzz target: see `locus_runtime::fuzzing::etf`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    locus_runtime::fuzzing::etf(data);
});
