//! Any bytes, read as a JSON Lines log of server events, go through the parser and the
//! assembler without a panic, and leave a transcript whose lines are all final and numbered 1..n;
//! the same bytes read as a GPT-Live log go through a whole Live conversation (parser, grouping,
//! line placement, timers) and leave final lines numbered 1..n with unique ids.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let log = String::from_utf8_lossy(data);
    let replay = viva_realtime::replay(&log);
    let lines = replay.assembler.lines();
    for (expected, line) in (1..).zip(&lines) {
        assert_eq!(line.seq, expected, "line numbers have a gap or repeat");
        assert_eq!(line.status, viva_realtime::LineStatus::Final, "finish left a line open");
    }
    let live = viva_realtime::replay_live(&log);
    let mut ids = std::collections::HashSet::new();
    for (expected, line) in (1..).zip(&live) {
        assert_eq!(line.seq, expected, "Live line numbers have a gap or repeat");
        assert_eq!(line.status, viva_realtime::LineStatus::Final, "a Live line left open");
        assert!(ids.insert(line.item_id.clone()), "a Live line id repeats");
    }
});
