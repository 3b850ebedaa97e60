//! Fuzzes `viva_contract::checks::check_offer` (see its rules there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    viva_contract::checks::check_offer(&String::from_utf8_lossy(data));
});
