//! A voice AI peer that sends junk on the event channel — binary frames, text that is not
//! JSON, events without a type, unknown and malformed events, a message over the size limit —
//! then one good line. Over real WebRTC on loopback: the call must report each bad message as
//! a problem, stay up, and still show the good line.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;

use bytes::BytesMut;
use common::grant_for;
use tokio::sync::mpsc;
use viva_audio::{EncoderSettings, PacedMicrophone};
use viva_realtime::{SessionState, Speaker, TranscriptChange};
use viva_rtc::{CallConfig, CallEvent, Media};
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCIceGatheringState, RTCSessionDescription, Registry, register_default_interceptors,
};

/// What the junk peer sends once the client's first event has arrived.
enum Outgoing {
    Text(String),
    Binary(Vec<u8>),
}

struct Handler {
    gathered: mpsc::Sender<()>,
    channels: mpsc::Sender<Arc<dyn DataChannel>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.try_send(());
        }
    }
    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        let _ = self.channels.send(channel).await;
    }
}

/// Answers one offer with a real peer that, after the client's `session.update`, sends
/// `script` on the event channel. The peers are kept alive in `keep`.
async fn answer(
    offer: String,
    script: Arc<Vec<Outgoing>>,
    keep: Arc<Mutex<Vec<Arc<dyn PeerConnection>>>>,
    refused: Arc<Mutex<Vec<String>>>,
) -> String {
    let mut media = MediaEngine::default();
    media.register_default_codecs().unwrap();
    let registry = register_default_interceptors(Registry::new(), &mut media).unwrap();
    let (gathered_tx, mut gathered) = mpsc::channel(1);
    let (channels_tx, mut channels) = mpsc::channel(1);
    let pc = PeerConnectionBuilder::new()
        .with_media_engine(media)
        .with_interceptor_registry(registry)
        .with_handler(Arc::new(Handler {
            gathered: gathered_tx,
            channels: channels_tx,
        }))
        .with_udp_addrs(vec!["127.0.0.1:0".to_owned()])
        .build()
        .await
        .unwrap();
    let pc: Arc<dyn PeerConnection> = Arc::new(pc);
    pc.set_remote_description(RTCSessionDescription::offer(offer).unwrap())
        .await
        .unwrap();
    let answer = pc.create_answer(None).await.unwrap();
    pc.set_local_description(answer).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), gathered.recv())
        .await
        .unwrap();
    let sdp = pc.local_description().await.unwrap().sdp;
    keep.lock().unwrap().push(pc);
    tokio::spawn(async move {
        let Some(channel) = channels.recv().await else {
            return;
        };
        // The client speaks first (`session.update`): from then on it is listening.
        while let Some(event) = channel.poll().await {
            if matches!(event, DataChannelEvent::OnMessage(_)) {
                break;
            }
        }
        for message in script.iter() {
            let sent = match message {
                Outgoing::Text(text) => channel.send_text(text).await,
                Outgoing::Binary(bytes) => channel.send(BytesMut::from(&bytes[..])).await,
            };
            if let Err(error) = sent {
                refused.lock().unwrap().push(error.to_string());
            }
        }
        // Keep reading so the channel stays serviced until the client hangs up.
        while channel.poll().await.is_some() {}
    });
    sdp
}

/// Serves the junk peer; also returns the sends its own transport refused.
async fn junk_peer(script: Vec<Outgoing>) -> (String, Arc<Mutex<Vec<String>>>) {
    use axum::http::{StatusCode, header};
    let script = Arc::new(script);
    let keep: Arc<Mutex<Vec<Arc<dyn PeerConnection>>>> = Arc::default();
    let refused: Arc<Mutex<Vec<String>>> = Arc::default();
    let refused_by_peer = refused.clone();
    let app = axum::Router::new().route(
        "/v1/realtime/calls",
        axum::routing::post(move |offer: String| {
            let (script, keep, refused) = (script.clone(), keep.clone(), refused.clone());
            async move {
                let sdp = answer(offer, script, keep, refused).await;
                (
                    StatusCode::CREATED,
                    [(header::CONTENT_TYPE, "application/sdp")],
                    sdp,
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/v1/realtime/calls",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, refused_by_peer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_on_the_event_channel_is_reported_and_skipped_and_the_call_goes_on() {
    let good = [
        r#"{"type":"conversation.item.added","event_id":"ev_1","previous_item_id":null,"item":{"id":"item_a1","type":"message","status":"in_progress","role":"assistant","content":[]}}"#,
        r#"{"type":"response.output_audio_transcript.done","event_id":"ev_2","response_id":"resp_1","item_id":"item_a1","output_index":0,"content_index":0,"transcript":"Still here after all that noise."}"#,
        r#"{"type":"conversation.item.done","event_id":"ev_3","previous_item_id":null,"item":{"id":"item_a1","type":"message","status":"completed","role":"assistant","content":[{"type":"output_audio","transcript":"Still here after all that noise."}]}}"#,
    ];
    let mut script = vec![
        Outgoing::Binary(vec![0xde, 0xad, 0xbe, 0xef]),
        Outgoing::Text("this is not JSON {".into()),
        Outgoing::Text(r#"{"no_type":true}"#.into()),
        Outgoing::Text(r#"{"type":"response.some_future_event","event_id":"ev_f","x":{"y":[1,2,3]}}"#.into()),
        Outgoing::Text(
            r#"{"type":"response.output_audio_transcript.delta","event_id":"ev_bad","item_id":"item_x","delta":42}"#
                .into(),
        ),
        // Over the call's limit (16 KiB here), within what the data channel carries (64 KiB).
        Outgoing::Text(format!(
            r#"{{"type":"response.some_future_event","pad":"{}"}}"#,
            "x".repeat(40 * 1024)
        )),
        // Over what the data channel carries at all: the sender's own transport refuses it.
        Outgoing::Text(format!(
            r#"{{"type":"response.some_future_event","pad":"{}"}}"#,
            "x".repeat(300 * 1024)
        )),
        Outgoing::Text(
            r#"{"type":"error","event_id":"ev_e","error":{"type":"server_error","code":"overloaded","message":"The voice AI is busy."}}"#
                .into(),
        ),
    ];
    script.extend(good.iter().map(|t| Outgoing::Text((*t).to_owned())));
    let (url, refused) = junk_peer(script).await;

    let (_microphone, frames) = PacedMicrophone::start(EncoderSettings::default()).unwrap();
    let (handle, mut events) = viva_rtc::start(
        grant_for(url),
        None,
        CallConfig {
            udp_addrs: vec!["127.0.0.1:0".into()],
            interviewer_speaks_first: false,
            max_event_bytes: 16 * 1024,
            ..CallConfig::default()
        },
        Media {
            uplink: frames,
            downlink: None,
        },
    );
    let (mut problems, mut states, mut line) = (Vec::new(), Vec::new(), None);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while line.is_none() {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .unwrap_or_else(|_| panic!("no good line; problems {problems:?}, states {states:?}"))
            .expect("the call keeps reporting");
        match event {
            CallEvent::Problem { code, message } => problems.push((code, message)),
            CallEvent::State { state } => states.push(state),
            CallEvent::Transcript {
                change: TranscriptChange::LineFinal(final_line),
            } => line = Some(final_line),
            _ => {}
        }
    }
    let line = line.unwrap();
    assert_eq!(line.speaker, Speaker::Interviewer);
    assert_eq!(line.text, "Still here after all that noise.");
    assert_eq!(
        states,
        [SessionState::Connecting, SessionState::Live],
        "junk neither drops nor reconnects the call"
    );
    let codes: Vec<&str> = problems.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(
        codes,
        [
            "unexpected_binary",
            "unusable_event", // not JSON
            "unusable_event", // no type
            "unusable_event", // a known event with a field of the wrong type
            "unusable_event", // over the size limit
            "overloaded",     // the voice AI's own error, passed on
        ],
        "{problems:?}"
    );
    assert!(problems[4].1.contains("16384-byte limit"), "{problems:?}");
    let refused = refused.lock().unwrap().clone();
    assert_eq!(
        refused.len(),
        1,
        "only the 300 KiB message stays with the peer: {refused:?}"
    );
    assert_eq!(problems[5].1, "The voice AI is busy.");
    let summary = handle.end().await.expect("a summary");
    assert_eq!(summary.interviewer_lines, 1);
    assert_eq!(summary.reconnects, 0);
}
