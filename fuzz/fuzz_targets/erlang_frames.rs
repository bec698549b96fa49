//! Fuzz target: see `locus_runtime::fuzzing::erlang_frames`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    locus_runtime::fuzzing::erlang_frames(data);
});
