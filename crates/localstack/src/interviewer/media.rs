//! The call's audio: the speaker that paces the interviewer's voice at 20 ms, and the listener
//! that decodes the candidate's Opus to 20 ms frames at 16 kHz.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc::media::Sample;
use tokio::sync::mpsc;
use viva_speech::turn::FRAME_16K;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use super::input::Input;
use super::voice::Speech;

pub(super) enum SpeakerCommand {
    Play {
        response_id: String,
        speech: Arc<Speech>,
    },
    Stop,
}

/// Sends one Opus packet every 20 ms: the current line, else silence, so the stream's timing
/// is continuous. Reports when a line has been played to the end.
pub(super) async fn speaker(
    track: Arc<TrackLocalStaticSample>,
    ssrc: u32,
    payload_type: u8,
    mut commands: mpsc::Receiver<SpeakerCommand>,
    inputs: mpsc::Sender<Input>,
) {
    let silence =
        super::voice::silence_packet().unwrap_or_else(|_| Bytes::from_static(&[0xf8, 0xff, 0xfe]));
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut current: Option<(String, Arc<Speech>, usize)> = None;
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(SpeakerCommand::Play { response_id, speech }) => current = Some((response_id, speech, 0)),
                Some(SpeakerCommand::Stop) => current = None,
                None => return,
            },
            _ = ticker.tick() => {
                let data = match &mut current {
                    Some((_, speech, next)) if *next < speech.packets.len() => {
                        *next += 1;
                        speech.packets[*next - 1].clone()
                    }
                    _ => silence.clone(),
                };
                let sample = Sample { data, duration: Duration::from_millis(20), ..Sample::new(Instant::now()) };
                if let Err(error) = track.sample_writer(ssrc, payload_type).write_sample(&sample).await {
                    tracing::trace!(event = "interviewer_audio_not_sent", %error);
                }
                if let Some((response_id, speech, next)) = &current
                    && *next >= speech.packets.len()
                {
                    let _ = inputs.send(Input::Played { response_id: response_id.clone() }).await;
                    current = None;
                }
            }
        }
    }
}

/// Decodes the candidate's Opus to 20 ms frames at 16 kHz, concealing lost packets.
pub(super) async fn listen(track: Arc<dyn TrackRemote>, inputs: mpsc::Sender<Input>) {
    let Ok(mut decoder) = opus::Decoder::new(16_000, opus::Channels::Mono) else {
        tracing::error!(event = "interviewer_decoder_failed");
        return;
    };
    let mut last_sequence: Option<u16> = None;
    let mut buffer = vec![0f32; FRAME_16K * 6];
    while let Some(event) = track.poll().await {
        let TrackRemoteEvent::OnRtpPacket(packet) = event else {
            if matches!(event, TrackRemoteEvent::OnEnded) {
                break;
            }
            continue;
        };
        let sequence = packet.header.sequence_number;
        if let Some(last) = last_sequence {
            let gap = sequence.wrapping_sub(last);
            if gap == 0 || gap > 0x8000 {
                continue; // a duplicate or a late packet: its slot was already concealed
            }
            // Conceal up to 10 lost frames (200 ms); longer gaps are a pause in sending.
            for _ in 1..gap.min(10) {
                if let Ok(n) = decoder.decode_float(&[], &mut buffer[..FRAME_16K], false)
                    && inputs
                        .send(Input::Audio(buffer[..n].to_vec()))
                        .await
                        .is_err()
                {
                    return;
                }
            }
        }
        last_sequence = Some(sequence);
        match decoder.decode_float(&packet.payload, &mut buffer, false) {
            Ok(n) => {
                for frame in buffer[..n].chunks(FRAME_16K) {
                    if inputs.send(Input::Audio(frame.to_vec())).await.is_err() {
                        return;
                    }
                }
            }
            Err(error) => tracing::debug!(event = "interviewer_packet_undecodable", %error),
        }
    }
}
