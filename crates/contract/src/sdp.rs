//! The SDP proxy's check of an offer before it goes upstream (size, SDP shape, exactly one
//! audio and one data-channel section), shared by every proxy implementation. Pure text rules.

/// The largest offer the proxy forwards.
pub const MAX_SDP_BYTES: usize = 64 * 1024;
/// Why an offer was refused before it went anywhere.
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
}

/// Checks an offer before it is forwarded: size, SDP shape, exactly one audio and one data
/// channel section.
pub fn validate_offer(sdp: &str) -> Result<(), SdpError> {
    if sdp.len() > MAX_SDP_BYTES {
        return Err(SdpError::TooLarge(sdp.len()));
    }
    if !sdp.trim_start().starts_with("v=0") {
        return Err(SdpError::NotSdp);
    }
    // Every media section, however it is indented, is counted once: "m=" lines that are
    // neither audio nor application are the rest (no subtraction that could underflow).
    let (mut audio, mut application, mut others) = (0_usize, 0_usize, 0_usize);
    for line in sdp.lines().map(str::trim_start) {
        let Some(media) = line.strip_prefix("m=") else {
            continue;
        };
        // `m=<media> <port> <proto> <format>...`, fields separated by single spaces (RFC 8866):
        // a line with fewer fields, or other separators, is no media section the upstream
        // could answer, so it counts against the offer.
        let fields: Vec<&str> = media.split(' ').collect();
        let well_formed = fields.iter().all(|field| !field.is_empty());
        match fields.as_slice() {
            _ if !well_formed => others += 1,
            ["audio", _, _, _, ..] => audio += 1,
            ["application", _, _, _, ..] => application += 1,
            _ => others += 1,
        }
    }
    if audio != 1 || application != 1 || others != 0 {
        return Err(SdpError::WrongSections {
            audio,
            application,
            others,
        });
    }
    Ok(())
}
