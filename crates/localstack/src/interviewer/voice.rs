//! The interviewer's voice: a line of text → 48 kHz speech → 20 ms Opus packets. Speech comes
//! from the `espeak-ng` program (running it is sturdier than linking its C library: a crash or
//! a missing voice stays in the child process); without it, a short chime stands in and the
//! session says so.

use std::process::Command;

use viva_audio::resample::StreamResampler;
use viva_audio::{EncoderSettings, FRAME_SAMPLES, OpusEncoder};

/// How lines are voiced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Voice {
    /// `espeak-ng` with this voice name.
    Espeak(String),
    /// No synthesiser: a chime, the words go as text only.
    Chime,
}

impl Voice {
    /// espeak-ng when it runs here, else the chime.
    pub fn detect() -> Self {
        let works = Command::new("espeak-ng")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if works {
            Self::Espeak("en-us".into())
        } else {
            Self::Chime
        }
    }

    /// What `session.created` reports about the voice.
    pub fn describe(&self) -> String {
        match self {
            Self::Espeak(name) => format!("espeak-ng:{name}"),
            Self::Chime => {
                "chime: espeak-ng is not installed, so questions are sent as text with a chime"
                    .into()
            }
        }
    }
}

/// Why a line could not be voiced.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VoiceError {
    #[error("espeak-ng failed: {0}")]
    Synth(String),
    #[error("espeak-ng produced audio we cannot read: {0}")]
    Wav(String),
    #[error(transparent)]
    Audio(#[from] viva_audio::AudioError),
}

/// A voiced line: Opus packets of 20 ms each.
#[derive(Debug, Clone, Default)]
pub struct Speech {
    pub packets: Vec<bytes::Bytes>,
    /// Where the voice is audible within the packets, in ms from the first (the synthesiser
    /// leaves silence around it): the words are spoken over this span.
    pub voiced_ms: (u64, u64),
}

impl Speech {
    pub fn duration_ms(&self) -> u64 {
        self.packets.len() as u64 * 20
    }
}

/// The first and last audible moment of 48 kHz `pcm`, in ms; all of it when nothing is.
fn voiced_span(pcm: &[f32]) -> (u64, u64) {
    const AUDIBLE: f32 = 0.02;
    let ms = |i: usize| i as u64 * 1000 / 48_000;
    match (
        pcm.iter().position(|s| s.abs() > AUDIBLE),
        pcm.iter().rposition(|s| s.abs() > AUDIBLE),
    ) {
        (Some(first), Some(last)) => (ms(first), ms(last + 1)),
        _ => (0, ms(pcm.len())),
    }
}

/// Voices `text` (blocking: a child process and the encoder; run it off the async threads).
pub fn speak(voice: &Voice, text: &str) -> Result<Speech, VoiceError> {
    let (rate, samples) = match voice {
        Voice::Espeak(name) => espeak(name, text)?,
        Voice::Chime => (48_000, chime()),
    };
    let mut pcm = Vec::with_capacity(samples.len() * 48_000 / rate.max(1) as usize + 4096);
    let mut resampler = StreamResampler::new(rate, 48_000)?;
    resampler.process(&samples, &mut pcm)?;
    // Flush what the resampler holds back, then pad to whole frames.
    resampler.process(&vec![0.0; rate as usize / 10], &mut pcm)?;
    let frames = pcm.len().div_ceil(FRAME_SAMPLES);
    pcm.resize(frames * FRAME_SAMPLES, 0.0);
    let voiced_ms = voiced_span(&pcm);
    let mut encoder = OpusEncoder::new(EncoderSettings::default())?;
    let packets = pcm
        .chunks_exact(FRAME_SAMPLES)
        .map(|frame| encoder.encode(frame).map(bytes::Bytes::from))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Speech { packets, voiced_ms })
}

/// One encoded 20 ms frame of silence, sent between lines so the stream's timing never breaks.
pub fn silence_packet() -> Result<bytes::Bytes, VoiceError> {
    let mut encoder = OpusEncoder::new(EncoderSettings::default())?;
    Ok(bytes::Bytes::from(encoder.encode(&[0.0; FRAME_SAMPLES])?))
}

fn espeak(voice: &str, text: &str) -> Result<(u32, Vec<f32>), VoiceError> {
    let output = Command::new("espeak-ng")
        .args(["-v", voice, "-s", "165", "--stdout"])
        // `--` so a line starting with a dash is spoken, not read as an option.
        .arg("--")
        .arg(text)
        .output()
        .map_err(|e| VoiceError::Synth(e.to_string()))?;
    if !output.status.success() {
        return Err(VoiceError::Synth(
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ));
    }
    // espeak-ng writes a streaming WAV whose size fields may be 0 or -1: read the header for
    // the format, then take every sample after it.
    let reader = hound::WavReader::new(std::io::Cursor::new(&output.stdout))
        .map_err(|e| VoiceError::Wav(e.to_string()))?;
    let spec = reader.spec();
    if spec.bits_per_sample != 16 || spec.sample_format != hound::SampleFormat::Int {
        return Err(VoiceError::Wav(format!("{spec:?}")));
    }
    let channels = usize::from(spec.channels.max(1));
    let data = data_chunk(&output.stdout).ok_or_else(|| VoiceError::Wav("no data chunk".into()))?;
    let samples = data
        .chunks_exact(2 * channels)
        .map(|frame| f32::from(i16::from_le_bytes([frame[0], frame[1]])) / 32768.0)
        .collect();
    Ok((spec.sample_rate, samples))
}

/// The bytes after the `data` chunk header of a RIFF/WAVE file.
fn data_chunk(wav: &[u8]) -> Option<&[u8]> {
    let mut at = 12;
    while at + 8 <= wav.len() {
        let id = &wav[at..at + 4];
        let len = u32::from_le_bytes([wav[at + 4], wav[at + 5], wav[at + 6], wav[at + 7]]) as usize;
        if id == b"data" {
            return Some(&wav[at + 8..]);
        }
        at = at.checked_add(8 + len + (len & 1))?;
    }
    None
}

/// Two soft notes, 0.4 s, at 48 kHz.
fn chime() -> Vec<f32> {
    let note = |freq: f32, n: usize| {
        (0..n).map(move |i| {
            let t = i as f32 / 48_000.0;
            let fade = (1.0 - i as f32 / n as f32).powi(2);
            0.3 * fade * (std::f32::consts::TAU * freq * t).sin()
        })
    };
    note(880.0, 9_600).chain(note(660.0, 9_600)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_chunk_is_found_after_other_chunks() {
        let mut wav = b"RIFF\0\0\0\0WAVE".to_vec();
        wav.extend_from_slice(b"fmt \x02\0\0\0ab");
        wav.extend_from_slice(b"data\xff\xff\xff\xff");
        wav.extend_from_slice(&[1, 2, 3, 4]);
        assert_eq!(data_chunk(&wav), Some(&[1u8, 2, 3, 4][..]));
        assert_eq!(data_chunk(b"RIFF\0\0\0\0WAVEfmt \xff\xff\xff\x7f"), None);
    }

    #[test]
    fn the_chime_is_voiced_as_whole_frames() {
        let speech = speak(&Voice::Chime, "ignored").unwrap();
        assert!(
            (400..=520).contains(&speech.duration_ms()),
            "{}",
            speech.duration_ms()
        );
        let (from, to) = speech.voiced_ms;
        assert!(
            from < 20 && to > 300 && to <= speech.duration_ms(),
            "{from}..{to}"
        );
    }

    #[test]
    fn the_voiced_span_leaves_out_the_silence_around_it() {
        let mut pcm = vec![0.0; 4_800];
        pcm.extend(std::iter::repeat_n(0.5, 9_600));
        pcm.extend(vec![0.001; 4_800]);
        assert_eq!(voiced_span(&pcm), (100, 300));
        assert_eq!(voiced_span(&[0.0; 480]), (0, 10));
    }
}
