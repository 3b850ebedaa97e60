//! Fuzzes `viva_contract::checks::check_grant` (see its rules there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    viva_contract::checks::check_grant(data);
});
