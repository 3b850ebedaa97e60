//! The offer check: real offers (webrtc-rs 0.21.1 as the desktop client builds it, Chrome and
//! Firefox) pass; each hygiene rule refuses with its own error, whose message never repeats
//! more than a short excerpt of the offer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

use proptest::prelude::*;
use viva_contract::sdp::{
    MAX_CANDIDATES, MAX_SDP_LINE_BYTES, MAX_SDP_LINES, SdpError, validate_offer,
};

/// Captured from webrtc-rs 0.21.1 built as `crates/rtc/src/peer.rs` builds the client's peer
/// (Opus track, `oai-events` channel, complete gathering on loopback).
const WEBRTC_RS: &str = include_str!("../testdata/webrtc_rs_0_21_offer.sdp");
/// Written after current Chrome's audio + data channel offer, placeholder credentials.
const CHROME: &str = include_str!("../testdata/chrome_offer.sdp");
/// Written after current Firefox's audio + data channel offer, placeholder credentials.
const FIREFOX: &str = include_str!("../testdata/firefox_offer.sdp");

/// `offer` with every line `matches` picks replaced by `with` (no line when empty).
fn replace_lines(offer: &str, matches: impl Fn(&str) -> bool, with: &str) -> String {
    offer
        .split_inclusive('\n')
        .map(|line| {
            if matches(line.trim_end()) {
                if with.is_empty() {
                    String::new()
                } else {
                    format!("{with}\r\n")
                }
            } else {
                line.to_owned()
            }
        })
        .collect()
}

/// `offer` with `extra` (CRLF-terminated lines) inserted right after the first line `after`
/// starts.
fn insert_after(offer: &str, after: &str, extra: &str) -> String {
    let mut out = String::new();
    let mut done = false;
    for line in offer.split_inclusive('\n') {
        out.push_str(line);
        if !done && line.starts_with(after) {
            out.push_str(extra);
            done = true;
        }
    }
    assert!(done, "no line starts {after:?}");
    out
}

#[test]
fn the_fixtures_are_what_they_claim() {
    // The capture is a complete offer with its candidates, CRLF-terminated, as webrtc-rs
    // writes it: Opus, the data channel, actpass and a session-level SHA-256 fingerprint.
    assert!(WEBRTC_RS.contains("a=candidate:"), "{WEBRTC_RS}");
    assert!(WEBRTC_RS.contains("a=end-of-candidates\r\n"));
    assert!(WEBRTC_RS.contains("a=rtpmap:111 opus/48000/2\r\n"));
    assert!(WEBRTC_RS.contains("m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"));
    assert!(WEBRTC_RS.contains("a=msid:viva viva-microphone\r\n"));
    for offer in [WEBRTC_RS, CHROME, FIREFOX] {
        assert!(offer.starts_with("v=0\r\n"));
        assert!(offer.ends_with("\r\n"));
        assert_eq!(offer.matches('\n').count(), offer.matches("\r\n").count());
    }
}

#[test]
fn real_offers_pass() {
    assert_eq!(validate_offer(WEBRTC_RS), Ok(()));
    assert_eq!(validate_offer(CHROME), Ok(()));
    assert_eq!(validate_offer(FIREFOX), Ok(()));
}

#[test]
fn line_endings_may_be_lf_mixed_or_missing_at_the_end() {
    let lf = WEBRTC_RS.replace("\r\n", "\n");
    assert_eq!(validate_offer(&lf), Ok(()));
    let mixed = WEBRTC_RS.replacen("\r\n", "\n", 5);
    assert_eq!(validate_offer(&mixed), Ok(()));
    assert_eq!(validate_offer(WEBRTC_RS.trim_end()), Ok(()));
    // A blank line (a relay that appended one) is no harm.
    assert_eq!(validate_offer(&format!("{WEBRTC_RS}\r\n")), Ok(()));
}

#[test]
fn an_offer_made_before_gathering_finished_passes() {
    // The client sends what it has after its gathering timeout: maybe no candidates at all.
    let bare = replace_lines(
        WEBRTC_RS,
        |l| l.starts_with("a=candidate:") || l == "a=end-of-candidates",
        "",
    );
    assert!(!bare.contains("candidate"));
    assert_eq!(validate_offer(&bare), Ok(()));
}

#[test]
fn credentials_at_the_session_level_cover_both_sections() {
    let ufrag = WEBRTC_RS
        .lines()
        .find(|l| l.starts_with("a=ice-ufrag:"))
        .unwrap()
        .to_owned();
    let pwd = WEBRTC_RS
        .lines()
        .find(|l| l.starts_with("a=ice-pwd:"))
        .unwrap()
        .to_owned();
    let media_free = replace_lines(
        WEBRTC_RS,
        |l| l.starts_with("a=ice-ufrag:") || l.starts_with("a=ice-pwd:") || l == "a=setup:actpass",
        "",
    );
    let session = insert_after(
        &media_free,
        "t=0 0",
        &format!("{ufrag}\r\n{pwd}\r\na=setup:actpass\r\n"),
    );
    assert_eq!(validate_offer(&session), Ok(()));
}

#[test]
fn the_old_limits_still_hold() {
    assert_eq!(validate_offer("hello"), Err(SdpError::NotSdp));
    assert_eq!(validate_offer(""), Err(SdpError::NotSdp));
    assert_eq!(
        validate_offer(&format!(" {WEBRTC_RS}")),
        Err(SdpError::NotSdp)
    );
    assert_eq!(
        validate_offer(&format!("\r\n{WEBRTC_RS}")),
        Err(SdpError::NotSdp)
    );
    assert_eq!(
        validate_offer(&WEBRTC_RS.replacen("v=0", "v=1", 1)),
        Err(SdpError::NotSdp)
    );
    let huge = format!("{WEBRTC_RS}{}", "a=sendrecv\r\n".repeat(6_000));
    assert_eq!(validate_offer(&huge), Err(SdpError::TooLarge(huge.len())));
}

#[test]
fn a_key_line_is_refused() {
    let keyed = insert_after(WEBRTC_RS, "c=IN IP4", "k=clear:secret-key\r\n");
    assert_eq!(validate_offer(&keyed), Err(SdpError::EncryptionKey));
    let session = insert_after(WEBRTC_RS, "t=0 0", "k=prompt\r\n");
    assert_eq!(validate_offer(&session), Err(SdpError::EncryptionKey));
    assert!(!SdpError::EncryptionKey.to_string().contains("secret-key"));
}

#[test]
fn control_characters_are_refused() {
    // A lone CR: inside a line, and as a line ending without its LF.
    let lone_cr = WEBRTC_RS.replacen("a=mid:0\r\n", "a=mid:0\ra=mid:1\r\n", 1);
    let line = lone_cr.lines().position(|l| l.contains("\ra=mid")).unwrap() + 1;
    assert_eq!(
        validate_offer(&lone_cr),
        Err(SdpError::ControlCharacter { line, code: 0x0D })
    );
    let cr_only = WEBRTC_RS.replace("\r\n", "\r");
    assert_eq!(
        validate_offer(&cr_only),
        Err(SdpError::ControlCharacter {
            line: 1,
            code: 0x0D
        })
    );
    let nul = WEBRTC_RS.replacen("s=-", "s=-\0", 1);
    assert_eq!(
        validate_offer(&nul),
        Err(SdpError::ControlCharacter { line: 3, code: 0 })
    );
    let tab = WEBRTC_RS.replacen(
        "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "m=audio\t9 UDP/TLS/RTP/SAVPF 111",
        1,
    );
    assert!(matches!(
        validate_offer(&tab),
        Err(SdpError::ControlCharacter { code: 9, .. })
    ));
    let c1 = WEBRTC_RS.replacen("s=-", "s=-\u{85}", 1);
    assert_eq!(
        validate_offer(&c1),
        Err(SdpError::ControlCharacter {
            line: 3,
            code: 0x85
        })
    );
    assert_eq!(
        validate_offer("v=0\u{7f}\r\n"),
        Err(SdpError::ControlCharacter {
            line: 1,
            code: 0x7F
        })
    );
}

#[test]
fn at_most_600_lines() {
    let lines = WEBRTC_RS.lines().count();
    let padding = |n: usize| "a=sendrecv\r\n".repeat(n);
    let full = format!("{WEBRTC_RS}{}", padding(MAX_SDP_LINES - lines));
    assert_eq!(full.lines().count(), 600);
    assert_eq!(validate_offer(&full), Ok(()));
    let over = format!("{WEBRTC_RS}{}", padding(MAX_SDP_LINES + 1 - lines));
    assert_eq!(over.lines().count(), 601);
    assert_eq!(validate_offer(&over), Err(SdpError::TooManyLines));
    // Blank lines count too.
    let blank = format!("{full}\r\n");
    assert_eq!(validate_offer(&blank), Err(SdpError::TooManyLines));
}

#[test]
fn lines_are_at_most_4_kib() {
    let long_msid = |bytes: usize| format!("a=msid:{}\r\n", "x".repeat(bytes - "a=msid:".len()));
    let at_limit = insert_after(WEBRTC_RS, "a=mid:1", &long_msid(MAX_SDP_LINE_BYTES));
    assert_eq!(validate_offer(&at_limit), Ok(()));
    let five_kib = insert_after(WEBRTC_RS, "a=mid:1", &long_msid(5 * 1024));
    let line = five_kib.lines().position(|l| l.len() > 4096).unwrap() + 1;
    assert_eq!(
        validate_offer(&five_kib),
        Err(SdpError::LineTooLong { line })
    );
}

#[test]
fn every_line_is_a_typed_sdp_line_in_its_place() {
    let malformed =
        |offer: &str| matches!(validate_offer(offer), Err(SdpError::MalformedLine { .. }));
    // No type, an unknown type, indentation, a type with no `=`.
    assert!(malformed(&insert_after(WEBRTC_RS, "a=mid:0", "hello\r\n")));
    assert!(malformed(&insert_after(WEBRTC_RS, "a=mid:0", "x=1\r\n")));
    assert!(malformed(&insert_after(
        WEBRTC_RS,
        "a=mid:0",
        "A=sendrecv\r\n"
    )));
    assert!(malformed(&insert_after(WEBRTC_RS, "a=mid:0", "a\r\n")));
    assert!(malformed(&WEBRTC_RS.replacen("m=audio", "  m=audio", 1)));
    // Session-only lines after the first media section, a second version line.
    assert!(malformed(&insert_after(WEBRTC_RS, "a=mid:1", "t=0 0\r\n")));
    assert!(malformed(&insert_after(
        WEBRTC_RS,
        "a=mid:1",
        "o=- 1 1 IN IP4 0.0.0.0\r\n"
    )));
    assert!(malformed(&insert_after(WEBRTC_RS, "s=-", "v=0\r\n")));
    // Session description lines that may appear are fine.
    let described = insert_after(
        WEBRTC_RS,
        "s=-",
        "i=practice call\r\nu=https://example.com/\r\n",
    );
    assert_eq!(validate_offer(&described), Ok(()));
    assert_eq!(
        validate_offer(&insert_after(
            WEBRTC_RS,
            "a=mid:0",
            "i=microphone\r\nb=AS:64\r\n"
        )),
        Ok(())
    );
    // The excerpt is the offending line's start, never all of it.
    let long = insert_after(WEBRTC_RS, "a=mid:0", &format!("{}\r\n", "y".repeat(3_000)));
    let Err(SdpError::MalformedLine { excerpt, .. }) = validate_offer(&long) else {
        panic!("a long bad line passed");
    };
    assert!(excerpt.chars().count() <= 40, "{excerpt}");
}

#[test]
fn the_session_lines_are_required() {
    for (line, kind) in [("o=", 'o'), ("s=", 's'), ("t=", 't')] {
        let without = replace_lines(WEBRTC_RS, |l| l.starts_with(line), "");
        assert_eq!(validate_offer(&without), Err(SdpError::MissingLine(kind)));
    }
}

#[test]
fn two_audio_sections_are_refused() {
    let audio = WEBRTC_RS
        .split_inclusive('\n')
        .skip_while(|l| !l.starts_with("m=audio"))
        .take_while(|l| !l.starts_with("m=application"))
        .collect::<String>();
    let twice = format!("{WEBRTC_RS}{audio}");
    assert_eq!(
        validate_offer(&twice),
        Err(SdpError::WrongSections {
            audio: 2,
            application: 1,
            others: 0
        })
    );
    let no_channel = WEBRTC_RS.replace(
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
        "m=audio 9 UDP/TLS/RTP/SAVPF 0",
    );
    assert_eq!(
        validate_offer(&no_channel),
        Err(SdpError::WrongSections {
            audio: 2,
            application: 0,
            others: 0
        })
    );
}

#[test]
fn a_video_section_is_refused() {
    let video = format!(
        "{WEBRTC_RS}m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:2\r\na=rtpmap:96 VP8/90000\r\n"
    );
    assert_eq!(
        validate_offer(&video),
        Err(SdpError::WrongSections {
            audio: 1,
            application: 1,
            others: 1
        })
    );
}

#[test]
fn media_lines_need_the_webrtc_transports() {
    let bad_media = |from: &str, to: &str| {
        let offer = WEBRTC_RS.replacen(from, to, 1);
        // The error names the line by an excerpt of at most 40 characters.
        let Err(SdpError::BadMediaLine(excerpt)) = validate_offer(&offer) else {
            panic!("{to} passed or failed otherwise");
        };
        assert!(excerpt.chars().count() <= 40, "{excerpt}");
        assert!(
            to["m=".len()..].starts_with(excerpt.trim_end_matches('…')),
            "{excerpt}"
        );
    };
    let audio = "m=audio 9 UDP/TLS/RTP/SAVPF 111";
    // Plain RTP, no DTLS-SRTP; SDES-style SAVP; no formats; a format that is no payload type;
    // a bad port; a double space.
    bad_media(audio, "m=audio 9 RTP/AVP 111");
    bad_media(audio, "m=audio 9 RTP/SAVP 111");
    bad_media(audio, "m=audio 9 UDP/TLS/RTP/SAVPF");
    bad_media(audio, "m=audio 9 UDP/TLS/RTP/SAVPF 111 opus");
    bad_media(audio, "m=audio 9 UDP/TLS/RTP/SAVPF 128");
    bad_media(audio, "m=audio 70000 UDP/TLS/RTP/SAVPF 111");
    bad_media(audio, "m=audio 9/2 UDP/TLS/RTP/SAVPF 111");
    bad_media(audio, "m=audio 9 UDP/TLS/RTP/SAVPF  111");
    let channel = "m=application 9 UDP/DTLS/SCTP webrtc-datachannel";
    // The pre-2018 data channel form, plain SCTP, another protocol, a trailing field.
    bad_media(channel, "m=application 9 DTLS/SCTP 5000");
    bad_media(channel, "m=application 9 UDP/SCTP webrtc-datachannel");
    bad_media(channel, "m=application 9 UDP/DTLS/SCTP bfcp");
    bad_media(
        channel,
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel 1",
    );
}

#[test]
fn the_audio_section_must_offer_opus() {
    let no_opus = WEBRTC_RS.replace("a=rtpmap:111 opus/48000/2", "a=rtpmap:111 PCMU/8000");
    assert_eq!(validate_offer(&no_opus), Err(SdpError::NoOpus));
    let mono = WEBRTC_RS.replace("a=rtpmap:111 opus/48000/2", "a=rtpmap:111 opus/48000");
    assert_eq!(validate_offer(&mono), Err(SdpError::NoOpus));
    // An Opus mapping for a payload type the media line does not offer is no Opus.
    let unlisted = WEBRTC_RS.replace("a=rtpmap:111 opus/48000/2", "a=rtpmap:112 opus/48000/2");
    assert_eq!(validate_offer(&unlisted), Err(SdpError::NoOpus));
    // Opus mapped in the data channel section is not the audio section's.
    let moved = insert_after(
        &WEBRTC_RS.replace("a=rtpmap:111 opus/48000/2\r\n", ""),
        "a=mid:1",
        "a=rtpmap:111 opus/48000/2\r\n",
    );
    assert_eq!(validate_offer(&moved), Err(SdpError::NoOpus));
    // Encoding names are case-insensitive.
    let upper = WEBRTC_RS.replace("opus/48000/2", "OPUS/48000/2");
    assert_eq!(validate_offer(&upper), Ok(()));
}

#[test]
fn missing_ice_credentials_are_refused() {
    let no_pwd = replace_lines(WEBRTC_RS, |l| l.starts_with("a=ice-pwd:"), "");
    assert_eq!(
        validate_offer(&no_pwd),
        Err(SdpError::MissingAttribute {
            attribute: "ice-pwd",
            section: "audio"
        })
    );
    let no_ufrag = replace_lines(WEBRTC_RS, |l| l.starts_with("a=ice-ufrag:"), "");
    assert_eq!(
        validate_offer(&no_ufrag),
        Err(SdpError::MissingAttribute {
            attribute: "ice-ufrag",
            section: "audio"
        })
    );
    // Chrome writes them in each section: the data channel's alone missing is found too.
    let channel_start = CHROME.find("m=application").unwrap();
    let (audio, channel) = CHROME.split_at(channel_start);
    let channel = replace_lines(channel, |l| l.starts_with("a=ice-pwd:"), "");
    assert_eq!(
        validate_offer(&format!("{audio}{channel}")),
        Err(SdpError::MissingAttribute {
            attribute: "ice-pwd",
            section: "application"
        })
    );
    // Credentials outside RFC 8839's characters and lengths.
    for (from, to, name) in [
        ("a=ice-ufrag:Xy7Q", "a=ice-ufrag:Xy7", "ice-ufrag"),
        ("a=ice-ufrag:Xy7Q", "a=ice-ufrag:Xy7Q=", "ice-ufrag"),
        (
            "a=ice-pwd:PlaceholderIcePassword24",
            "a=ice-pwd:short",
            "ice-pwd",
        ),
    ] {
        assert_eq!(
            validate_offer(&CHROME.replacen(from, to, 1)),
            Err(SdpError::MalformedAttribute(name)),
            "{to}"
        );
    }
}

#[test]
fn a_missing_or_weak_fingerprint_is_refused() {
    let no_fingerprint = replace_lines(WEBRTC_RS, |l| l.starts_with("a=fingerprint:"), "");
    assert_eq!(
        validate_offer(&no_fingerprint),
        Err(SdpError::MissingAttribute {
            attribute: "fingerprint",
            section: "audio"
        })
    );
    let sha1 = "a=fingerprint:sha-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB";
    let sha1_only = replace_lines(WEBRTC_RS, |l| l.starts_with("a=fingerprint:"), sha1);
    assert_eq!(
        validate_offer(&sha1_only),
        Err(SdpError::WeakFingerprint("sha-1".into()))
    );
    // A weak one beside a strong one invites a downgrade: refused too.
    let beside = insert_after(WEBRTC_RS, "a=fingerprint:", &format!("{sha1}\r\n"));
    assert_eq!(
        validate_offer(&beside),
        Err(SdpError::WeakFingerprint("sha-1".into()))
    );
    let md5 = replace_lines(
        WEBRTC_RS,
        |l| l.starts_with("a=fingerprint:"),
        "a=fingerprint:md5 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF",
    );
    assert_eq!(
        validate_offer(&md5),
        Err(SdpError::WeakFingerprint("md5".into()))
    );
    // SHA-256 with the wrong number of bytes, or not hex.
    let short = replace_lines(
        WEBRTC_RS,
        |l| l.starts_with("a=fingerprint:"),
        "a=fingerprint:sha-256 00:11:22",
    );
    assert_eq!(
        validate_offer(&short),
        Err(SdpError::MalformedAttribute("fingerprint"))
    );
    let fingerprint = WEBRTC_RS
        .lines()
        .find(|l| l.starts_with("a=fingerprint:"))
        .unwrap();
    let not_hex = WEBRTC_RS.replacen(
        fingerprint,
        &format!("{}ZZ", &fingerprint[..fingerprint.len() - 2]),
        1,
    );
    assert_eq!(
        validate_offer(&not_hex),
        Err(SdpError::MalformedAttribute("fingerprint"))
    );
    // Stronger hashes pass (upper case too).
    let sha512 = format!("a=fingerprint:SHA-512 {}", vec!["AB"; 64].join(":"));
    let strong = replace_lines(WEBRTC_RS, |l| l.starts_with("a=fingerprint:"), &sha512);
    assert_eq!(validate_offer(&strong), Ok(()));
}

#[test]
fn an_offer_must_be_actpass() {
    for role in ["active", "passive", "holdconn"] {
        let offer = WEBRTC_RS.replacen("a=setup:actpass", &format!("a=setup:{role}"), 1);
        assert_eq!(
            validate_offer(&offer),
            Err(SdpError::SetupNotActpass(role.into()))
        );
    }
    let no_setup = replace_lines(WEBRTC_RS, |l| l.starts_with("a=setup:"), "");
    assert_eq!(
        validate_offer(&no_setup),
        Err(SdpError::MissingAttribute {
            attribute: "setup",
            section: "audio"
        })
    );
}

#[test]
fn odd_attributes_are_refused() {
    let flag = insert_after(WEBRTC_RS, "a=mid:0", "a=x-google-flag:conference\r\n");
    assert_eq!(
        validate_offer(&flag),
        Err(SdpError::OddAttribute("x-google-flag".into()))
    );
    // SDES keys in the signalling: refused, and the key is not repeated.
    let key = "inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:32";
    let crypto = insert_after(
        WEBRTC_RS,
        "a=mid:0",
        &format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 {key}\r\n"),
    );
    let refused = validate_offer(&crypto).unwrap_err();
    assert_eq!(refused, SdpError::OddAttribute("crypto".into()));
    assert!(!refused.to_string().contains("WVNf"), "{refused}");
    for odd in [
        "a=ice-lite",
        "a=tls-id:abc",
        "a=identity:eyJ",
        "a=sctpmap:5000 webrtc-datachannel 1024",
        "a=simulcast:send 1;2",
        "a=key-mgmt:mikey AQE",
        "a=Sendrecv",
    ] {
        let offer = insert_after(WEBRTC_RS, "a=mid:1", &format!("{odd}\r\n"));
        let name = odd["a=".len()..].split(':').next().unwrap();
        assert_eq!(
            validate_offer(&offer),
            Err(SdpError::OddAttribute(name.into())),
            "{odd}"
        );
    }
    // A long name is cut to an excerpt.
    let long = insert_after(
        WEBRTC_RS,
        "a=mid:1",
        &format!("a={}\r\n", "z".repeat(3_000)),
    );
    let Err(SdpError::OddAttribute(name)) = validate_offer(&long) else {
        panic!("a long attribute name passed");
    };
    assert!(name.chars().count() <= 40 && name.ends_with('…'), "{name}");
}

#[test]
fn attributes_keep_their_flag_or_value_form() {
    for (line, name) in [
        ("a=rtcp-mux:1", "rtcp-mux"),
        ("a=end-of-candidates:now", "end-of-candidates"),
        ("a=mid", "mid"),
        ("a=mid:", "mid"),
        ("a=candidate", "candidate"),
    ] {
        let offer = insert_after(WEBRTC_RS, "a=mid:1", &format!("{line}\r\n"));
        assert_eq!(
            validate_offer(&offer),
            Err(SdpError::MalformedAttribute(name)),
            "{line}"
        );
    }
}

#[test]
fn at_most_32_candidates() {
    let bare = replace_lines(WEBRTC_RS, |l| l.starts_with("a=candidate:"), "");
    let candidates = |n: usize| {
        (0..n)
            .map(|i| {
                format!(
                    "a=candidate:{i} 1 udp 2130706431 192.0.2.1 {} typ host\r\n",
                    50_000 + i
                )
            })
            .collect::<String>()
    };
    let full = insert_after(&bare, "a=mid:0", &candidates(MAX_CANDIDATES));
    assert_eq!(validate_offer(&full), Ok(()));
    let over = insert_after(&bare, "a=mid:0", &candidates(MAX_CANDIDATES + 1));
    assert_eq!(validate_offer(&over), Err(SdpError::TooManyCandidates));
}

#[test]
fn messages_stay_short() {
    // Whatever the offer holds, an error repeats at most a short excerpt of it.
    let filler = "Q".repeat(3_900);
    for offer in [
        insert_after(WEBRTC_RS, "a=mid:0", &format!("{filler}\r\n")),
        insert_after(WEBRTC_RS, "a=mid:0", &format!("a={filler}\r\n")),
        insert_after(WEBRTC_RS, "a=mid:0", &format!("a=setup:{filler}\r\n")),
        insert_after(
            WEBRTC_RS,
            "a=mid:0",
            &format!("a=fingerprint:{filler} AA\r\n"),
        ),
        WEBRTC_RS.replacen("m=audio 9", &format!("m=audio {filler}"), 1),
    ] {
        let message = validate_offer(&offer).unwrap_err().to_string();
        assert!(!message.contains(&"Q".repeat(41)), "{message}");
        assert!(message.len() < 300, "{message}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// No input panics, and no message repeats much of it.
    #[test]
    fn any_text_is_judged_without_panicking(text in any::<String>()) {
        if let Err(problem) = validate_offer(&text) {
            prop_assert!(problem.to_string().len() < 300);
        }
    }

    /// A real offer with one line replaced by anything is judged without panicking, and
    /// passes only if that line is still one a WebRTC offer may carry.
    #[test]
    fn a_real_offer_with_one_line_changed(at in 0_usize..40, line in "[ -~]{0,60}") {
        let mut lines: Vec<&str> = WEBRTC_RS.lines().collect();
        let at = at % lines.len();
        lines[at] = &line;
        let offer = lines.join("\r\n");
        if validate_offer(&offer).is_ok() {
            prop_assert!(offer.starts_with("v=0"));
            prop_assert!(!line.starts_with("k="));
            prop_assert!(line.is_empty() || line.as_bytes().get(1) == Some(&b'='));
        }
    }
}

#[test]
fn the_fuzz_seeds_are_judged_as_named() {
    // The fuzzer starts from both sides of the rules: the real offers, and one refusal each.
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/sdp_offer");
    let read = |name: &str| std::fs::read_to_string(corpus.join(name)).unwrap();
    assert_eq!(read("webrtc_rs_0_21_offer"), WEBRTC_RS);
    assert_eq!(read("chrome_offer"), CHROME);
    assert_eq!(read("firefox_offer"), FIREFOX);
    for name in ["webrtc_rs_0_21_offer", "chrome_offer", "firefox_offer"] {
        assert_eq!(validate_offer(&read(name)), Ok(()), "{name}");
    }
    let refused = |name: &str| validate_offer(&read(name)).unwrap_err();
    assert_eq!(refused("key_line"), SdpError::EncryptionKey);
    assert_eq!(
        refused("sdes_crypto"),
        SdpError::OddAttribute("crypto".into())
    );
    assert!(matches!(
        refused("lone_cr"),
        SdpError::ControlCharacter { code: 0x0D, .. }
    ));
    assert_eq!(
        refused("sha1_fingerprint"),
        SdpError::WeakFingerprint("sha-1".into())
    );
    assert_eq!(
        refused("setup_active"),
        SdpError::SetupNotActpass("active".into())
    );
    assert!(matches!(
        refused("rtp_avp_audio"),
        SdpError::BadMediaLine(_)
    ));
    // The old hand-made seeds lack what a real offer has: none passes now.
    for name in ["browser_offer", "indented_media", "video_section"] {
        assert!(validate_offer(&read(name)).is_err(), "{name}");
    }
}
