//! The SDP proxy's check of an offer before it goes upstream, shared by every proxy
//! implementation and the local stack's HTTP offer endpoints. Pure text rules, one pass over the
//! lines, no allocation that grows with the input (only an error's short excerpt).
//!
//! An offer passes when it is what a WebRTC client makes for one Opus audio transceiver and one
//! data channel (webrtc-rs 0.21.1 as the desktop client builds it, or a current browser):
//!
//! - at most [`MAX_SDP_BYTES`], [`MAX_SDP_LINES`] lines of at most [`MAX_SDP_LINE_BYTES`] each,
//!   ended by `\r\n` or `\n`; no other control character (no NUL, tab or lone `\r`);
//! - the first line is `v=0`; every other non-empty line is `<type>=<value>` with an RFC 8866
//!   type letter, session-only types (`o s u e p t r z`) before the first `m=`, and `o=`, `s=`,
//!   `t=` present; never `k=` (an encryption key);
//! - exactly one `m=audio <port> UDP/TLS/RTP/SAVPF <payload types>` section, with an
//!   `a=rtpmap:<pt> opus/48000/2` for one of its payload types, and exactly one
//!   `m=application <port> UDP/DTLS/SCTP webrtc-datachannel` section;
//! - each of the two sections has, at its own or the session level, `a=ice-ufrag`, `a=ice-pwd`
//!   (RFC 8839 characters and lengths), `a=fingerprint` with SHA-256 or stronger (every
//!   fingerprint: a weaker one beside it would invite a downgrade) and `a=setup:actpass` (the
//!   only role an offer may take, RFC 8842);
//! - only the attributes such an offer carries ([`ALLOWED_ATTRIBUTES`]; no SDES `a=crypto`, no
//!   vendor flags), each in its flag or `name:value` form, and at most [`MAX_CANDIDATES`]
//!   `a=candidate` lines.

/// The largest offer the proxy forwards.
pub const MAX_SDP_BYTES: usize = 64 * 1024;
/// The most lines an offer may have (the terminator of the last line starts no new line).
pub const MAX_SDP_LINES: usize = 600;
/// The longest line, in bytes, without its line ending.
pub const MAX_SDP_LINE_BYTES: usize = 4 * 1024;
/// The most `a=candidate` lines in an offer. webrtc-rs writes every candidate twice (RTP and
/// RTCP components, even with `a=rtcp-mux`), so this is 32 gathered candidates: room for a
/// developer's machine with container bridges and VPNs, still far from a flood.
pub const MAX_CANDIDATES: usize = 64;
/// The most characters of the offer's own text an error repeats (with its `…`).
const EXCERPT_CHARS: usize = 40;

/// Whether an attribute is a flag (`a=rtcp-mux`) or carries a value (`a=mid:0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeForm {
    Flag,
    Value,
}

/// The attributes an audio + data channel offer carries: what webrtc-rs 0.21.1, Chrome and
/// Firefox write. Anything else is refused with [`SdpError::OddAttribute`].
pub const ALLOWED_ATTRIBUTES: &[(&str, AttributeForm)] = &[
    // Session level.
    ("group", AttributeForm::Value),
    ("msid-semantic", AttributeForm::Value),
    ("extmap-allow-mixed", AttributeForm::Flag),
    // ICE and DTLS (either level).
    ("ice-ufrag", AttributeForm::Value),
    ("ice-pwd", AttributeForm::Value),
    ("ice-options", AttributeForm::Value),
    ("fingerprint", AttributeForm::Value),
    ("setup", AttributeForm::Value),
    ("candidate", AttributeForm::Value),
    ("end-of-candidates", AttributeForm::Flag),
    // Media sections (Firefox also writes a session-level direction).
    ("mid", AttributeForm::Value),
    ("sendrecv", AttributeForm::Flag),
    ("sendonly", AttributeForm::Flag),
    ("recvonly", AttributeForm::Flag),
    ("inactive", AttributeForm::Flag),
    ("msid", AttributeForm::Value),
    ("extmap", AttributeForm::Value),
    ("rtcp", AttributeForm::Value),
    ("rtcp-mux", AttributeForm::Flag),
    ("rtcp-rsize", AttributeForm::Flag),
    ("rtpmap", AttributeForm::Value),
    ("fmtp", AttributeForm::Value),
    ("rtcp-fb", AttributeForm::Value),
    ("ptime", AttributeForm::Value),
    ("maxptime", AttributeForm::Value),
    ("ssrc", AttributeForm::Value),
    ("ssrc-group", AttributeForm::Value),
    // The data channel section.
    ("sctp-port", AttributeForm::Value),
    ("max-message-size", AttributeForm::Value),
];

/// Why an offer was refused before it went anywhere. No message repeats more than a short,
/// bounded excerpt of the offer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("the offer is {0} bytes; the limit is {MAX_SDP_BYTES}")]
    TooLarge(usize),
    #[error("the offer is not an SDP session description")]
    NotSdp,
    #[error(
        "the offer needs exactly one audio and one application (data channel) section; it has {audio} audio, {application} application and {others} other sections"
    )]
    WrongSections {
        audio: usize,
        application: usize,
        others: usize,
    },
    #[error("the offer has more than {MAX_SDP_LINES} lines")]
    TooManyLines,
    #[error("line {line} of the offer is longer than {MAX_SDP_LINE_BYTES} bytes")]
    LineTooLong { line: usize },
    /// A control character other than the line ending: NUL, tab, a lone `\r`, DEL, C1.
    #[error("line {line} of the offer has the control character U+{code:04X}")]
    ControlCharacter { line: usize, code: u32 },
    /// Not `<type>=<value>` with an SDP type letter, or a type out of its place.
    #[error("line {line} of the offer is not a valid SDP line here: {excerpt:?}")]
    MalformedLine { line: usize, excerpt: String },
    #[error("the offer has no {0}= line")]
    MissingLine(char),
    #[error("the offer carries an encryption key (k=), which WebRTC never sends")]
    EncryptionKey,
    #[error("the offer has the attribute a={0}, which a WebRTC offer does not carry")]
    OddAttribute(String),
    #[error("the offer's a={0} attribute is malformed")]
    MalformedAttribute(&'static str),
    #[error("the offer has more than {MAX_CANDIDATES} ICE candidates")]
    TooManyCandidates,
    #[error(
        "the offer's media line {0:?} is neither audio over UDP/TLS/RTP/SAVPF nor a UDP/DTLS/SCTP webrtc-datachannel"
    )]
    BadMediaLine(String),
    #[error("the offer's audio section has no opus/48000/2 codec")]
    NoOpus,
    #[error("the offer's {section} section has no a={attribute}, at its level or the session's")]
    MissingAttribute {
        attribute: &'static str,
        section: &'static str,
    },
    #[error("the offer's DTLS fingerprint uses {0:?}; sha-256 or stronger is required")]
    WeakFingerprint(String),
    #[error("an offer's a=setup must be actpass, not {0:?}")]
    SetupNotActpass(String),
}

/// Which part of the offer a line belongs to, for the security attributes and the codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Session,
    /// The first audio section.
    Audio,
    /// The first application section.
    Application,
    /// Any other section (counted, and refused once the pass is done).
    Other,
}

/// The security attributes seen at one level.
#[derive(Debug, Clone, Copy, Default)]
struct Security {
    ufrag: bool,
    pwd: bool,
    fingerprint: bool,
    setup: bool,
}

impl Security {
    /// The first attribute missing at this level and at the session's, if any.
    fn missing(self, session: Self) -> Option<&'static str> {
        [
            (self.ufrag || session.ufrag, "ice-ufrag"),
            (self.pwd || session.pwd, "ice-pwd"),
            (self.fingerprint || session.fingerprint, "fingerprint"),
            (self.setup || session.setup, "setup"),
        ]
        .into_iter()
        .find_map(|(present, name)| (!present).then_some(name))
    }
}

/// What the pass over the lines has seen so far.
#[derive(Debug, Default)]
struct Seen<'a> {
    origin: bool,
    name: bool,
    timing: bool,
    audio: usize,
    application: usize,
    others: usize,
    candidates: usize,
    /// The payload types of the (first) audio section.
    audio_formats: &'a str,
    opus: bool,
    session: Security,
    audio_security: Security,
    application_security: Security,
}

/// Checks an offer before it is forwarded (the rules are in the module's documentation).
///
/// # Errors
/// The first rule the offer breaks, as an [`SdpError`].
pub fn validate_offer(sdp: &str) -> Result<(), SdpError> {
    if sdp.len() > MAX_SDP_BYTES {
        return Err(SdpError::TooLarge(sdp.len()));
    }
    let mut seen = Seen::default();
    let mut section: Option<Section> = None;
    let mut number = 0_usize;
    for piece in sdp.split_inclusive('\n') {
        number += 1;
        if number > MAX_SDP_LINES {
            return Err(SdpError::TooManyLines);
        }
        // Only a `\r` right before the `\n` is part of the line ending.
        let line = match piece.strip_suffix('\n') {
            Some(body) => body.strip_suffix('\r').unwrap_or(body),
            None => piece,
        };
        if line.len() > MAX_SDP_LINE_BYTES {
            return Err(SdpError::LineTooLong { line: number });
        }
        if let Some(control) = line.chars().find(|c| c.is_control()) {
            return Err(SdpError::ControlCharacter {
                line: number,
                code: u32::from(control),
            });
        }
        if number == 1 {
            if line != "v=0" {
                return Err(SdpError::NotSdp);
            }
            section = Some(Section::Session);
            continue;
        }
        if line.is_empty() {
            continue;
        }
        let current = section.unwrap_or(Section::Session);
        section = Some(check_line(line, number, current, &mut seen)?);
    }
    if section.is_none() {
        return Err(SdpError::NotSdp);
    }
    finish(&seen)
}

/// Checks one non-empty line after the first; returns the section the next line is in.
fn check_line<'a>(
    line: &'a str,
    number: usize,
    section: Section,
    seen: &mut Seen<'a>,
) -> Result<Section, SdpError> {
    let malformed = || SdpError::MalformedLine {
        line: number,
        excerpt: excerpt(line),
    };
    let mut chars = line.chars();
    let (Some(kind), Some('=')) = (chars.next(), chars.next()) else {
        return Err(malformed());
    };
    let value = chars.as_str();
    let in_session = section == Section::Session;
    match kind {
        'k' => Err(SdpError::EncryptionKey),
        'o' | 's' | 't' if in_session => {
            let flag = match kind {
                'o' => &mut seen.origin,
                's' => &mut seen.name,
                _ => &mut seen.timing,
            };
            *flag = true;
            Ok(section)
        }
        'u' | 'e' | 'p' | 'r' | 'z' if in_session => Ok(section),
        'i' | 'c' | 'b' => Ok(section),
        'm' => media_line(value, seen),
        'a' => {
            attribute(value, section, seen)?;
            Ok(section)
        }
        _ => Err(malformed()),
    }
}

/// Counts an `m=` line and checks the shape of an audio or application one; returns the
/// section it starts.
fn media_line<'a>(value: &'a str, seen: &mut Seen<'a>) -> Result<Section, SdpError> {
    let bad = || SdpError::BadMediaLine(excerpt(value));
    let mut fields = value.splitn(4, ' ');
    let kind = fields.next().unwrap_or_default();
    let section = match kind {
        "audio" => {
            seen.audio += 1;
            if seen.audio > 1 {
                return Ok(Section::Other);
            }
            Section::Audio
        }
        "application" => {
            seen.application += 1;
            if seen.application > 1 {
                return Ok(Section::Other);
            }
            Section::Application
        }
        _ => {
            seen.others += 1;
            return Ok(Section::Other);
        }
    };
    let port_ok = fields.next().is_some_and(is_port);
    let proto = fields.next().unwrap_or_default();
    let formats = fields.next().unwrap_or_default();
    let shaped = match section {
        Section::Audio => {
            proto == "UDP/TLS/RTP/SAVPF"
                && !formats.is_empty()
                && formats.split(' ').all(is_payload_type)
        }
        _ => proto == "UDP/DTLS/SCTP" && formats == "webrtc-datachannel",
    };
    if !(port_ok && shaped) {
        return Err(bad());
    }
    if section == Section::Audio {
        seen.audio_formats = formats;
    }
    Ok(section)
}

/// Checks one `a=` line against the allow-list and the security rules.
fn attribute(value: &str, section: Section, seen: &mut Seen<'_>) -> Result<(), SdpError> {
    let (name, content) = match value.split_once(':') {
        Some((name, content)) => (name, Some(content)),
        None => (value, None),
    };
    let Some(&(known, form)) = ALLOWED_ATTRIBUTES.iter().find(|(known, _)| *known == name) else {
        return Err(SdpError::OddAttribute(excerpt(name)));
    };
    let content = match (form, content) {
        (AttributeForm::Flag, None) => "",
        (AttributeForm::Value, Some(content)) if !content.is_empty() => content,
        _ => return Err(SdpError::MalformedAttribute(known)),
    };
    // Which security attribute this line provides, recorded at its level below.
    let provides: Option<fn(&mut Security)> = match known {
        "ice-ufrag" | "ice-pwd" => {
            let shortest = if known == "ice-ufrag" { 4 } else { 22 };
            let ice_chars = content
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
            if !(ice_chars && (shortest..=256).contains(&content.len())) {
                return Err(SdpError::MalformedAttribute(known));
            }
            if known == "ice-ufrag" {
                Some(|s| s.ufrag = true)
            } else {
                Some(|s| s.pwd = true)
            }
        }
        "fingerprint" => {
            check_fingerprint(content)?;
            Some(|s| s.fingerprint = true)
        }
        "setup" => {
            if content != "actpass" {
                return Err(SdpError::SetupNotActpass(excerpt(content)));
            }
            Some(|s| s.setup = true)
        }
        "candidate" => {
            seen.candidates += 1;
            if seen.candidates > MAX_CANDIDATES {
                return Err(SdpError::TooManyCandidates);
            }
            None
        }
        "rtpmap" if section == Section::Audio => {
            // `a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>]`; encoding names are
            // case-insensitive (RFC 8866 §6.6).
            if let Some((payload_type, encoding)) = content.split_once(' ')
                && encoding.eq_ignore_ascii_case("opus/48000/2")
                && seen.audio_formats.split(' ').any(|pt| pt == payload_type)
            {
                seen.opus = true;
            }
            None
        }
        _ => None,
    };
    let level = match section {
        Section::Session => Some(&mut seen.session),
        Section::Audio => Some(&mut seen.audio_security),
        Section::Application => Some(&mut seen.application_security),
        Section::Other => None,
    };
    if let (Some(set), Some(level)) = (provides, level) {
        set(level);
    }
    Ok(())
}

/// `a=fingerprint:<hash> <hex pairs separated by colons>`, with a hash of SHA-256 or stronger.
fn check_fingerprint(content: &str) -> Result<(), SdpError> {
    let Some((hash, digest)) = content.split_once(' ') else {
        return Err(SdpError::MalformedAttribute("fingerprint"));
    };
    let bytes = [("sha-256", 32), ("sha-384", 48), ("sha-512", 64)]
        .into_iter()
        .find_map(|(name, bytes)| hash.eq_ignore_ascii_case(name).then_some(bytes));
    let Some(bytes) = bytes else {
        return Err(SdpError::WeakFingerprint(excerpt(hash)));
    };
    let mut count = 0_usize;
    let hex_pairs = digest.split(':').all(|pair| {
        count += 1;
        pair.len() == 2 && pair.bytes().all(|b| b.is_ascii_hexdigit())
    });
    if !(hex_pairs && count == bytes) {
        return Err(SdpError::MalformedAttribute("fingerprint"));
    }
    Ok(())
}

/// The rules that need the whole offer: the session lines, the sections, the codec and the
/// security attributes of each section.
fn finish(seen: &Seen<'_>) -> Result<(), SdpError> {
    for (present, kind) in [(seen.origin, 'o'), (seen.name, 's'), (seen.timing, 't')] {
        if !present {
            return Err(SdpError::MissingLine(kind));
        }
    }
    if seen.audio != 1 || seen.application != 1 || seen.others != 0 {
        return Err(SdpError::WrongSections {
            audio: seen.audio,
            application: seen.application,
            others: seen.others,
        });
    }
    if !seen.opus {
        return Err(SdpError::NoOpus);
    }
    for (level, section) in [
        (seen.audio_security, "audio"),
        (seen.application_security, "application"),
    ] {
        if let Some(attribute) = level.missing(seen.session) {
            return Err(SdpError::MissingAttribute { attribute, section });
        }
    }
    Ok(())
}

/// A decimal port, 0–65535, without sign or leading zeros beyond `0` itself.
fn is_port(text: &str) -> bool {
    (1..=5).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'))
        && text.parse::<u16>().is_ok()
}

/// An RTP payload type, 0–127 (RFC 3551).
fn is_payload_type(text: &str) -> bool {
    (1..=3).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_digit())
        && text.parse::<u8>().is_ok_and(|pt| pt <= 127)
}

/// At most [`EXCERPT_CHARS`] characters of the offer's text, `…` marking a cut.
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_CHARS - 1) {
        Some((end, _)) => {
            let mut cut = text.get(..end).unwrap_or_default().to_owned();
            cut.push('…');
            cut
        }
        None => text.to_owned(),
    }
}
