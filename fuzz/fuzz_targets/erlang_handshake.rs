//! Fuzz target: see `locus_runtime::fuzzing::erlang_handshake`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    locus_runtime::fuzzing::erlang_handshake(data);
});
