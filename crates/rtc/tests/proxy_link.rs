//! The SDP proxy link through whole calls, against a fake proxy on loopback that answers each
//! offer with a real WebRTC peer (nothing speaks behind it): the proxy's pings are answered
//! while the connection opens and all through the call; a link closed by a drain is opened
//! again with a sign-in only and carries the typed answers; a typed answer written into a link
//! that had silently died goes again on the next one, with its id, until it is acknowledged,
//! and one that fails for good is told; a replaced link ends the call at once; after a lost
//! connection the new link never gets the old one's `bye`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use viva_realtime::SessionState;
use viva_rtc::{
    AnswerMode, CallConfig, CallEvent, CallHandle, ClientSecret, Grant, Media, RealtimeGrant,
    ReconnectPolicy, SignalingMode, Summary, VoiceApi,
};
use webrtc::data_channel::DataChannel;
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCIceGatheringState, RTCSessionDescription, Registry, register_default_interceptors,
};

// ---- the answering peer ----------------------------------------------------------------

struct Answerer {
    gathered: mpsc::Sender<()>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Answerer {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.try_send(());
        }
    }
    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        // Read what the call sends, so the channel stays serviced.
        tokio::spawn(async move { while channel.poll().await.is_some() {} });
    }
}

/// A real peer's answer to `offer`, and the peer.
async fn answer(offer: &str) -> (String, Arc<dyn PeerConnection>) {
    let mut media = MediaEngine::default();
    media.register_default_codecs().unwrap();
    let registry = register_default_interceptors(Registry::new(), &mut media).unwrap();
    let (gathered_tx, mut gathered) = mpsc::channel(1);
    let pc = PeerConnectionBuilder::new()
        .with_media_engine(media)
        .with_interceptor_registry(registry)
        .with_handler(Arc::new(Answerer {
            gathered: gathered_tx,
        }))
        .with_udp_addrs(vec!["127.0.0.1:0".to_owned()])
        .build()
        .await
        .unwrap();
    let pc: Arc<dyn PeerConnection> = Arc::new(pc);
    pc.set_remote_description(RTCSessionDescription::offer(offer.to_owned()).unwrap())
        .await
        .unwrap();
    let answer = pc.create_answer(None).await.unwrap();
    pc.set_local_description(answer).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), gathered.recv())
        .await
        .unwrap();
    let sdp = pc.local_description().await.unwrap().sdp;
    (sdp, pc)
}

// ---- the fake proxy --------------------------------------------------------------------

/// What one connection to the proxy carried.
#[derive(Debug, Default, Clone)]
struct Link {
    /// Every message from the client, in order.
    messages: Vec<Value>,
    /// Pongs since the answer went out.
    pongs_after_answer: usize,
    closed: bool,
    /// It stopped reading and pinging ([`Control::Quiet`]).
    quiet: bool,
}

impl Link {
    fn kinds(&self) -> Vec<String> {
        self.messages
            .iter()
            .map(|m| m["type"].as_str().unwrap_or("?").to_owned())
            .collect()
    }

    fn texts(&self) -> Vec<String> {
        self.messages
            .iter()
            .filter(|m| m["type"] == "text")
            .map(|m| m["text"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The typed answers' ids, in order.
    fn text_ids(&self) -> Vec<String> {
        self.messages
            .iter()
            .filter(|m| m["type"] == "text")
            .map(|m| {
                m["id"]
                    .as_str()
                    .expect("a typed answer with its id")
                    .to_owned()
            })
            .collect()
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Behaviour {
    /// Answer with a peer that is closed at once: the event channel never opens.
    dead_answers: bool,
    /// When a connection signs in, close every earlier one still open with 4009 `replaced`.
    replace: bool,
    /// Wait this long before `ready` on every connection after the first.
    later_ready_after: Duration,
    /// Ping each connection this often, from its answer on.
    ping_every: Option<Duration>,
    /// Never acknowledge a typed answer (by default each is, with `text_ok`, once read).
    no_acks: bool,
    /// Refuse the typed answers with this text (`typed_answer_failed`, with their id).
    fail_text: Option<&'static str>,
}

enum Control {
    Close(u16, &'static str),
    /// Stop pinging and reading, and keep the socket open: a half-open link, as the client
    /// sees one.
    Quiet,
}

#[derive(Default)]
struct State {
    links: Mutex<Vec<Link>>,
    controls: Mutex<Vec<mpsc::UnboundedSender<Control>>>,
    peers: Mutex<Vec<Arc<dyn PeerConnection>>>,
}

struct Proxy {
    url: String,
    state: Arc<State>,
}

impl Proxy {
    async fn start(behaviour: Behaviour) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/ws", listener.local_addr().unwrap());
        let state = Arc::new(State::default());
        let served = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = served.clone();
                tokio::spawn(async move {
                    let socket = tokio_tungstenite::accept_async(stream).await.unwrap();
                    serve(socket, behaviour, state).await;
                });
            }
        });
        Self { url, state }
    }

    fn links(&self) -> Vec<Link> {
        self.state.links.lock().unwrap().clone()
    }

    fn close(&self, index: usize, code: u16, reason: &'static str) {
        self.control(index, Control::Close(code, reason));
    }

    fn control(&self, index: usize, control: Control) {
        let _ = self.state.controls.lock().unwrap()[index].send(control);
    }

    /// Waits (at most 10 s) until the links satisfy `done`.
    async fn until(&self, what: &str, done: impl Fn(&[Link]) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !done(&self.links()) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}; the proxy saw {:?}",
                self.links()
                    .iter()
                    .map(|l| (l.kinds(), l.pongs_after_answer, l.closed))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

async fn serve(mut socket: Socket, behaviour: Behaviour, state: Arc<State>) {
    let Some(Ok(Message::Text(auth))) = socket.next().await else {
        return;
    };
    let (control_tx, mut controls) = mpsc::unbounded_channel();
    let index = {
        let mut links = state.links.lock().unwrap();
        links.push(Link {
            messages: vec![serde_json::from_str(&auth).unwrap()],
            ..Link::default()
        });
        state.controls.lock().unwrap().push(control_tx);
        links.len() - 1
    };
    let record = |update: &dyn Fn(&mut Link)| update(&mut state.links.lock().unwrap()[index]);
    if behaviour.replace {
        let controls = state.controls.lock().unwrap();
        for earlier in &controls[..index] {
            let _ = earlier.send(Control::Close(4009, "replaced"));
        }
    }
    if index > 0 {
        tokio::time::sleep(behaviour.later_ready_after).await;
    }
    let ready = json!({"type": "ready"}).to_string();
    if socket.send(Message::text(ready)).await.is_err() {
        return;
    }
    let mut pings: Option<tokio::time::Interval> = None;
    loop {
        let tick = async {
            match pings.as_mut() {
                Some(pings) => pings.tick().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            message = socket.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    let message: Value = serde_json::from_str(&text).unwrap();
                    let offer = (message["type"] == "offer")
                        .then(|| message["sdp"].as_str().unwrap().to_owned());
                    record(&|link| link.messages.push(message.clone()));
                    if message["type"] == "text" && !behaviour.no_acks {
                        let id = message["id"].clone();
                        let reply = if behaviour.fail_text.is_some_and(|fail| message["text"] == fail) {
                            json!({"type": "error", "code": "typed_answer_failed", "message": "the call has ended", "id": id})
                        } else {
                            json!({"type": "text_ok", "id": id})
                        };
                        let _ = socket.send(Message::text(reply.to_string())).await;
                    }
                    if let Some(offer) = offer {
                        let (sdp, peer) = answer(&offer).await;
                        if behaviour.dead_answers {
                            let _ = peer.close().await;
                        }
                        state.peers.lock().unwrap().push(peer);
                        let answer = json!({"type": "answer", "sdp": sdp}).to_string();
                        let _ = socket.send(Message::text(answer)).await;
                        pings = behaviour.ping_every.map(tokio::time::interval);
                    }
                }
                Some(Ok(Message::Pong(_))) => record(&|link| link.pongs_after_answer += 1),
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            Some(control) = controls.recv() => match control {
                Control::Close(code, reason) => {
                    let frame = CloseFrame { code: code.into(), reason: reason.into() };
                    let _ = socket.close(Some(frame)).await;
                }
                Control::Quiet => {
                    record(&|link| link.quiet = true);
                    std::future::pending::<()>().await;
                }
            },
            _ = tick => {
                let _ = socket.send(Message::Ping(Default::default())).await;
            }
        }
    }
    record(&|link| link.closed = true);
}

// ---- the call --------------------------------------------------------------------------

fn grant(api: VoiceApi, url: &str) -> Grant {
    Grant {
        session_id: "s1".into(),
        mode: AnswerMode::Voice,
        max_duration_s: None,
        realtime: RealtimeGrant {
            api,
            signaling: SignalingMode::Websocket,
            url: url.to_owned(),
            client_secret: ClientSecret {
                value: "ek_test".into(),
                expires_at: i64::MAX,
            },
            model: "gpt-realtime".into(),
            session: json!({"type": "realtime"}),
            ice_servers: vec![],
        },
        access_token: Some("token".into()),
    }
}

struct Call {
    handle: CallHandle,
    events: mpsc::Receiver<CallEvent>,
    seen: Vec<CallEvent>,
    _frames: mpsc::Sender<viva_audio::EncodedFrame>,
}

impl Call {
    /// A call on loopback with short pauses, its configuration changed by `tune`.
    fn start(api: VoiceApi, proxy: &Proxy, tune: impl FnOnce(&mut CallConfig)) -> Self {
        let mut config = CallConfig {
            udp_addrs: vec!["127.0.0.1:0".into()],
            reconnect: ReconnectPolicy {
                initial: Duration::from_millis(50),
                cap: Duration::from_millis(200),
                give_up_after: Duration::from_secs(20),
            },
            connect_timeout: Duration::from_secs(10),
            interviewer_speaks_first: false,
            ..CallConfig::default()
        };
        tune(&mut config);
        let (frames, uplink) = mpsc::channel(4);
        let media = Media {
            uplink,
            downlink: None,
        };
        let (handle, events) = viva_rtc::start(grant(api, &proxy.url), None, config, media);
        Self {
            handle,
            events,
            seen: Vec::new(),
            _frames: frames,
        }
    }

    /// Reads events until one satisfies `done` (at most 10 s).
    async fn until(&mut self, what: &str, done: impl Fn(&CallEvent) -> bool) -> CallEvent {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let event = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .unwrap_or_else(|_| panic!("{what}: not within 10 s; saw {:?}", self.states()))
                .unwrap_or_else(|| panic!("{what}: the call ended; saw {:?}", self.states()));
            self.seen.push(event.clone());
            if done(&event) {
                return event;
            }
        }
    }

    async fn live(&mut self) {
        self.until("live", |e| is_state(e, |s| *s == SessionState::Live))
            .await;
    }

    /// Reads until the call ends by itself; its summary.
    async fn ended(&mut self) -> Summary {
        match self
            .until("ended", |e| matches!(e, CallEvent::Ended { .. }))
            .await
        {
            CallEvent::Ended { summary } => summary,
            _ => unreachable!(),
        }
    }

    fn states(&self) -> Vec<SessionState> {
        self.seen
            .iter()
            .filter_map(|e| match e {
                CallEvent::State { state } => Some(state.clone()),
                _ => None,
            })
            .collect()
    }

    fn problems(&self) -> Vec<String> {
        self.seen
            .iter()
            .filter_map(|e| match e {
                CallEvent::Problem { code, .. } => Some(code.clone()),
                _ => None,
            })
            .collect()
    }

    /// Ends the call; its summary, and the problems it told from then on (code, message).
    async fn end(self) -> (Summary, Vec<(String, String)>) {
        let Self {
            handle, mut events, ..
        } = self;
        let summary = handle.end().await.unwrap();
        let mut problems = Vec::new();
        // The call's task is over: its events end.
        while let Ok(Some(event)) =
            tokio::time::timeout(Duration::from_secs(5), events.recv()).await
        {
            if let CallEvent::Problem { code, message } = event {
                problems.push((code, message));
            }
        }
        (summary, problems)
    }
}

fn is_state(event: &CallEvent, test: impl Fn(&SessionState) -> bool) -> bool {
    matches!(event, CallEvent::State { state } if test(state))
}

// ---- the tests -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxys_pings_are_answered_while_the_connection_opens_and_its_close_is_seen() {
    let proxy = Proxy::start(Behaviour {
        dead_answers: true,
        ping_every: Some(Duration::from_millis(200)),
        ..Behaviour::default()
    })
    .await;
    // The event channel never opens: the call waits for it up to its connect timeout.
    let mut call = Call::start(VoiceApi::Realtime, &proxy, |_| {});
    proxy
        .until("pongs while the event channel is awaited", |links| {
            links.first().is_some_and(|l| l.pongs_after_answer >= 3)
        })
        .await;
    // A close while waiting ends the attempt at once, not at the connect timeout.
    let closed_at = tokio::time::Instant::now();
    proxy.close(0, 1008, "expired");
    let summary = call.ended().await;
    assert!(closed_at.elapsed() < Duration::from_secs(3));
    assert!(
        matches!(&summary.ended, SessionState::Failed { reason } if reason.contains("expired")),
        "{:?}",
        summary.ended
    );
    assert_eq!(call.problems(), ["sign_in_again"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxys_pings_are_answered_all_through_the_call() {
    let proxy = Proxy::start(Behaviour {
        ping_every: Some(Duration::from_millis(100)),
        ..Behaviour::default()
    })
    .await;
    let mut call = Call::start(VoiceApi::Realtime, &proxy, |_| {});
    call.live().await;
    let before = proxy.links()[0].pongs_after_answer;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let during = proxy.links()[0].pongs_after_answer - before;
    assert!(during >= 5, "{during} pongs in 1.5 s of pings every 100 ms");
    let summary = call.handle.end().await.unwrap();
    assert!(matches!(summary.ended, SessionState::Ended { .. }));
    proxy
        .until("the goodbye, last", |links| {
            links[0].kinds() == ["auth", "offer", "bye"]
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_link_ends_the_call_at_once_and_is_not_opened_again() {
    let proxy = Proxy::start(Behaviour::default()).await;
    let mut call = Call::start(VoiceApi::Realtime, &proxy, |_| {});
    call.live().await;
    proxy.close(0, 4009, "replaced");
    let summary = call.ended().await;
    assert!(
        matches!(&summary.ended, SessionState::Failed { reason } if reason.contains("opened again from this computer")),
        "{:?}",
        summary.ended
    );
    assert_eq!(call.problems(), ["replaced"]);
    assert_eq!(summary.reconnects, 0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        proxy.links().len(),
        1,
        "no new sign-in after being replaced"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drained_link_is_opened_again_without_an_offer_and_carries_the_typed_answers() {
    let proxy = Proxy::start(Behaviour {
        later_ready_after: Duration::from_millis(300),
        ..Behaviour::default()
    })
    .await;
    let mut call = Call::start(VoiceApi::Live, &proxy, |_| {});
    call.live().await;
    call.handle.send_text("Before the drain.").await.unwrap();
    proxy
        .until("the first typed answer", |links| {
            links[0].texts() == ["Before the drain."]
        })
        .await;
    proxy.close(0, 1001, "going away");
    proxy.until("a new sign-in", |links| links.len() == 2).await;
    // Typed while the new link waits for its `ready`.
    call.handle.send_text("During the drain.").await.unwrap();
    proxy
        .until("the waiting typed answer on the new link", |links| {
            links[1].texts() == ["During the drain."]
        })
        .await;
    call.handle.send_text("After the drain.").await.unwrap();
    proxy
        .until("the next typed answer on the new link", |links| {
            links[1].texts().len() == 2
        })
        .await;
    let links = proxy.links();
    assert_eq!(links[0].texts(), ["Before the drain."]);
    assert_eq!(
        links[1].kinds(),
        ["auth", "text", "text"],
        "a sign-in, no offer"
    );
    assert_eq!(links[1].texts(), ["During the drain.", "After the drain."]);
    assert!(
        !call
            .states()
            .iter()
            .any(|s| matches!(s, SessionState::Reconnecting { .. })),
        "the media went on: {:?}",
        call.states()
    );
    let summary = call.handle.end().await.unwrap();
    assert_eq!(summary.reconnects, 0);
    assert!(matches!(summary.ended, SessionState::Ended { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_lost_connection_the_new_link_gets_no_bye_and_the_old_ones_close_ends_nothing() {
    let proxy = Proxy::start(Behaviour {
        replace: true,
        ..Behaviour::default()
    })
    .await;
    let mut call = Call::start(VoiceApi::Realtime, &proxy, |_| {});
    call.live().await;
    // The voice AI's side goes away: the call loses its connection and makes a new one,
    // whose sign-in makes the proxy close the old link with 4009 `replaced`.
    let first = proxy.state.peers.lock().unwrap()[0].clone();
    let _ = first.close().await;
    call.until("reconnecting", |e| {
        is_state(e, |s| matches!(s, SessionState::Reconnecting { .. }))
    })
    .await;
    call.live().await;
    proxy
        .until("the old link closed", |links| links[0].closed)
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let links = proxy.links();
    assert_eq!(links.len(), 2);
    assert_eq!(
        links[1].kinds(),
        ["auth", "offer"],
        "no bye on the new link"
    );
    assert!(!links[1].closed);
    assert!(
        !call.states().iter().any(SessionState::is_final),
        "{:?}",
        call.states()
    );
    let summary = call.handle.end().await.unwrap();
    assert_eq!(summary.reconnects, 1);
    assert!(
        matches!(summary.ended, SessionState::Ended { .. }),
        "{:?}",
        summary.ended
    );
    // Hanging up on purpose says goodbye on the link that is current.
    proxy
        .until("the goodbye, last", |links| {
            links[1].kinds() == ["auth", "offer", "bye"]
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_that_pinged_and_went_quiet_is_opened_again_while_the_media_goes_on() {
    let proxy = Proxy::start(Behaviour {
        ping_every: Some(Duration::from_millis(100)),
        ..Behaviour::default()
    })
    .await;
    let mut call = Call::start(VoiceApi::Realtime, &proxy, |config| {
        config.proxy_quiet_limit = Duration::from_secs(1);
    });
    call.live().await;
    // Pinged all along: never quiet.
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    assert_eq!(proxy.links().len(), 1);
    // Its socket stays open, but nothing comes through any more.
    proxy.control(0, Control::Quiet);
    proxy.until("a new sign-in", |links| links.len() == 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(proxy.links()[1].kinds(), ["auth"], "a sign-in, no offer");
    assert!(
        !call
            .states()
            .iter()
            .any(|s| matches!(s, SessionState::Reconnecting { .. })),
        "the media went on: {:?}",
        call.states()
    );
    let summary = call.handle.end().await.unwrap();
    assert_eq!(summary.reconnects, 0);
    proxy
        .until("the goodbye, last", |links| {
            links[1].kinds() == ["auth", "bye"]
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_answer_written_into_a_silently_dead_link_goes_again_on_the_next_one_before_newer_ones()
 {
    let proxy = Proxy::start(Behaviour {
        ping_every: Some(Duration::from_millis(100)),
        ..Behaviour::default()
    })
    .await;
    let mut call = Call::start(VoiceApi::Live, &proxy, |config| {
        config.proxy_quiet_limit = Duration::from_secs(1);
    });
    call.live().await;
    call.handle.send_text("Acknowledged.").await.unwrap();
    proxy
        .until("the first typed answer", |links| {
            links[0].texts() == ["Acknowledged."]
        })
        .await;
    // The link dies without a word (its socket stays open: the write below succeeds on this
    // side, as into a crashed proxy's socket before its close is read, or a half-open one).
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.control(0, Control::Quiet);
    proxy
        .until("the link gone quiet", |links| links[0].quiet)
        .await;
    call.handle.send_text("Into the void.").await.unwrap();
    proxy.until("a new sign-in", |links| links.len() == 2).await;
    call.handle.send_text("After it.").await.unwrap();
    proxy
        .until("both answers on the new link", |links| {
            links[1].texts().len() == 2
        })
        .await;
    let links = proxy.links();
    assert_eq!(links[0].texts(), ["Acknowledged."], "never read the second");
    assert_eq!(
        links[1].texts(),
        ["Into the void.", "After it."],
        "the unacknowledged one first; the acknowledged one not again"
    );
    assert_eq!(links[1].kinds(), ["auth", "text", "text"]);
    let ids: Vec<String> = links[0]
        .text_ids()
        .into_iter()
        .chain(links[1].text_ids())
        .collect();
    assert_eq!(
        ids.iter().collect::<std::collections::HashSet<_>>().len(),
        3,
        "an id per answer: {ids:?}"
    );
    // Acknowledged, all of them: nothing to tell when the call ends.
    assert!(call.problems().is_empty(), "{:?}", call.problems());
    let (summary, problems) = call.end().await;
    assert!(matches!(summary.ended, SessionState::Ended { .. }));
    assert_eq!(problems, []);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unacknowledged_typed_answer_keeps_its_id_on_the_next_link() {
    let proxy = Proxy::start(Behaviour {
        later_ready_after: Duration::from_millis(200),
        no_acks: true,
        ..Behaviour::default()
    })
    .await;
    let mut call = Call::start(VoiceApi::Live, &proxy, |_| {});
    call.live().await;
    call.handle
        .send_text("Sent, never acknowledged.")
        .await
        .unwrap();
    proxy
        .until("the typed answer", |links| links[0].texts().len() == 1)
        .await;
    proxy.close(0, 1001, "going away");
    proxy
        .until("the same answer on the new link", |links| {
            links.len() == 2 && links[1].texts().len() == 1
        })
        .await;
    let links = proxy.links();
    assert_eq!(links[1].texts(), links[0].texts());
    assert_eq!(
        links[1].text_ids(),
        links[0].text_ids(),
        "the same id: the proxy passes it on once"
    );
    // Still unacknowledged when the call ends: the candidate is told.
    let (summary, problems) = call.end().await;
    assert!(matches!(summary.ended, SessionState::Ended { .. }));
    assert_eq!(problems.len(), 1, "{problems:?}");
    let (code, told) = &problems[0];
    assert_eq!(code, "typed_answer_unconfirmed");
    assert!(told.contains("“Sent, never acknowledged.”"), "{told}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_answer_the_proxy_could_not_pass_on_is_told_and_not_sent_again() {
    let proxy = Proxy::start(Behaviour {
        fail_text: Some("Lost upstream."),
        ..Behaviour::default()
    })
    .await;
    let mut call = Call::start(VoiceApi::Live, &proxy, |_| {});
    call.live().await;
    call.handle.send_text("Lost upstream.").await.unwrap();
    let told = match call
        .until("the failure told", |e| {
            matches!(e, CallEvent::Problem { .. })
        })
        .await
    {
        CallEvent::Problem { code, message } => {
            assert_eq!(code, "typed_answer_failed", "{message}");
            message
        }
        _ => unreachable!(),
    };
    assert!(
        told.contains("“Lost upstream.”") && told.contains("the call has ended"),
        "{told}"
    );
    proxy.close(0, 1001, "going away");
    proxy.until("a new sign-in", |links| links.len() == 2).await;
    call.handle.send_text("Next.").await.unwrap();
    proxy
        .until("the next answer", |links| links[1].texts().len() == 1)
        .await;
    assert_eq!(
        proxy.links()[1].texts(),
        ["Next."],
        "the failed one is not sent again"
    );
    assert_eq!(call.problems(), ["typed_answer_failed"], "told once");
    let (summary, problems) = call.end().await;
    assert!(matches!(summary.ended, SessionState::Ended { .. }));
    assert_eq!(problems, []);
}
