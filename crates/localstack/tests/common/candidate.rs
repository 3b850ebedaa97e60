//! A candidate in a test: a real webrtc-rs peer that offers audio and `oai-events`, streams
//! Opus from given speech (silence between), decodes what the interviewer says, and records
//! every server event.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc::media::Sample;
use serde_json::Value;
use tokio::sync::{Notify, mpsc};
use viva_audio::{EncoderSettings, FRAME_SAMPLES, OpusDecoder, OpusEncoder};
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::media_stream::Track;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCIceGatheringState, RTCSessionDescription, Registry, register_default_interceptors,
};

// The speech itself is the speech tests' helper, shared rather than kept twice.
#[path = "../../../speech/tests/common/candidate.rs"]
mod spoken;
#[allow(unused_imports)] // Not every test binary that shares this module uses all three.
pub use spoken::{speech, speech_16k, word_error_rate};

/// The prepared offline model (set-up puts it there), or a clear failure.
pub fn model_path() -> PathBuf {
    let path = viva_speech::model::default_model_path();
    assert!(
        path.is_file(),
        "no speech model at {}: run `cargo xtask setup` (or `viva-model prepare`) first",
        path.display()
    );
    path
}

struct Handler {
    gathered: mpsc::Sender<()>,
    tracks: mpsc::UnboundedSender<Arc<dyn TrackRemote>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.try_send(());
        }
    }
    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self.tracks.send(track);
    }
}

/// A connected test candidate.
pub struct Candidate {
    pub pc: Arc<dyn PeerConnection>,
    channel: Arc<dyn DataChannel>,
    /// Every server event so far, in arrival order.
    pub events: Arc<Mutex<Vec<Value>>>,
    arrived: Arc<Notify>,
    /// Speech waiting to go up, as 48 kHz samples; silence when empty.
    queue: Arc<Mutex<VecDeque<f32>>>,
    /// The interviewer's voice as heard (48 kHz), with the time each 20 ms frame arrived.
    pub heard: Arc<Mutex<Vec<(Instant, f32)>>>,
    pub answer_status: u16,
}

/// The offer side, before signaling.
pub struct Offerer {
    pc: Arc<dyn PeerConnection>,
    channel: Arc<dyn DataChannel>,
    track: Arc<TrackLocalStaticSample>,
    sender: Arc<dyn webrtc::rtp_transceiver::RtpSender>,
    tracks: mpsc::UnboundedReceiver<Arc<dyn TrackRemote>>,
    pub sdp: String,
}

impl Offerer {
    pub async fn new() -> Self {
        let mut media = MediaEngine::default();
        media.register_default_codecs().unwrap();
        let registry = register_default_interceptors(Registry::new(), &mut media).unwrap();
        let (gathered_tx, mut gathered) = mpsc::channel(1);
        let (tracks_tx, tracks) = mpsc::unbounded_channel();
        let pc = PeerConnectionBuilder::new()
            .with_media_engine(media)
            .with_interceptor_registry(registry)
            .with_handler(Arc::new(Handler {
                gathered: gathered_tx,
                tracks: tracks_tx,
            }))
            .with_udp_addrs(vec!["127.0.0.1:0"])
            .build()
            .await
            .unwrap();
        let pc: Arc<dyn PeerConnection> = Arc::new(pc);
        // The same Opus track the app sends its microphone in.
        let track = viva_rtc::peer::microphone_track().unwrap();
        let sender = pc
            .add_track(Arc::clone(&track) as Arc<dyn TrackLocal>)
            .await
            .unwrap();
        let channel = pc.create_data_channel("oai-events", None).await.unwrap();
        let offer = pc.create_offer(None).await.unwrap();
        pc.set_local_description(offer).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), gathered.recv())
            .await
            .unwrap();
        let sdp = pc.local_description().await.unwrap().sdp;
        Self {
            pc,
            channel,
            track,
            sender,
            tracks,
            sdp,
        }
    }

    /// Applies the answer and starts the media and event tasks.
    pub async fn connect(self, answer: String, answer_status: u16) -> Candidate {
        self.pc
            .set_remote_description(RTCSessionDescription::answer(answer).unwrap())
            .await
            .unwrap();
        let payload_type = self
            .sender
            .get_parameters()
            .await
            .unwrap()
            .rtp_parameters
            .codecs[0]
            .payload_type;
        let ssrc = *self.track.ssrcs().await.first().unwrap();
        let events = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(Notify::new());
        let queue = Arc::new(Mutex::new(VecDeque::new()));
        let heard = Arc::new(Mutex::new(Vec::new()));

        let (channel, log, notify) = (self.channel.clone(), events.clone(), arrived.clone());
        tokio::spawn(async move {
            while let Some(event) = channel.poll().await {
                if let DataChannelEvent::OnMessage(message) = event {
                    let value: Value = serde_json::from_slice(&message.data).unwrap();
                    log.lock().unwrap().push(value);
                    notify.notify_waiters();
                }
            }
        });
        let (track, pending) = (self.track.clone(), queue.clone());
        tokio::spawn(async move {
            let mut encoder = OpusEncoder::new(EncoderSettings::default()).unwrap();
            let mut ticker = tokio::time::interval(Duration::from_millis(20));
            loop {
                ticker.tick().await;
                let frame: Vec<f32> = {
                    let mut q = pending.lock().unwrap();
                    (0..FRAME_SAMPLES)
                        .map(|_| q.pop_front().unwrap_or(0.0))
                        .collect()
                };
                let data = Bytes::from(encoder.encode(&frame).unwrap());
                let sample = Sample {
                    data,
                    duration: Duration::from_millis(20),
                    ..Sample::new(Instant::now())
                };
                if track
                    .sample_writer(ssrc, payload_type)
                    .write_sample(&sample)
                    .await
                    .is_err()
                {
                    // Not connected yet, or closed: keep the pace either way.
                }
            }
        });
        let heard_log = heard.clone();
        let mut tracks = self.tracks;
        tokio::spawn(async move {
            let Some(track) = tracks.recv().await else {
                return;
            };
            let mut decoder = OpusDecoder::new().unwrap();
            let mut buffer = vec![0.0; FRAME_SAMPLES * 6];
            while let Some(event) = track.poll().await {
                if let TrackRemoteEvent::OnRtpPacket(packet) = event
                    && let Ok(n) = decoder.decode(&packet.payload, &mut buffer)
                {
                    let now = Instant::now();
                    heard_log
                        .lock()
                        .unwrap()
                        .extend(buffer[..n].iter().map(|&s| (now, s)));
                }
            }
        });
        Candidate {
            pc: self.pc,
            channel: self.channel,
            events,
            arrived,
            queue,
            heard,
            answer_status,
        }
    }
}

impl Candidate {
    /// Offers over `POST <url>` with the client secret, as the hosted API expects.
    pub async fn call(url: &str, secret: &str) -> Candidate {
        let offerer = Offerer::new().await;
        let response = reqwest::Client::new()
            .post(url)
            .bearer_auth(secret)
            .header("content-type", "application/sdp")
            .body(offerer.sdp.clone())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.text().await.unwrap();
        assert_eq!(status, 201, "{body}");
        assert!(location.unwrap().starts_with("/v1/realtime/calls/rtc_"));
        offerer.connect(body, status).await
    }

    /// Sends a client event once the channel is open (the interviewer greets with
    /// `session.created` when it is).
    pub async fn send(&self, event: Value) {
        self.wait_for(0, "session.created", Duration::from_secs(10), |_| true)
            .await;
        self.channel.send_text(&event.to_string()).await.unwrap();
    }

    /// Queues speech to be sent in real time and waits until it has gone.
    pub async fn say(&self, samples: &[f32]) {
        self.queue.lock().unwrap().extend(samples.iter().copied());
        while !self.queue.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Queues speech without waiting.
    pub fn start_saying(&self, samples: &[f32]) {
        self.queue.lock().unwrap().extend(samples.iter().copied());
    }

    /// The first event of `kind` at or after index `from` that satisfies `test`, waiting up to
    /// `timeout`; returns its index too.
    pub async fn wait_for(
        &self,
        from: usize,
        kind: &str,
        timeout: Duration,
        test: impl Fn(&Value) -> bool,
    ) -> (usize, Value) {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.arrived.notified();
            {
                let events = self.events.lock().unwrap();
                if let Some((i, e)) = events
                    .iter()
                    .enumerate()
                    .skip(from)
                    .find(|(_, e)| e["type"] == kind && test(e))
                {
                    return (i, e.clone());
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let types: Vec<String> = self
                    .events
                    .lock()
                    .unwrap()
                    .iter()
                    .map(|e| e["type"].as_str().unwrap_or("?").to_owned())
                    .collect();
                panic!("no `{kind}` within {timeout:?}; events so far: {types:?}");
            }
            let _ = tokio::time::timeout(left.min(Duration::from_millis(200)), notified).await;
        }
    }

    pub fn event_count(&self) -> usize {
        self.events.lock().unwrap().len()
    }

    /// RMS of the interviewer's voice heard in `[from, to)`.
    pub fn heard_rms(&self, from: Instant, to: Instant) -> f32 {
        let heard = self.heard.lock().unwrap();
        let samples: Vec<f32> = heard
            .iter()
            .filter(|(t, _)| *t >= from && *t < to)
            .map(|(_, s)| *s)
            .collect();
        if samples.is_empty() {
            return 0.0;
        }
        (samples.iter().map(|s| s * s).sum::<f32>() / samples.len() as f32).sqrt()
    }

    pub async fn hang_up(&self) {
        let _ = self.pc.close().await;
    }
}
