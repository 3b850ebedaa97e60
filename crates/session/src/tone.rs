//! The pre-flight speaker test: a short tone played through the chosen output the way the
//! interviewer's voice is (Opus packets through the jitter buffer, handed to the echo
//! canceller as its reference), with its level reported, and whether the microphone heard it.

use std::time::Duration;

use viva_audio::{
    AudioEvent, Capture, CaptureSettings, Direction, EchoCanceller, EncoderSettings, FRAME_SAMPLES,
    JitterSettings, Level, OpusEncoder, Playback, PlaybackSettings, RtpAudio, SAMPLE_RATE,
};

use crate::SessionError;

/// How long the tone sounds.
pub const TONE: Duration = Duration::from_millis(1200);
const FREQUENCY_HZ: f32 = 440.0;
/// About −12 dBFS: clearly audible, never harsh.
const AMPLITUDE: f32 = 0.25;

/// The tone as RTP packets of 20 ms, faded in and out so it does not click.
///
/// # Errors
/// The encoder could not be made.
pub fn tone_packets() -> Result<Vec<RtpAudio>, SessionError> {
    let mut encoder = OpusEncoder::new(EncoderSettings::default())?;
    let frames = usize::try_from(TONE.as_millis() / 20).unwrap_or(60);
    let total = frames * FRAME_SAMPLES;
    let fade = SAMPLE_RATE as usize / 50;
    let mut packets = Vec::with_capacity(frames);
    for frame in 0..frames {
        let samples: Vec<f32> = (0..FRAME_SAMPLES)
            .map(|i| {
                let n = frame * FRAME_SAMPLES + i;
                let envelope = (n.min(total - n) as f32 / fade as f32).min(1.0);
                let phase = n as f32 * FREQUENCY_HZ / SAMPLE_RATE as f32;
                AMPLITUDE * envelope * (std::f32::consts::TAU * phase).sin()
            })
            .collect();
        packets.push(RtpAudio {
            sequence: u16::try_from(frame % 65_536).unwrap_or(0),
            timestamp: u32::try_from(frame * FRAME_SAMPLES).unwrap_or(0),
            payload: encoder.encode(&samples)?,
        });
    }
    Ok(packets)
}

/// The microphone listens this long before the tone, to know the room's own level.
const ROOM_BEFORE_TONE: Duration = Duration::from_millis(400);
/// A sound server may start a new recording or playback late, or move its audio in long
/// blocks: each wait for the devices to catch up (the microphone live before the tone, the
/// speakers through with it, the microphone past its end) gives up after this long. Without
/// them the verdict was often "cannot tell".
const MICROPHONE_CATCH_UP: Duration = Duration::from_secs(3);
/// One capture frame: the canceller counts them.
const FRAME: Duration = Duration::from_millis(20);
/// Past the tone's end: the room's echo, and the verdict's hold after the speakers stop.
const TAIL: Duration = Duration::from_millis(300);

/// What the speaker test found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ToneOutcome {
    /// The loudest level played.
    pub loudest: Level,
    /// Whether the microphone heard the tone: the candidate's speakers reach their microphone
    /// (`None`: no microphone was given or could be opened, or it could not tell).
    pub microphone_heard: Option<bool>,
}

/// Plays the tone on `settings`' output, calling `on_level` with each speaker level. With a
/// `microphone`, it listens through an echo canceller fed with the tone, as in a call, and
/// says whether it heard the speakers.
///
/// # Errors
/// No output can be opened, or the tone could not be encoded.
pub async fn play_tone(
    settings: PlaybackSettings,
    microphone: Option<CaptureSettings>,
    mut on_level: impl FnMut(Level),
) -> Result<ToneOutcome, SessionError> {
    let packets = tone_packets()?;
    let listening = microphone.and_then(|microphone| {
        let canceller = EchoCanceller::awaiting_reference();
        let echo = canceller.control();
        match Capture::start_with(microphone, Box::new(canceller)) {
            Ok((capture, streams)) => Some((capture, streams, echo)),
            Err(error) => {
                tracing::info!(%error, "speaker_test_without_microphone");
                None
            }
        }
    });
    if let Some((_, _, echo)) = &listening {
        tokio::time::sleep(ROOM_BEFORE_TONE).await;
        // Half the room's time heard at least: the recording is live.
        let room_frames = millis(ROOM_BEFORE_TONE) / millis(FRAME) / 2;
        wait_until(|| echo.stats().frames >= room_frames).await;
    }
    let reference_before_tone = listening
        .as_ref()
        .map_or(0, |(_, _, echo)| echo.stats().reference_samples);
    // The tone does not come over a network: it is handed to playback whole, into a jitter
    // buffer deep enough to hold all of it. Sent in real time as from the network, a sound
    // server that starts the stream a second late made the buffer drop what had piled up
    // (it keeps a call's delay low that way) and the speakers played a tenth of the tone.
    let whole_tone = u32::try_from(millis(TONE)).unwrap_or(u32::MAX);
    let settings = PlaybackSettings {
        jitter: JitterSettings {
            min_delay_ms: whole_tone,
            max_delay_ms: whole_tone,
            ..settings.jitter
        },
        packet_queue: settings.packet_queue.max(packets.len()),
        ..settings
    };
    let (playback, mut events) = match &listening {
        Some((_, _, echo)) => Playback::start_feeding(settings, echo.clone())?,
        None => Playback::start(settings)?,
    };
    for packet in packets {
        playback.push(packet);
    }
    let mut loudest = Level::SILENT;
    let started = tokio::time::Instant::now();
    // A sound server under load may start the stream late: wait for the tone to be heard, up
    // to this long, before saying nothing played.
    let give_up = started + TONE + Duration::from_secs(4);
    let mut last_loud: Option<tokio::time::Instant> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let now = tokio::time::Instant::now();
                // Heard, and quiet again: the whole tone has played.
                let finished = last_loud.is_some_and(|at| now - at >= Duration::from_millis(300));
                if now >= give_up || finished {
                    break;
                }
            }
            event = events.recv() => match event {
                Some(AudioEvent::Level { direction: Direction::Output, level }) => {
                    if level.peak_dbfs > loudest.peak_dbfs {
                        loudest = level;
                    }
                    if level.peak_dbfs > viva_audio::level::NO_SIGNAL_DBFS {
                        last_loud = Some(tokio::time::Instant::now());
                    }
                    on_level(level);
                }
                Some(_) => {}
                None => break,
            },
        }
    }
    if let Some((_, _, echo)) = &listening {
        // What the speakers were given is not yet what they played: with a sound server that
        // pulls in long blocks, half the tone may still be queued. Wait until the device has
        // taken all of it (the reference counts 48 kHz samples), then for the microphone to
        // hear past its end.
        let tone_and_tail = u64::from(SAMPLE_RATE) * millis(TONE + TAIL) / 1000;
        wait_until(|| echo.stats().reference_samples >= reference_before_tone + tone_and_tail)
            .await;
        let heard_past = echo.stats().frames + millis(TAIL) / millis(FRAME);
        wait_until(|| echo.stats().frames >= heard_past).await;
    }
    let played = playback.stats();
    drop(playback);
    let microphone_heard = listening.and_then(|(capture, _streams, echo)| {
        drop(capture);
        let stats = echo.stats();
        // The counters say why a verdict could not be reached (a reference dropped or late,
        // the tone concealed or cut short on its way to the speakers).
        tracing::info!(event = "speaker_test_result", heard = ?stats.speakers_heard, ?stats, ?played, "speaker test finished");
        stats.speakers_heard
    });
    Ok(ToneOutcome {
        loudest,
        microphone_heard,
    })
}

fn millis(span: Duration) -> u64 {
    u64::try_from(span.as_millis()).unwrap_or(u64::MAX)
}

/// Waits until `done` holds, or [`MICROPHONE_CATCH_UP`] has passed.
async fn wait_until(done: impl Fn() -> bool) {
    let give_up = tokio::time::Instant::now() + MICROPHONE_CATCH_UP;
    while !done() && tokio::time::Instant::now() < give_up {
        tokio::time::sleep(FRAME).await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use viva_audio::OpusDecoder;

    #[test]
    fn the_tone_decodes_to_a_steady_audible_sound_without_clicks() {
        let packets = tone_packets().unwrap();
        assert_eq!(packets.len(), 60);
        let mut decoder = OpusDecoder::new().unwrap();
        let mut samples = Vec::new();
        for packet in &packets {
            let mut out = [0.0_f32; FRAME_SAMPLES];
            let n = decoder.decode(&packet.payload, &mut out).unwrap();
            samples.extend_from_slice(&out[..n]);
        }
        let rms = |s: &[f32]| (s.iter().map(|x| x * x).sum::<f32>() / s.len() as f32).sqrt();
        let middle = &samples[samples.len() / 3..samples.len() * 2 / 3];
        // A 0.25-amplitude sine has an RMS of about 0.18.
        assert!((0.12..0.24).contains(&rms(middle)), "rms {}", rms(middle));
        // Faded in: the first 5 ms are far quieter than the middle.
        assert!(rms(&samples[..240]) < rms(middle) / 4.0);
    }
}
