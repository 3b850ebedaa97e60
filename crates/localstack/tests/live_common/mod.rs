//! A GPT-Live candidate in a test: a real webrtc-rs peer that offers audio and `oai-events`
//! (the app's microphone track), streams given speech in real time (silence between), hears
//! the interviewer's voice, records every server event as sent (the raw text, for the SDK
//! oracle) and when it arrived, and sends Live commands once `session.started` is in. Also:
//! creating a session on `POST /v1/live/sessions`, and checking every event against OpenAI's
//! SDK models (`crates/realtime/sdk-oracle/validate_live.py`).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod proxy_socket;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc::media::Sample;
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};
use viva_audio::{EncoderSettings, FRAME_SAMPLES, OpusDecoder, OpusEncoder};
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::media_stream::Track;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCIceGatheringState, RTCSessionDescription, Registry, register_default_interceptors,
};

use crate::sdk_oracle::Oracle;

/// The project key the tests' stacks accept on `/v1/live/sessions`.
pub const LIVE_KEY: &str = "sk-live-local-test";

/// One server event as it arrived.
#[derive(Debug, Clone)]
pub struct Arrived {
    pub raw: String,
    pub value: Value,
    pub at: Instant,
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

/// The offer side before signaling.
pub struct LiveOfferer {
    pc: Arc<dyn PeerConnection>,
    channel: Arc<dyn DataChannel>,
    track: Arc<webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample>,
    sender: Arc<dyn webrtc::rtp_transceiver::RtpSender>,
    tracks: mpsc::UnboundedReceiver<Arc<dyn TrackRemote>>,
    pub sdp: String,
}

/// A connected candidate.
pub struct LiveCandidate {
    pub pc: Arc<dyn PeerConnection>,
    channel: Arc<dyn DataChannel>,
    pub events: Arc<Mutex<Vec<Arrived>>>,
    arrived: Arc<Notify>,
    queue: Arc<Mutex<VecDeque<f32>>>,
    /// The interviewer's voice as heard (48 kHz), with when each packet arrived.
    pub heard: Arc<Mutex<Vec<(Instant, f32)>>>,
    /// The data channel closed (the session ended).
    pub channel_closed: Arc<AtomicBool>,
}

impl LiveOfferer {
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
    pub async fn connect(self, answer: String) -> LiveCandidate {
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
        let channel_closed = Arc::new(AtomicBool::new(false));

        let (channel, log, notify, closed) = (
            self.channel.clone(),
            events.clone(),
            arrived.clone(),
            channel_closed.clone(),
        );
        tokio::spawn(async move {
            while let Some(event) = channel.poll().await {
                match event {
                    DataChannelEvent::OnMessage(message) => {
                        let raw = String::from_utf8(message.data.to_vec()).unwrap();
                        let value: Value = serde_json::from_str(&raw).unwrap();
                        log.lock().unwrap().push(Arrived {
                            raw,
                            value,
                            at: Instant::now(),
                        });
                        notify.notify_waiters();
                    }
                    DataChannelEvent::OnClose => break,
                    _ => {}
                }
            }
            closed.store(true, Ordering::SeqCst);
            notify.notify_waiters();
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
                // Not connected yet, or closed: keep the pace either way.
                let _ = track
                    .sample_writer(ssrc, payload_type)
                    .write_sample(&sample)
                    .await;
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
        LiveCandidate {
            pc: self.pc,
            channel: self.channel,
            events,
            arrived,
            queue,
            heard,
            channel_closed,
        }
    }
}

/// `POST {base}/v1/live/sessions` with `key`; the status and the JSON answer.
pub async fn create(base: &str, key: Option<&str>, body: &Value) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{base}/v1/live/sessions"))
        .json(body);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

impl LiveCandidate {
    /// Creates a session with `session` on the stack at `base` and connects to it; returns the
    /// candidate and the session id.
    pub async fn call(base: &str, session: &Value) -> (LiveCandidate, String) {
        let offerer = LiveOfferer::new().await;
        let body = json!({"session": session, "transport": {"type": "webrtc", "sdp": offerer.sdp}});
        let (status, created) = create(base, Some(LIVE_KEY), &body).await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["transport"]["type"], "webrtc");
        let id = created["session"]["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("live_"), "{id}");
        let answer = created["transport"]["sdp"].as_str().unwrap().to_owned();
        (offerer.connect(answer).await, id)
    }

    /// Sends a command once the session has started.
    pub async fn send(&self, command: Value) {
        self.wait_for(0, "session.started", Duration::from_secs(15), |_| true)
            .await;
        self.channel.send_text(&command.to_string()).await.unwrap();
    }

    /// Queues speech to be sent in real time and waits until it has gone.
    pub async fn say(&self, samples: &[f32]) {
        self.queue.lock().unwrap().extend(samples.iter().copied());
        while !self.queue.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn event_count(&self) -> usize {
        self.events.lock().unwrap().len()
    }

    pub fn values(&self) -> Vec<Value> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.value.clone())
            .collect()
    }

    fn kinds(&self) -> Vec<String> {
        self.values()
            .iter()
            .map(|e| e["type"].as_str().unwrap_or("?").to_owned())
            .collect()
    }

    /// The first event of `kind` at or after `from` that satisfies `test`, waiting up to
    /// `timeout`; with its index.
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
            if let Some(found) = self
                .events
                .lock()
                .unwrap()
                .iter()
                .enumerate()
                .skip(from)
                .find(|(_, e)| e.value["type"] == kind && test(&e.value))
                .map(|(i, e)| (i, e.value.clone()))
            {
                return found;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!(
                    "no `{kind}` within {timeout:?}; events so far: {:?}",
                    self.kinds()
                );
            }
            let _ = tokio::time::timeout(left.min(Duration::from_millis(200)), notified).await;
        }
    }

    /// The words of `kind` fragments from `from` on, joined as a client appends them.
    pub fn text(&self, from: usize, kind: &str) -> String {
        self.values()
            .iter()
            .skip(from)
            .filter(|e| e["type"] == kind)
            .map(|e| e["delta"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Waits until the `kind` fragments from `from` on read `expected` (or more).
    pub async fn wait_for_text(&self, from: usize, kind: &str, expected: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.arrived.notified();
            let text = self.text(from, kind);
            if normalise(&text).contains(&normalise(expected)) {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "the {kind} fragments read {text:?}, not {expected:?}, after {timeout:?}"
            );
            let _ = tokio::time::timeout(left.min(Duration::from_millis(200)), notified).await;
        }
    }

    /// Waits until the data channel closes.
    pub async fn wait_closed(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.channel_closed.load(Ordering::SeqCst) {
            assert!(
                Instant::now() < deadline,
                "the session's channel is still open after {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// How long the interviewer's voice was loud in `[from, to)`: from its first to its last
    /// loud 20 ms frame.
    pub fn voice_span(&self, from: Instant, to: Instant) -> Option<Duration> {
        let heard = self.heard.lock().unwrap();
        let loud: Vec<Instant> = heard
            .iter()
            .filter(|(t, _)| *t >= from && *t < to)
            .collect::<Vec<_>>()
            .chunks(960)
            .filter(|frame| {
                let energy = frame.iter().map(|(_, s)| s * s).sum::<f32>() / frame.len() as f32;
                energy.sqrt() > 0.01
            })
            .map(|frame| frame[0].0)
            .collect();
        Some(*loud.last()? - *loud.first()?)
    }

    pub async fn hang_up(&self) {
        let _ = self.pc.close().await;
    }
}

/// Lower case, letters and digits, single spaces.
pub fn normalise(text: &str) -> String {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Checks that each fragment ends at or after it starts and that a speaker's fragments never
/// go back on the timeline.
pub fn assert_timeline(events: &[Value]) {
    for kind in [
        "session.output_transcript.delta",
        "session.input_transcript.delta",
    ] {
        let mut last_start = 0;
        for e in events.iter().filter(|e| e["type"] == kind) {
            let (start, end) = (
                e["start_ms"].as_u64().unwrap(),
                e["end_ms"].as_u64().unwrap(),
            );
            assert!(end >= start, "{e}");
            assert!(start >= last_start, "{kind} went back on the timeline: {e}");
            last_start = start;
        }
    }
}

/// Every event the candidate received, validated by OpenAI's SDK models: a refusal fails the
/// test with the event and why.
pub fn assert_sdk_valid(candidate: &LiveCandidate) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../realtime/sdk-oracle/validate_live.py"
    );
    let mut oracle = Oracle::spawn(script);
    let events = candidate.events.lock().unwrap().clone();
    assert!(!events.is_empty());
    for event in &events {
        let answer: Value = serde_json::from_str(&oracle.ask(&event.raw)).unwrap();
        assert_eq!(
            answer["ok"], true,
            "the SDK refuses {}: {}",
            event.raw, answer["error"]
        );
        assert_eq!(answer["type"], event.value["type"]);
    }
    eprintln!("{} events valid by the SDK's models", events.len());
}
