//! Any bytes, read as a JSON Lines log of server events, go through the parser and the
//! assembler without a panic, and leave a transcript whose lines are all final and numbered 1..n;
//! each line also goes through GPT-Live's parser, which must return an event or an error.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let log = String::from_utf8_lossy(data);
    let replay = viva_realtime::replay(&log);
    let lines = replay.assembler.lines();
    for (expected, line) in (1..).zip(&lines) {
        assert_eq!(line.seq, expected, "line numbers have a gap or repeat");
        assert_eq!(line.status, viva_realtime::LineStatus::Final, "finish left a line open");
    }
    for line in log.lines() {
        let _ = viva_realtime::live::parse_live_event(line);
    }
});
