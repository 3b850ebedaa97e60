//! One interview call: the peer connection (answerer, non-trickle), the listener that decodes
//! the candidate's Opus to 16 kHz frames, the speaker that paces the interviewer's voice at
//! 20 ms, the transcriber thread, and the conversation task that owns all state and emits the
//! GA events. The tasks talk over bounded channels; the conversation task ends the call on
//! `bye`, a closed data channel or a failed connection, and everything it owns goes with it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc::media::Sample;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::transport::RTCDtlsRole;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use viva_realtime::event::{
    Committed, ContentPart, ErrorDetails, ErrorEvent, InputTranscriptCompleted,
    InputTranscriptDelta, InputTranscriptFailed, Item, ItemEvent, OutputAudioBuffer, OutputDelta,
    OutputDone, Response, ResponseEnvelope, ResponseStatus, ServerEvent, SessionEnvelope,
    SpeechStarted, SpeechStopped, TokenDetails, TranscriptionUsage, Usage,
};
use viva_speech::stt::{SttError, Transcriber};
use viva_speech::vad::{FRAME_MS, ServerVad, Vad, VadEvent};
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelState};
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCIceGatheringState, RTCPeerConnectionState, RTCSessionDescription, Registry,
    register_default_interceptors,
};

use super::script::{Script, question_set};
use super::voice::Speech;
use super::{Answer, CallSetup, Interviewer};

/// 16 kHz samples in one 20 ms frame.
const FRAME_16K: usize = 320;
/// How long a call may take to gather its candidates.
const GATHER_TIMEOUT: Duration = Duration::from_secs(5);
/// Quiet after speech that starts the final transcription early, and the audio kept after
/// the last loud frame.
const EARLY_AFTER_MS: u64 = 120;
/// How often a partial transcript is attempted during a turn.
const PARTIAL_EVERY_MS: u64 = 1_000;
/// Audio kept before the current turn (for prefix padding), in 16 kHz samples.
const KEEP_BEFORE_TURN: usize = 16_000 * 2;
/// Realistic token rates (PROTOCOLS.md §2): user audio ~10/s, model audio ~20/s.
const INPUT_AUDIO_TOKENS_PER_S: u64 = 10;
const OUTPUT_AUDIO_TOKENS_PER_S: u64 = 20;

/// Why an offer could not be answered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    #[error("the offer cannot be used: {0}")]
    Offer(String),
    #[error("the interviewer could not start a peer connection: {0}")]
    Peer(String),
    #[error("gathering network candidates took longer than {GATHER_TIMEOUT:?}")]
    GatherTimeout,
}

/// The registry's view of a live call.
#[derive(Debug)]
pub struct CallHandle {
    pub call_id: String,
    pub session_id: String,
    inputs: mpsc::Sender<Input>,
}

impl CallHandle {
    pub fn hang_up(&self) {
        let _ = self.inputs.try_send(Input::HangUp);
    }
}

/// Everything that reaches the conversation task.
enum Input {
    Channel(Arc<dyn DataChannel>),
    ChannelOpen,
    ChannelClosed,
    Client(String),
    Track(Arc<dyn TrackRemote>),
    Audio(Vec<f32>),
    Transcript(TranscriptResult),
    Played { response_id: String },
    Peer(RTCPeerConnectionState),
    HangUp,
}

struct TranscriptResult {
    item_id: String,
    partial: bool,
    early_end_ms: Option<u64>,
    audio_ms: u64,
    result: Result<String, SttError>,
    /// When the turn's speech ended (for finals), to log the latency.
    speech_ended: Option<Instant>,
}

/// Forwards peer events to the conversation task; callbacks stay short.
struct Handler {
    inputs: mpsc::Sender<Input>,
    gathered: mpsc::Sender<()>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.try_send(());
        }
    }
    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.inputs.try_send(Input::Peer(state));
    }
    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        let _ = self.inputs.send(Input::Channel(channel)).await;
    }
    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self.inputs.send(Input::Track(track)).await;
    }
}

fn new_id(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}_{}", &id[..20])
}

/// Starts a call for `setup` from the candidate's offer and returns the answer.
pub(super) async fn start(
    interviewer: Arc<Interviewer>,
    setup: CallSetup,
    offer: &str,
) -> Result<Answer, CallError> {
    let offer = RTCSessionDescription::offer(offer.to_owned())
        .map_err(|e| CallError::Offer(e.to_string()))?;
    let peer_error = |e: webrtc::error::Error| CallError::Peer(e.to_string());
    let mut media = MediaEngine::default();
    media.register_default_codecs().map_err(peer_error)?;
    let registry =
        register_default_interceptors(Registry::new(), &mut media).map_err(peer_error)?;
    let (inputs, input_rx) = mpsc::channel::<Input>(1024);
    let (gathered_tx, mut gathered) = mpsc::channel(1);
    // webrtc-rs 0.21.1 sends the first DTLS flight only at the ICE agent's next check tick
    // (200 ms by default). As the DTLS server the interviewer leaves that flight to the
    // caller, whose tick is shorter (viva-rtc: 50 ms): calls open ~160 ms sooner.
    let settings = SettingEngineBuilder::new()
        .with_answering_dtls_role(RTCDtlsRole::Server)
        .build();
    let pc = PeerConnectionBuilder::new()
        .with_media_engine(media)
        .with_setting_engine(settings)
        .with_interceptor_registry(registry)
        .with_handler(Arc::new(Handler {
            inputs: inputs.clone(),
            gathered: gathered_tx,
        }))
        .with_udp_addrs(vec![format!("{}:0", interviewer.config.bind_ip)])
        .build()
        .await
        .map_err(peer_error)?;
    let pc: Arc<dyn PeerConnection> = Arc::new(pc);

    let ssrc = rand_ssrc();
    let track = Arc::new(
        TrackLocalStaticSample::new(
            Instant::now(),
            MediaStreamTrack::new(
                "viva-interviewer".to_owned(),
                "viva-interviewer-voice".to_owned(),
                "interviewer".to_owned(),
                RtpCodecKind::Audio,
                vec![RTCRtpEncodingParameters {
                    rtp_coding_parameters: RTCRtpCodingParameters {
                        ssrc: Some(ssrc),
                        ..Default::default()
                    },
                    codec: RTCRtpCodec {
                        mime_type: "audio/opus".to_owned(),
                        clock_rate: 48_000,
                        channels: 2,
                        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
                        rtcp_feedback: vec![],
                    },
                    ..Default::default()
                }],
            ),
        )
        .map_err(peer_error)?,
    );
    let negotiated = async {
        pc.set_remote_description(offer)
            .await
            .map_err(|e| CallError::Offer(e.to_string()))?;
        let sender = pc
            .add_track(Arc::clone(&track) as Arc<dyn TrackLocal>)
            .await
            .map_err(peer_error)?;
        let answer = pc
            .create_answer(None)
            .await
            .map_err(|e| CallError::Offer(e.to_string()))?;
        pc.set_local_description(answer).await.map_err(peer_error)?;
        tokio::time::timeout(GATHER_TIMEOUT, gathered.recv())
            .await
            .map_err(|_| CallError::GatherTimeout)?;
        let sdp = pc
            .local_description()
            .await
            .ok_or_else(|| CallError::Peer("no local description after the answer".into()))?
            .sdp;
        let payload_type = sender
            .get_parameters()
            .await
            .ok()
            .and_then(|p| p.rtp_parameters.codecs.first().map(|c| c.payload_type))
            .unwrap_or(111);
        Ok::<_, CallError>((sdp, payload_type))
    };
    let (sdp, payload_type) = match negotiated.await {
        Ok(done) => done,
        Err(error) => {
            let _ = pc.close().await;
            return Err(error);
        }
    };

    let call_id = new_id("rtc");
    interviewer.register(CallHandle {
        call_id: call_id.clone(),
        session_id: setup.session_id.clone(),
        inputs: inputs.clone(),
    });
    tracing::info!(event = "interviewer_call_started", call_id = %call_id, session_id = %setup.session_id);
    let (speaker_tx, speaker_rx) = mpsc::channel(16);
    tokio::spawn(speaker(
        track,
        ssrc,
        payload_type,
        speaker_rx,
        inputs.clone(),
    ));
    let conversation = Conversation::new(interviewer, setup, call_id.clone(), inputs, speaker_tx);
    tokio::spawn(conversation.run(pc, input_rx));
    Ok(Answer { call_id, sdp })
}

fn rand_ssrc() -> u32 {
    let bytes = *uuid::Uuid::new_v4().as_bytes();
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

enum SpeakerCommand {
    Play {
        response_id: String,
        speech: Arc<Speech>,
    },
    Stop,
}

/// Sends one Opus packet every 20 ms: the current line, else silence, so the stream's timing
/// is continuous. Reports when a line has been played to the end.
async fn speaker(
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
async fn listen(track: Arc<dyn TrackRemote>, inputs: mpsc::Sender<Input>) {
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

enum Job {
    Transcribe {
        item_id: String,
        audio: Vec<f32>,
        partial: bool,
        speech_ended: Option<Instant>,
        /// Set when the result is no longer wanted: a job not started yet is skipped. (Stopping
        /// whisper.cpp mid-run through its abort callback broke the runs after it.)
        abort: Arc<AtomicBool>,
        /// For a final started early, at a pause: the end of speech it assumed.
        early_end_ms: Option<u64>,
    },
}

/// The call's transcriber on its own thread (whisper.cpp blocks for hundreds of milliseconds).
fn transcriber_thread(
    mut transcriber: Transcriber,
    jobs: std::sync::mpsc::Receiver<Job>,
    inputs: mpsc::Sender<Input>,
) {
    while let Ok(Job::Transcribe {
        item_id,
        audio,
        partial,
        speech_ended,
        abort,
        early_end_ms,
    }) = jobs.recv()
    {
        let result = if abort.load(Ordering::Relaxed) {
            Err(SttError::Failed("stopped: no longer needed".into()))
        } else {
            transcriber.transcribe(&audio, partial)
        };
        let audio_ms = (audio.len() / 16) as u64;
        let report = TranscriptResult {
            item_id,
            partial,
            early_end_ms,
            audio_ms,
            result,
            speech_ended,
        };
        if inputs.blocking_send(Input::Transcript(report)).is_err() {
            return;
        }
    }
}

/// A final transcription started at a pause, before the silence rule ends the turn: when the
/// turn ends at that same point its result is the final one, so transcription overlaps the
/// wait; when the candidate speaks on, it is abandoned.
struct Early {
    item_id: String,
    end_ms: u64,
    /// The audio it transcribes, kept in case it has to be done again after the turn.
    audio: Vec<f32>,
    abort: Arc<AtomicBool>,
    result: Option<TranscriptResult>,
    /// The turn has ended at `end_ms` and waits for this result.
    committed: Option<Instant>,
}

/// A response in progress.
struct Active {
    id: String,
    item_id: String,
    /// The item before this one: `conversation.item.done` names it again, as `.added` did.
    previous_item_id: Option<String>,
    text: String,
    closing: bool,
    audio_ms: u64,
    /// Candidate audio heard since the previous response (input tokens).
    input_audio_ms: u64,
}

/// The conversation task's state.
struct Conversation {
    interviewer: Arc<Interviewer>,
    setup: CallSetup,
    call_id: String,
    inputs: mpsc::Sender<Input>,
    speaker: mpsc::Sender<SpeakerCommand>,
    channel: Option<Arc<dyn DataChannel>>,
    channel_open: bool,
    outbox: Vec<String>,
    script: Script,
    vad: Vad,
    /// `turn_detection: null` turns the detector off; turns are committed by the client.
    vad_enabled: bool,
    text_only: bool,
    session: Value,
    /// 16 kHz audio, `audio_origin_ms` being the position of its first sample.
    audio: Vec<f32>,
    audio_origin_ms: u64,
    turn_item: Option<String>,
    turn_from_ms: u64,
    last_partial_ms: u64,
    partial_busy: bool,
    partial_sent: std::collections::HashMap<String, String>,
    last_item: Option<String>,
    active: Option<Active>,
    heard_ms_since_response: u64,
    jobs: Option<std::sync::mpsc::Sender<Job>>,
    /// Skips the queued partial (a final is more urgent).
    partial_abort: Arc<AtomicBool>,
    /// The final started early at a pause in the current turn, if any.
    early: Option<Early>,
    stt_error: Option<SttError>,
    stt_started: bool,
}

impl Conversation {
    fn new(
        interviewer: Arc<Interviewer>,
        setup: CallSetup,
        call_id: String,
        inputs: mpsc::Sender<Input>,
        speaker: mpsc::Sender<SpeakerCommand>,
    ) -> Self {
        let set = question_set(&setup.question_set).unwrap_or_else(|| super::script::QuestionSet {
            id: "fallback".into(),
            title: "Practice".into(),
            greeting: "Hello.".into(),
            closing: "Thank you, this interview is over.".into(),
            questions: vec!["Tell me about yourself.".into()],
        });
        let session = json!({
            "type": "realtime",
            "id": format!("sess_{}", &call_id[4..]),
            "object": "realtime.session",
            "model": crate::functions::LOCAL_MODEL,
            "output_modalities": ["audio"],
            "instructions": format!("Viva's local interviewer asking the `{}` questions.", set.id),
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "transcription": {"model": "whisper-tiny.en", "language": "en"},
                    "turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 500}
                },
                "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": interviewer.voice.describe()}
            },
            "viva": {"question_set": set.id, "questions": set.questions.len(), "voice": interviewer.voice.describe()},
        });
        Self {
            interviewer,
            setup,
            call_id,
            inputs,
            speaker,
            channel: None,
            channel_open: false,
            outbox: Vec::new(),
            script: Script::new(set),
            vad: Vad::new(ServerVad::default()),
            vad_enabled: true,
            text_only: false,
            session,
            audio: Vec::new(),
            audio_origin_ms: 0,
            turn_item: None,
            turn_from_ms: 0,
            last_partial_ms: 0,
            partial_busy: false,
            partial_sent: std::collections::HashMap::new(),
            last_item: None,
            active: None,
            heard_ms_since_response: 0,
            jobs: None,
            partial_abort: Arc::new(AtomicBool::new(false)),
            early: None,
            stt_error: None,
            stt_started: false,
        }
    }

    async fn run(mut self, pc: Arc<dyn PeerConnection>, mut inputs: mpsc::Receiver<Input>) {
        let reason = loop {
            let Some(input) = inputs.recv().await else {
                break "inputs closed";
            };
            match input {
                Input::Channel(channel) => self.adopt_channel(channel).await,
                Input::ChannelOpen => self.opened().await,
                Input::ChannelClosed => break "data channel closed",
                Input::Client(text) => self.client_event(&text).await,
                Input::Track(track) => {
                    tokio::spawn(listen(track, self.inputs.clone()));
                    self.start_transcriber().await;
                }
                Input::Audio(frame) => self.audio(frame).await,
                Input::Transcript(result) => self.transcribed(result).await,
                Input::Played { response_id } => self.played(&response_id).await,
                Input::Peer(state) => match state {
                    RTCPeerConnectionState::Failed => break "connection failed",
                    RTCPeerConnectionState::Closed => break "connection closed",
                    _ => {}
                },
                Input::HangUp => break "hung up",
            }
        };
        tracing::info!(event = "interviewer_call_ended", call_id = %self.call_id, session_id = %self.setup.session_id, reason);
        self.interviewer.unregister(&self.call_id);
        if let Some(channel) = self.channel.take() {
            let _ = channel.close().await;
        }
        let _ = pc.close().await;
        // Dropping the job sender ends the transcriber thread; dropping the speaker's command
        // sender ends the speaker.
    }

    async fn adopt_channel(&mut self, channel: Arc<dyn DataChannel>) {
        let label = channel.label().await.unwrap_or_default();
        if label != "oai-events" {
            tracing::debug!(event = "interviewer_ignores_channel", %label);
            return;
        }
        let open = matches!(channel.ready_state().await, Ok(RTCDataChannelState::Open));
        let reader = Arc::clone(&channel);
        let inputs = self.inputs.clone();
        tokio::spawn(async move {
            while let Some(event) = reader.poll().await {
                let input = match event {
                    DataChannelEvent::OnOpen => Input::ChannelOpen,
                    DataChannelEvent::OnMessage(message) => {
                        Input::Client(String::from_utf8_lossy(&message.data).into_owned())
                    }
                    DataChannelEvent::OnClose => Input::ChannelClosed,
                    _ => continue,
                };
                let closed = matches!(input, Input::ChannelClosed);
                if inputs.send(input).await.is_err() || closed {
                    return;
                }
            }
            let _ = inputs.send(Input::ChannelClosed).await;
        });
        self.channel = Some(channel);
        if open {
            self.opened().await;
        }
    }

    async fn opened(&mut self) {
        if self.channel_open {
            return;
        }
        self.channel_open = true;
        let created = ServerEvent::SessionCreated(SessionEnvelope {
            session: self.session.clone(),
        });
        let queued = std::mem::take(&mut self.outbox);
        self.send_now(wire(&created)).await;
        for text in queued {
            self.send_now(text).await;
        }
    }

    async fn send_now(&mut self, text: String) {
        if let Some(channel) = &self.channel
            && let Err(error) = channel.send_text(&text).await
        {
            tracing::debug!(event = "interviewer_event_not_sent", %error);
        }
    }

    async fn emit(&mut self, event: ServerEvent) {
        let text = wire(&event);
        if self.channel_open {
            self.send_now(text).await;
        } else {
            self.outbox.push(text);
        }
    }

    async fn error(&mut self, code: &str, message: &str, event_id: Option<String>) {
        self.emit(ServerEvent::Error(ErrorEvent {
            error: ErrorDetails {
                kind: Some("invalid_request_error".into()),
                code: Some(code.into()),
                message: message.into(),
                param: None,
                event_id,
            },
        }))
        .await;
    }

    async fn start_transcriber(&mut self) {
        if self.stt_started {
            return;
        }
        self.stt_started = true;
        match self.interviewer.model().await.and_then(|m| m.transcriber()) {
            Ok(transcriber) => {
                let (jobs, job_rx) = std::sync::mpsc::channel();
                let inputs = self.inputs.clone();
                let spawned = std::thread::Builder::new()
                    .name(format!("stt-{}", &self.call_id[4..12]))
                    .spawn(move || transcriber_thread(transcriber, job_rx, inputs));
                match spawned {
                    Ok(_) => self.jobs = Some(jobs),
                    Err(error) => self.stt_error = Some(SttError::Failed(error.to_string())),
                }
            }
            Err(error) => {
                tracing::warn!(event = "interviewer_without_transcription", %error);
                self.stt_error = Some(error);
            }
        }
    }

    // ---- client events ----

    async fn client_event(&mut self, text: &str) {
        let Ok(value) = serde_json::from_str::<Value>(text) else {
            return self
                .error("invalid_json", "the event is not JSON", None)
                .await;
        };
        let event_id = value
            .get("event_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        match value
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
        {
            "session.update" => self.session_update(value.get("session")).await,
            "response.create" => self.respond().await,
            "response.cancel" => {
                if self.active.is_some() {
                    self.cancel("client_cancelled").await;
                } else {
                    self.error(
                        "response_cancel_not_active",
                        "there is no response to cancel",
                        event_id,
                    )
                    .await;
                }
            }
            "input_audio_buffer.commit" => {
                self.vad.force_stop();
                if self.turn_item.is_some() {
                    self.turn_ended(self.vad.position_ms()).await;
                } else {
                    self.error(
                        "input_audio_buffer_commit_empty",
                        "there is no speech to commit",
                        event_id,
                    )
                    .await;
                }
            }
            "input_audio_buffer.clear" => {
                self.vad.force_stop();
                self.turn_item = None;
                self.emit(ServerEvent::InputCleared(Default::default()))
                    .await;
            }
            "output_audio_buffer.clear" => {
                if self.active.is_some() {
                    self.cancel("client_cancelled").await;
                }
            }
            "conversation.item.create" => self.item_create(&value).await,
            other => {
                let message =
                    format!("the event type `{other}` is not supported by the local interviewer");
                self.error("unknown_event", &message, event_id).await;
            }
        }
    }

    async fn session_update(&mut self, session: Option<&Value>) {
        let Some(update @ Value::Object(fields)) = session else {
            return self
                .error(
                    "invalid_session",
                    "session.update needs a `session` object",
                    None,
                )
                .await;
        };
        if let Some(detection) = update.pointer("/audio/input/turn_detection") {
            match detection {
                Value::Null => self.vad_enabled = false,
                value if value.get("type").and_then(Value::as_str) == Some("server_vad") => {
                    match serde_json::from_value::<ServerVad>(value.clone()) {
                        Ok(settings) if (0.0..=1.0).contains(&settings.threshold) => {
                            self.vad_enabled = true;
                            self.vad.set_settings(settings);
                        }
                        _ => {
                            return self
                                .error(
                                    "invalid_turn_detection",
                                    "server_vad needs threshold 0–1 and whole milliseconds",
                                    None,
                                )
                                .await;
                        }
                    }
                }
                // semantic_vad: approximated by server_vad with its defaults.
                _ => {
                    self.vad_enabled = true;
                    self.vad.set_settings(ServerVad::default());
                }
            }
        }
        if let Some(modalities) = fields.get("output_modalities").and_then(Value::as_array) {
            self.text_only = !modalities.iter().any(|m| m == "audio");
        }
        merge(&mut self.session, update);
        if let Some(fields) = self.session.as_object_mut() {
            fields.insert("model".into(), json!(crate::functions::LOCAL_MODEL));
        }
        let updated = ServerEvent::SessionUpdated(SessionEnvelope {
            session: self.session.clone(),
        });
        self.emit(updated).await;
    }

    async fn item_create(&mut self, value: &Value) {
        let Some(item) = value
            .get("item")
            .and_then(|i| serde_json::from_value::<Item>(i.clone()).ok())
        else {
            return self
                .error(
                    "invalid_item",
                    "conversation.item.create needs an `item`",
                    None,
                )
                .await;
        };
        let mut item = item;
        if item.id.is_empty() {
            item.id = new_id("item");
        }
        // A new connection for a session that already ran is given what was said before:
        // each question the interviewer finished asking is not asked again.
        if item.role.as_deref() == Some("assistant") && item.status.as_deref() == Some("completed")
        {
            self.script.already_said();
        }
        let previous = self.last_item.replace(item.id.clone());
        self.emit(ServerEvent::ItemAdded(ItemEvent {
            previous_item_id: previous.clone(),
            item: item.clone(),
        }))
        .await;
        self.emit(ServerEvent::ItemDone(ItemEvent {
            previous_item_id: previous,
            item,
        }))
        .await;
    }

    // ---- listening ----

    async fn audio(&mut self, frame: Vec<f32>) {
        self.audio.extend_from_slice(&frame);
        if self.turn_item.is_some() {
            self.heard_ms_since_response += FRAME_MS;
        }
        if self.vad_enabled {
            match self.vad.push(&frame) {
                Some(VadEvent::Started { audio_start_ms }) => {
                    self.turn_started(audio_start_ms).await
                }
                Some(VadEvent::Stopped { audio_end_ms }) => self.turn_ended(audio_end_ms).await,
                None => {}
            }
        } else {
            // Without turn detection everything heard goes into the buffer until a commit.
            self.vad.skip();
            if self.turn_item.is_none() {
                self.turn_item = Some(new_id("item"));
                self.turn_from_ms = self.vad.position_ms() - FRAME_MS;
                self.last_partial_ms = self.turn_from_ms;
            }
        }
        if self.vad_enabled {
            self.maybe_start_early();
        }
        if self.turn_item.is_none() {
            // Keep only what prefix padding may need.
            if self.audio.len() > KEEP_BEFORE_TURN * 2 {
                let drop = self.audio.len() - KEEP_BEFORE_TURN;
                self.audio.drain(..drop);
                self.audio_origin_ms += (drop / 16) as u64;
            }
        } else {
            self.maybe_partial();
        }
    }

    fn samples_between(&self, from_ms: u64, to_ms: u64) -> Vec<f32> {
        let index = |ms: u64| ((ms.saturating_sub(self.audio_origin_ms)) * 16) as usize;
        let (from, to) = (
            index(from_ms).min(self.audio.len()),
            index(to_ms).min(self.audio.len()),
        );
        self.audio[from..to.max(from)].to_vec()
    }

    async fn turn_started(&mut self, audio_start_ms: u64) {
        let item_id = new_id("item");
        self.turn_item = Some(item_id.clone());
        self.turn_from_ms = self.vad.turn_audio_from_ms();
        self.last_partial_ms = audio_start_ms;
        self.heard_ms_since_response += audio_start_ms.saturating_sub(self.turn_from_ms);
        self.emit(ServerEvent::SpeechStarted(SpeechStarted {
            audio_start_ms,
            item_id,
        }))
        .await;
        // Barge-in: the candidate talks over the question.
        if self.active.is_some() {
            self.cancel("turn_detected").await;
        }
    }

    /// Starts the final transcription at a pause of [`EARLY_AFTER_MS`], and abandons it when
    /// the candidate speaks on.
    fn maybe_start_early(&mut self) {
        let Some(item_id) = self.turn_item.clone() else {
            return;
        };
        let pause = self.vad.pause();
        if let Some(early) = &self.early
            && early.committed.is_none()
            && pause.is_none_or(|(end, _)| end != early.end_ms)
        {
            early.abort.store(true, Ordering::Relaxed);
            self.early = None;
        }
        let Some((end_ms, quiet_ms)) = pause else {
            return;
        };
        if quiet_ms < EARLY_AFTER_MS || self.early.is_some() {
            return;
        }
        let Some(jobs) = &self.jobs else { return };
        let abort = Arc::new(AtomicBool::new(false));
        let audio = self.samples_between(self.turn_from_ms, end_ms + EARLY_AFTER_MS);
        let job = Job::Transcribe {
            item_id: item_id.clone(),
            audio: audio.clone(),
            partial: false,
            speech_ended: None,
            abort: abort.clone(),
            early_end_ms: Some(end_ms),
        };
        self.partial_abort.store(true, Ordering::Relaxed);
        if jobs.send(job).is_ok() {
            self.early = Some(Early {
                item_id,
                end_ms,
                audio,
                abort,
                result: None,
                committed: None,
            });
        }
    }

    fn maybe_partial(&mut self) {
        let now_ms = self.vad.position_ms();
        if self.partial_busy || now_ms < self.last_partial_ms + PARTIAL_EVERY_MS {
            return;
        }
        let (Some(jobs), Some(item_id)) = (&self.jobs, &self.turn_item) else {
            return;
        };
        // At a pause the early final is about to start: a partial now would only delay it.
        if self.early.is_some() || self.vad.pause().is_some() {
            return;
        }
        let audio = self.samples_between(self.turn_from_ms, now_ms);
        self.partial_abort = Arc::new(AtomicBool::new(false));
        let job = Job::Transcribe {
            item_id: item_id.clone(),
            audio,
            partial: true,
            speech_ended: None,
            abort: self.partial_abort.clone(),
            early_end_ms: None,
        };
        if jobs.send(job).is_ok() {
            self.partial_busy = true;
            self.last_partial_ms = now_ms;
        }
    }

    async fn turn_ended(&mut self, audio_end_ms: u64) {
        let Some(item_id) = self.turn_item.take() else {
            return;
        };
        let ended = Instant::now();
        self.emit(ServerEvent::SpeechStopped(SpeechStopped {
            audio_end_ms,
            item_id: item_id.clone(),
        }))
        .await;
        let previous = self.last_item.replace(item_id.clone());
        self.emit(ServerEvent::InputCommitted(Committed {
            item_id: item_id.clone(),
            previous_item_id: previous.clone(),
        }))
        .await;
        let item = Item {
            id: item_id.clone(),
            kind: "message".into(),
            role: Some("user".into()),
            status: Some("completed".into()),
            content: vec![ContentPart {
                kind: "input_audio".into(),
                text: None,
                transcript: None,
            }],
        };
        self.emit(ServerEvent::ItemAdded(ItemEvent {
            previous_item_id: previous,
            item,
        }))
        .await;
        // The final started at this pause is the final one.
        let early = self.early.take().and_then(|e| {
            let matches = e.item_id == item_id && e.end_ms == audio_end_ms;
            if !matches {
                e.abort.store(true, Ordering::Relaxed);
            }
            matches.then_some(e)
        });
        if let Some(mut early) = early {
            early.committed = Some(ended);
            match early.result.take() {
                Some(result) => self.complete(result, ended).await,
                None => self.early = Some(early),
            }
        } else if let Some(jobs) = &self.jobs {
            self.partial_abort.store(true, Ordering::Relaxed);
            let job = Job::Transcribe {
                item_id,
                audio: self.samples_between(self.turn_from_ms, audio_end_ms + EARLY_AFTER_MS),
                partial: false,
                speech_ended: Some(ended),
                abort: Arc::new(AtomicBool::new(false)),
                early_end_ms: None,
            };
            let _ = jobs.send(job);
        } else {
            let error = self.stt_error.clone().unwrap_or_else(|| {
                SttError::Failed("no transcriber is running for this call".into())
            });
            self.failed(item_id, &error).await;
        }
        // The interviewer answers a finished turn with its next line.
        if self.active.is_none() && !self.script.is_over() {
            self.respond().await;
        }
    }

    async fn transcribed(&mut self, result: TranscriptResult) {
        if result.partial {
            self.partial_busy = false;
            let Ok(text) = result.result else { return };
            // Deltas only append: send the new words when the partial extends what was sent.
            let sent = self.partial_sent.entry(result.item_id.clone()).or_default();
            if text.len() > sent.len() && text.starts_with(sent.as_str()) {
                let delta = text[sent.len()..].to_owned();
                *sent = text;
                self.emit(ServerEvent::InputTranscriptDelta(InputTranscriptDelta {
                    item_id: result.item_id,
                    content_index: 0,
                    delta,
                }))
                .await;
            }
            return;
        }
        let Some(end_ms) = result.early_end_ms else {
            let ended = result.speech_ended.unwrap_or_else(Instant::now);
            return self.complete(result, ended).await;
        };
        // An early final: keep it for the turn's end, use it now if the turn already ended
        // there, drop it if the candidate spoke on.
        let Some(early) = self
            .early
            .as_mut()
            .filter(|e| e.item_id == result.item_id && e.end_ms == end_ms)
        else {
            return;
        };
        match early.committed {
            Some(ended) if result.result.is_ok() => {
                self.early = None;
                self.complete(result, ended).await;
            }
            Some(ended) => {
                // It failed or was skipped: transcribe the turn again, as a plain final.
                let audio = std::mem::take(&mut early.audio);
                self.early = None;
                if let Some(jobs) = &self.jobs {
                    let job = Job::Transcribe {
                        item_id: result.item_id,
                        audio,
                        partial: false,
                        speech_ended: Some(ended),
                        abort: Arc::new(AtomicBool::new(false)),
                        early_end_ms: None,
                    };
                    let _ = jobs.send(job);
                }
            }
            None => early.result = Some(result),
        }
    }

    /// Reports a turn's final transcription.
    async fn complete(&mut self, result: TranscriptResult, speech_ended: Instant) {
        self.partial_sent.remove(&result.item_id);
        tracing::debug!(
            event = "interviewer_transcribed",
            latency_ms = speech_ended.elapsed().as_millis() as u64,
            audio_ms = result.audio_ms
        );
        match result.result {
            Ok(transcript) => {
                let usage = TranscriptionUsage::Duration {
                    seconds: result.audio_ms as f64 / 1000.0,
                };
                self.emit(ServerEvent::InputTranscriptCompleted(
                    InputTranscriptCompleted {
                        item_id: result.item_id,
                        content_index: 0,
                        transcript,
                        usage: Some(usage),
                    },
                ))
                .await;
            }
            Err(error) => self.failed(result.item_id, &error).await,
        }
    }

    async fn failed(&mut self, item_id: String, error: &SttError) {
        self.emit(ServerEvent::InputTranscriptFailed(InputTranscriptFailed {
            item_id,
            content_index: 0,
            error: ErrorDetails {
                kind: Some("transcription_error".into()),
                code: Some(error.code().into()),
                message: error.to_string(),
                param: None,
                event_id: None,
            },
        }))
        .await;
    }

    // ---- speaking ----

    async fn respond(&mut self) {
        if self.active.is_some() {
            return self
                .error(
                    "conversation_already_has_active_response",
                    "a response is already in progress",
                    None,
                )
                .await;
        }
        let Some(line) = self.script.next_line() else {
            return self
                .error(
                    "interview_over",
                    "the interview is over; there are no more questions",
                    None,
                )
                .await;
        };
        let id = new_id("resp");
        let item_id = new_id("item");
        let speech = if self.text_only {
            None
        } else {
            match self.interviewer.speak(&line.text).await {
                Ok(speech) => Some(speech),
                Err(error) => {
                    tracing::warn!(event = "interviewer_voice_failed", %error);
                    None
                }
            }
        };
        let audio_ms = speech.as_ref().map_or(0, |s| s.duration_ms());
        let item = Item {
            id: item_id.clone(),
            kind: "message".into(),
            role: Some("assistant".into()),
            status: Some("in_progress".into()),
            content: vec![ContentPart {
                kind: if self.text_only {
                    "output_text"
                } else {
                    "output_audio"
                }
                .into(),
                text: None,
                transcript: None,
            }],
        };
        self.emit(ServerEvent::ResponseCreated(ResponseEnvelope {
            response: Response {
                id: id.clone(),
                status: ResponseStatus::InProgress,
                ..Response::default()
            },
        }))
        .await;
        let previous = self.last_item.replace(item_id.clone());
        self.emit(ServerEvent::OutputItemAdded(
            viva_realtime::event::OutputItem {
                response_id: id.clone(),
                output_index: 0,
                item: item.clone(),
            },
        ))
        .await;
        self.emit(ServerEvent::ItemAdded(ItemEvent {
            previous_item_id: previous.clone(),
            item,
        }))
        .await;
        let active = Active {
            id: id.clone(),
            item_id: item_id.clone(),
            previous_item_id: previous,
            text: line.text.clone(),
            closing: line.closing,
            audio_ms,
            input_audio_ms: std::mem::take(&mut self.heard_ms_since_response),
        };
        // The words go out ahead of the voice, as the hosted service streams them.
        for word in words(&line.text) {
            let delta = OutputDelta {
                response_id: id.clone(),
                item_id: item_id.clone(),
                output_index: 0,
                content_index: 0,
                delta: word,
            };
            self.emit(if self.text_only {
                ServerEvent::OutputTextDelta(delta)
            } else {
                ServerEvent::OutputTranscriptDelta(delta)
            })
            .await;
        }
        self.active = Some(active);
        match speech {
            Some(speech) => {
                self.emit(ServerEvent::OutputAudioStarted(OutputAudioBuffer {
                    response_id: id.clone(),
                }))
                .await;
                let _ = self
                    .speaker
                    .send(SpeakerCommand::Play {
                        response_id: id,
                        speech,
                    })
                    .await;
            }
            None => self.finish(ResponseStatus::Completed, None).await,
        }
    }

    async fn played(&mut self, response_id: &str) {
        if self.active.as_ref().is_some_and(|a| a.id == response_id) {
            self.emit(ServerEvent::OutputAudioStopped(OutputAudioBuffer {
                response_id: response_id.to_owned(),
            }))
            .await;
            self.finish(ResponseStatus::Completed, None).await;
        }
    }

    async fn cancel(&mut self, reason: &str) {
        let Some(active) = &self.active else { return };
        let id = active.id.clone();
        let _ = self.speaker.send(SpeakerCommand::Stop).await;
        if !self.text_only {
            self.emit(ServerEvent::OutputAudioCleared(OutputAudioBuffer {
                response_id: id,
            }))
            .await;
        }
        // An interrupted question is asked again after the candidate's turn.
        self.script.repeat_last();
        self.finish(
            ResponseStatus::Cancelled,
            Some(json!({"type": "cancelled", "reason": reason})),
        )
        .await;
    }

    async fn finish(&mut self, status: ResponseStatus, details: Option<Value>) {
        let Some(active) = self.active.take() else {
            return;
        };
        let done = OutputDone {
            response_id: active.id.clone(),
            item_id: active.item_id.clone(),
            output_index: 0,
            content_index: 0,
            transcript: (!self.text_only).then(|| active.text.clone()),
            text: self.text_only.then(|| active.text.clone()),
        };
        self.emit(if self.text_only {
            ServerEvent::OutputTextDone(done)
        } else {
            ServerEvent::OutputTranscriptDone(done)
        })
        .await;
        let part = ContentPart {
            kind: if self.text_only {
                "output_text"
            } else {
                "output_audio"
            }
            .into(),
            text: self.text_only.then(|| active.text.clone()),
            transcript: (!self.text_only).then(|| active.text.clone()),
        };
        let item = Item {
            id: active.item_id.clone(),
            kind: "message".into(),
            role: Some("assistant".into()),
            status: Some(
                if status == ResponseStatus::Completed {
                    "completed"
                } else {
                    "incomplete"
                }
                .into(),
            ),
            content: vec![part],
        };
        self.emit(ServerEvent::OutputItemDone(
            viva_realtime::event::OutputItem {
                response_id: active.id.clone(),
                output_index: 0,
                item: item.clone(),
            },
        ))
        .await;
        self.emit(ServerEvent::ItemDone(ItemEvent {
            previous_item_id: active.previous_item_id.clone(),
            item: item.clone(),
        }))
        .await;
        let text_out = (words(&active.text).len() as u64 * 4).div_ceil(3);
        let audio_out = if status == ResponseStatus::Completed {
            active.audio_ms * OUTPUT_AUDIO_TOKENS_PER_S / 1000
        } else {
            0
        };
        let audio_in = active.input_audio_ms * INPUT_AUDIO_TOKENS_PER_S / 1000;
        let text_in = 120; // instructions and the conversation so far, roughly
        let usage = Usage {
            total_tokens: text_in + audio_in + text_out + audio_out,
            input_tokens: text_in + audio_in,
            output_tokens: text_out + audio_out,
            input_token_details: TokenDetails {
                text_tokens: text_in,
                audio_tokens: audio_in,
                ..TokenDetails::default()
            },
            output_token_details: TokenDetails {
                text_tokens: text_out,
                audio_tokens: audio_out,
                ..TokenDetails::default()
            },
        };
        let response = Response {
            id: active.id,
            status,
            status_details: details,
            usage: Some(usage),
            output: vec![item],
        };
        self.emit(ServerEvent::ResponseDone(ResponseEnvelope { response }))
            .await;
        if active.closing && status == ResponseStatus::Completed {
            tracing::info!(event = "interviewer_closed_interview", call_id = %self.call_id);
        }
    }
}

/// The words of a line as deltas (each but the first with its leading space).
fn words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .enumerate()
        .map(|(i, w)| {
            if i == 0 {
                w.to_owned()
            } else {
                format!(" {w}")
            }
        })
        .collect()
}

/// Serialises an event with a fresh `event_id`.
pub fn wire(event: &ServerEvent) -> String {
    let mut value = serde_json::to_value(event).unwrap_or(Value::Null);
    if let Value::Object(fields) = &mut value {
        fields.insert("event_id".into(), Value::String(new_id("event")));
    }
    value.to_string()
}

/// Deep-merges `update` into `base` (objects merge, everything else replaces).
fn merge(base: &mut Value, update: &Value) {
    match (base, update) {
        (Value::Object(base), Value::Object(update)) => {
            for (key, value) in update {
                merge(base.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
        (base, update) => *base = update.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_updates_merge_deeply() {
        let mut base = json!({"audio": {"input": {"a": 1, "b": 2}}, "x": 1});
        merge(&mut base, &json!({"audio": {"input": {"b": 3}}, "y": [1]}));
        assert_eq!(
            base,
            json!({"audio": {"input": {"a": 1, "b": 3}}, "x": 1, "y": [1]})
        );
    }

    #[test]
    fn events_carry_their_type_and_an_event_id() {
        let text = wire(&ServerEvent::SpeechStarted(SpeechStarted {
            audio_start_ms: 40,
            item_id: "item_1".into(),
        }));
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["type"], "input_audio_buffer.speech_started");
        assert_eq!(value["audio_start_ms"], 40);
        assert!(value["event_id"].as_str().unwrap().starts_with("event_"));
        let parsed = viva_realtime::parse_server_event(&text).unwrap();
        assert!(matches!(parsed.event, ServerEvent::SpeechStarted(_)));
    }

    #[test]
    fn words_become_appendable_deltas() {
        assert_eq!(words("Tell me  more."), vec!["Tell", " me", " more."]);
        assert_eq!(words("Tell me  more.").concat(), "Tell me more.");
    }
}
