//! Any message on `oai-events` goes through the local interviewer's client-event parser without
//! a panic: an event or a typed error, the size limit kept.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    viva_localstack::interviewer::client_event::check_client_event(&String::from_utf8_lossy(data));
});
