//! Any query string (one `key=value` pair a line) goes through the PostgREST parser for every
//! table without a panic, and the SQL it builds has exactly one placeholder per bound value.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    viva_localstack::rest::query::check_query_string(&String::from_utf8_lossy(data));
});
