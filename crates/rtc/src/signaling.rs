//! Getting an SDP answer for an offer: over HTTP with the client secret, or through the SDP
//! proxy's WebSocket. The parsers of what comes back are pure and tested on their own.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use viva_contract::proxy::{
    CLOSE_ALREADY_LIVE, CLOSE_GOING_AWAY, CLOSE_POLICY, CLOSE_RATE_LIMITED, CLOSE_UPSTREAM_FAILED,
    REASON_REPLACED,
};

use crate::CallError;

/// The largest answer we accept; real answers are a few kilobytes.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// The largest SDP proxy message accepted: an answer at its limit, JSON-escaped, with room.
pub const MAX_PROXY_MESSAGE_BYTES: usize = 2 * MAX_ANSWER_BYTES + 4096;
/// How long signaling may take, per step.
pub const SIGNALING_TIMEOUT: Duration = Duration::from_secs(15);

/// Checks that `sdp` is an answer we can apply: SDP text with an audio section.
pub fn check_answer(sdp: &str) -> Result<(), CallError> {
    if sdp.len() > MAX_ANSWER_BYTES {
        return Err(CallError::BadAnswer(format!(
            "it is {} bytes, more than the {MAX_ANSWER_BYTES} allowed",
            sdp.len()
        )));
    }
    let trimmed = sdp.trim_start();
    if !trimmed.starts_with("v=0") {
        let start: String = trimmed.chars().take(40).collect();
        let what = if start.starts_with('<') {
            "an HTML page".to_owned()
        } else if start.starts_with('{') {
            "JSON".to_owned()
        } else {
            format!("text starting {start:?}")
        };
        return Err(CallError::BadAnswer(format!("expected SDP, got {what}")));
    }
    if !sdp.lines().any(|line| line.starts_with("m=audio")) {
        return Err(CallError::BadAnswer(
            "the answer has no audio section".into(),
        ));
    }
    Ok(())
}

/// The message of an OpenAI-style error body (`{"error":{"message",...}}`), a Supabase-style
/// one (`{"code","message"}`), or a short note on what the body was.
pub fn error_message(body: &str) -> String {
    if let Ok(value) = serde_json::from_str::<Value>(body) {
        let message = value
            .pointer("/error/message")
            .or_else(|| value.get("message"))
            .and_then(Value::as_str);
        if let Some(message) = message {
            return message.chars().take(300).collect();
        }
    }
    if body.trim_start().starts_with('<') {
        return "the server answered with an HTML page".into();
    }
    let excerpt: String = body.chars().take(120).collect();
    if excerpt.is_empty() {
        "no details".into()
    } else {
        excerpt
    }
}

/// Turns an HTTP reply to an offer into the answer SDP or a typed error.
pub fn answer_from_http(status: u16, body: &str) -> Result<String, CallError> {
    match status {
        200..=299 => {
            check_answer(body)?;
            Ok(body.to_owned())
        }
        300..=399 => Err(CallError::Refused(
            "the voice AI's address answered with a redirect; Viva does not follow redirects with the call's secret".into(),
        )),
        401 => Err(CallError::SecretRejected(error_message(body))),
        403 | 404 => Err(CallError::Refused(error_message(body))),
        // The voice AI's own conflict (the HTTP path goes straight to it, not through the
        // SDP proxy's hold on the interview, which a plain 4009 may outlast): final.
        409 => Err(CallError::AlreadyConnected),
        429 => Err(CallError::RateLimited),
        400..=499 => Err(CallError::Refused(format!(
            "{} (HTTP {status})",
            error_message(body)
        ))),
        _ => Err(CallError::Unavailable(format!(
            "{} (HTTP {status})",
            error_message(body)
        ))),
    }
}

/// What an SDP proxy close code means (docs/protocols.md §3). A 4009 with the reason
/// `replaced` ([`REASON_REPLACED`]) means a newer connection of the same sign-in took the
/// interview: final. A plain 4009 means another connection holds it, which may be a stale one
/// about to be released: the call retries it for a while (`call::link`).
pub fn close_code_error(code: u16, reason: &str) -> CallError {
    match code {
        CLOSE_POLICY => CallError::SignInAgain(if reason.is_empty() {
            "the SDP proxy refused the sign-in".into()
        } else {
            reason.into()
        }),
        CLOSE_ALREADY_LIVE if reason == REASON_REPLACED => CallError::Replaced,
        CLOSE_ALREADY_LIVE => CallError::AlreadyConnected,
        CLOSE_RATE_LIMITED => CallError::RateLimited,
        CLOSE_UPSTREAM_FAILED => {
            CallError::Unavailable(format!("the SDP proxy's upstream failed: {reason}"))
        }
        1000 | CLOSE_GOING_AWAY => CallError::Network("the SDP proxy closed the connection".into()),
        _ => CallError::Network(format!("the SDP proxy closed with {code}: {reason}")),
    }
}

/// POSTs the offer to the voice AI with the client secret; returns the answer and the call's
/// `Location` (for hanging up).
pub(crate) async fn http_offer(
    http: &reqwest::Client,
    url: &str,
    secret: &str,
    offer: &str,
) -> Result<(String, Option<String>), CallError> {
    let response = http
        .post(url)
        .bearer_auth(secret)
        .header(reqwest::header::CONTENT_TYPE, "application/sdp")
        .body(offer.to_owned())
        .timeout(SIGNALING_TIMEOUT)
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                CallError::Timeout("sending the offer")
            } else {
                CallError::Network(format!("cannot reach the voice AI: {}", short(&e)))
            }
        })?;
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = read_limited(response).await?;
    answer_from_http(status, &body).map(|answer| (answer, location))
}

/// Reads a reply body, refusing one larger than an answer could be.
async fn read_limited(mut response: reqwest::Response) -> Result<String, CallError> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                    return Err(CallError::BadAnswer(format!(
                        "the reply is larger than {MAX_ANSWER_BYTES} bytes"
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => {
                return Err(CallError::Network(format!(
                    "reading the answer: {}",
                    short(&e)
                )));
            }
        }
    }
    String::from_utf8(body).map_err(|_| CallError::BadAnswer("the reply is not text".into()))
}

/// Ends the hosted call (`POST <url>/<call id>/hangup`); best effort, it is gone either way.
pub(crate) async fn http_hang_up(
    http: &reqwest::Client,
    offer_url: &str,
    location: &str,
    secret: &str,
) {
    let Some(call_id) = location.rsplit('/').next().filter(|id| !id.is_empty()) else {
        return;
    };
    let url = format!("{}/{call_id}/hangup", offer_url.trim_end_matches('/'));
    let _ = http
        .post(url)
        .bearer_auth(secret)
        .timeout(Duration::from_secs(3))
        .send()
        .await;
}

fn short(error: &reqwest::Error) -> String {
    // reqwest's messages carry the URL; ours are shown to users, who need the cause.
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(url.as_str(), "the server");
    }
    text
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What the SDP proxy said outside a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProxyNotice {
    /// The proxy or the far side hung up (`bye`).
    Bye,
    /// The socket closed; the error says what its close code means.
    Closed(CallError),
    /// An error message that did not close the socket.
    Error(String),
    /// The typed answer with this id reached the call (`text_ok`).
    TextOk(String),
    /// The typed answer with this id was refused or could not be passed on: it is lost unless
    /// the candidate sends it again.
    TextFailed { id: String, message: String },
}

/// An open, authenticated connection to the SDP proxy.
#[derive(Debug)]
pub(crate) struct ProxyLink {
    socket: Socket,
    /// When the proxy was last heard from (any frame).
    heard: Instant,
    /// The proxy has pinged this link: it pings every
    /// [`PING_EVERY`](viva_contract::proxy::PING_EVERY), so its silence means it is gone.
    pings: bool,
}

impl ProxyLink {
    /// Connects, authenticates with the user's access token and waits for `ready`.
    pub(crate) async fn open(
        url: &str,
        access_token: &str,
        session_id: &str,
    ) -> Result<Self, CallError> {
        // A message (or frame) larger than any legitimate one closes the link with a typed
        // error instead of growing memory.
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .max_message_size(Some(MAX_PROXY_MESSAGE_BYTES))
            .max_frame_size(Some(MAX_PROXY_MESSAGE_BYTES));
        let (socket, _) = tokio::time::timeout(
            SIGNALING_TIMEOUT,
            tokio_tungstenite::connect_async_with_config(url, Some(config), false),
        )
        .await
        .map_err(|_| CallError::Timeout("connecting to the SDP proxy"))?
        .map_err(|e| CallError::Network(format!("cannot reach the SDP proxy: {e}")))?;
        let mut link = Self {
            socket,
            heard: Instant::now(),
            pings: false,
        };
        link.send(json!({"type": "auth", "access_token": access_token, "session_id": session_id}))
            .await?;
        match link.reply("the SDP proxy's sign-in").await? {
            Reply::Ready => Ok(link),
            other => Err(CallError::Network(format!(
                "the SDP proxy answered the sign-in with {other:?}"
            ))),
        }
    }

    /// How long the proxy has said nothing on this link, once it has shown that it pings
    /// (`None` before: a proxy that does not ping may stay quiet for good).
    pub(crate) fn quiet_for(&self) -> Option<Duration> {
        self.pings.then(|| self.heard.elapsed())
    }

    /// The next frame, noting that the proxy was heard (and whether it pings).
    async fn next_frame(
        &mut self,
    ) -> Option<Result<Message, tokio_tungstenite::tungstenite::Error>> {
        let next = self.socket.next().await;
        if let Some(Ok(frame)) = &next {
            self.heard = Instant::now();
            self.pings |= matches!(frame, Message::Ping(_));
        }
        next
    }

    async fn send(&mut self, message: Value) -> Result<(), CallError> {
        tokio::time::timeout(
            SIGNALING_TIMEOUT,
            self.socket.send(Message::text(message.to_string())),
        )
        .await
        .map_err(|_| CallError::Timeout("writing to the SDP proxy"))?
        .map_err(|e| CallError::Network(format!("the SDP proxy connection broke: {e}")))
    }

    /// Sends a typed answer (GPT-Live) with its `id`: the proxy passes it to the session
    /// itself, and says so later with a [`ProxyNotice::TextOk`] (or [`ProxyNotice::TextFailed`]).
    /// `Ok` only means the socket took the frame: a dead link takes it too.
    pub(crate) async fn text(&mut self, id: &str, text: &str) -> Result<(), CallError> {
        let message = viva_contract::proxy::ClientMessage::Text {
            id: Some(id.to_owned()),
            text: text.to_owned(),
        };
        let message = serde_json::to_value(&message)
            .map_err(|e| CallError::Network(format!("cannot write the typed answer: {e}")))?;
        self.send(message).await
    }

    /// Sends the offer, with the call's history for a new GPT-Live session (empty otherwise),
    /// and waits for the answer.
    pub(crate) async fn offer(
        &mut self,
        sdp: &str,
        history: &[viva_contract::proxy::HistoryLine],
    ) -> Result<String, CallError> {
        let offer = viva_contract::proxy::ClientMessage::Offer {
            sdp: sdp.to_owned(),
            history: history.to_vec(),
        };
        let offer = serde_json::to_value(&offer)
            .map_err(|e| CallError::Network(format!("cannot write the offer: {e}")))?;
        self.send(offer).await?;
        match self.reply("the SDP proxy's answer").await? {
            Reply::Answer(sdp) => {
                check_answer(&sdp)?;
                Ok(sdp)
            }
            other => Err(CallError::Network(format!(
                "the SDP proxy answered the offer with {other:?}"
            ))),
        }
    }

    async fn reply(&mut self, what: &'static str) -> Result<Reply, CallError> {
        let deadline = tokio::time::Instant::now() + SIGNALING_TIMEOUT;
        loop {
            let next = tokio::time::timeout_at(deadline, self.next_frame())
                .await
                .map_err(|_| CallError::Timeout(what))?;
            match read_notice(next) {
                Incoming::Reply(reply) => return Ok(reply),
                Incoming::Notice(ProxyNotice::Closed(error)) => return Err(error),
                Incoming::Notice(ProxyNotice::Bye) => {
                    return Err(CallError::Network("the SDP proxy hung up".into()));
                }
                Incoming::Notice(ProxyNotice::Error(message)) => {
                    return Err(CallError::Refused(message));
                }
                // No typed answer is sent on a link before its `ready` and its answer, so
                // there is nothing such a notice could be about.
                Incoming::Notice(
                    notice @ (ProxyNotice::TextOk(_) | ProxyNotice::TextFailed { .. }),
                ) => {
                    tracing::warn!(
                        event = "sdp_proxy_unexpected",
                        ?notice,
                        "while waiting for {what}"
                    );
                }
                Incoming::Nothing => {}
            }
        }
    }

    /// The next notice while the call runs (cancel-safe: use it in `select!`).
    pub(crate) async fn notice(&mut self) -> ProxyNotice {
        loop {
            match read_notice(self.next_frame().await) {
                Incoming::Notice(notice) => return notice,
                Incoming::Reply(reply) => {
                    tracing::debug!(event = "sdp_proxy_unexpected", reply = ?reply);
                }
                Incoming::Nothing => {}
            }
        }
    }

    /// Says goodbye and closes; best effort.
    pub(crate) async fn bye(mut self) {
        let _ = self.send(json!({"type": "bye"})).await;
        let _ = tokio::time::timeout(Duration::from_secs(2), self.socket.close(None)).await;
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Reply {
    Ready,
    Answer(String),
}

enum Incoming {
    Reply(Reply),
    Notice(ProxyNotice),
    Nothing,
}

fn read_notice(next: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>) -> Incoming {
    match next {
        None => Incoming::Notice(ProxyNotice::Closed(CallError::Network(
            "the SDP proxy connection ended".into(),
        ))),
        Some(Err(tokio_tungstenite::tungstenite::Error::Capacity(e))) => {
            Incoming::Notice(ProxyNotice::Closed(CallError::BadAnswer(format!(
                "the SDP proxy sent a message over the {MAX_PROXY_MESSAGE_BYTES}-byte limit ({e})"
            ))))
        }
        Some(Err(e)) => Incoming::Notice(ProxyNotice::Closed(CallError::Network(format!(
            "the SDP proxy connection broke: {e}"
        )))),
        Some(Ok(Message::Close(frame))) => {
            let (code, reason) = frame
                .map(|CloseFrame { code, reason }| (u16::from(code), reason.to_string()))
                .unwrap_or((1005, String::new()));
            Incoming::Notice(ProxyNotice::Closed(close_code_error(code, &reason)))
        }
        Some(Ok(Message::Text(text))) => parse_proxy_message(&text),
        Some(Ok(_)) => Incoming::Nothing,
    }
}

fn parse_proxy_message(text: &str) -> Incoming {
    use viva_contract::proxy::{MessageError, ServerMessage};
    match viva_contract::proxy::parse_server_message(text) {
        Ok(ServerMessage::Ready) => Incoming::Reply(Reply::Ready),
        Ok(ServerMessage::Answer { sdp }) => Incoming::Reply(Reply::Answer(sdp)),
        Ok(ServerMessage::Bye) => Incoming::Notice(ProxyNotice::Bye),
        Ok(ServerMessage::TextOk { id }) => Incoming::Notice(ProxyNotice::TextOk(id)),
        Ok(ServerMessage::Error {
            code,
            message,
            id: Some(id),
        }) => Incoming::Notice(ProxyNotice::TextFailed {
            id,
            message: format!("{message} ({code})"),
        }),
        Ok(ServerMessage::Error {
            code,
            message,
            id: None,
        }) => Incoming::Notice(ProxyNotice::Error(format!("{message} ({code})"))),
        Err(MessageError::Unknown(kind)) => {
            tracing::debug!(event = "sdp_proxy_unknown_message", kind = %kind);
            Incoming::Nothing
        }
        Err(MessageError::Malformed(_)) => {
            tracing::warn!(event = "sdp_proxy_bad_message", bytes = text.len());
            Incoming::Nothing
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const ANSWER: &str =
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n";

    /// A proxy that says `ready`, then answers the offer with `answer`.
    async fn proxy_answering(answer: String) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut socket = tokio_tungstenite::accept_async(stream).await.unwrap();
            let _auth = socket.next().await;
            socket
                .send(Message::text(json!({"type": "ready"}).to_string()))
                .await
                .unwrap();
            let _offer = socket.next().await;
            let _ = socket.send(Message::text(answer)).await;
            let _ = socket.next().await;
        });
        format!("ws://{address}/ws")
    }

    #[tokio::test]
    async fn an_oversized_proxy_message_is_a_typed_error_not_memory() {
        let huge = json!({"type": "answer", "sdp": format!("{ANSWER}a={}\r\n", "x".repeat(4 * 1024 * 1024))})
            .to_string();
        let url = proxy_answering(huge).await;
        let mut link = ProxyLink::open(&url, "token", "s1").await.unwrap();
        let error = link.offer("v=0", &[]).await.unwrap_err();
        assert!(
            matches!(&error, CallError::BadAnswer(message) if message.contains("limit")),
            "{error:?}"
        );
        // A legitimate answer still passes.
        let url = proxy_answering(json!({"type": "answer", "sdp": ANSWER}).to_string()).await;
        let mut link = ProxyLink::open(&url, "token", "s1").await.unwrap();
        assert_eq!(link.offer("v=0", &[]).await.unwrap(), ANSWER);
    }

    #[tokio::test]
    async fn a_link_counts_its_quiet_time_only_once_the_proxy_has_pinged() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/ws", listener.local_addr().unwrap());
        let (ping, mut pinged) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut socket = tokio_tungstenite::accept_async(stream).await.unwrap();
            let _auth = socket.next().await;
            let ready = json!({"type": "ready"}).to_string();
            socket.send(Message::text(ready)).await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
            socket
                .send(Message::Ping(Default::default()))
                .await
                .unwrap();
            let _ = ping.send(());
            while socket.next().await.is_some() {}
        });
        let mut link = ProxyLink::open(&url, "token", "s1").await.unwrap();
        assert_eq!(link.quiet_for(), None, "a proxy that never pinged");
        let notice = tokio::time::timeout(Duration::from_millis(300), link.notice()).await;
        assert!(notice.is_err(), "a ping is no notice");
        assert!(pinged.try_recv().is_ok());
        let quiet = link.quiet_for().unwrap();
        assert!(quiet < Duration::from_millis(300), "{quiet:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(link.quiet_for().unwrap() > quiet);
    }

    #[test]
    fn a_redirected_offer_is_refused_not_followed() {
        let error = answer_from_http(307, "").unwrap_err();
        assert!(
            matches!(&error, CallError::Refused(m) if m.contains("redirect")),
            "{error:?}"
        );
    }

    #[test]
    fn any_2xx_with_sdp_is_an_answer() {
        assert_eq!(answer_from_http(201, ANSWER).unwrap(), ANSWER);
        assert_eq!(answer_from_http(200, ANSWER).unwrap(), ANSWER);
    }

    #[test]
    fn a_2xx_that_is_not_sdp_is_a_bad_answer_that_says_what_it_was() {
        let html = answer_from_http(200, "<html><body>Bad gateway</body></html>").unwrap_err();
        assert_eq!(html.code(), "bad_answer");
        assert!(html.to_string().contains("HTML"), "{html}");
        let json = answer_from_http(201, r#"{"ok":true}"#).unwrap_err();
        assert!(json.to_string().contains("JSON"), "{json}");
        let no_audio = answer_from_http(201, "v=0\r\nm=application 9 x\r\n").unwrap_err();
        assert!(no_audio.to_string().contains("audio"), "{no_audio}");
        let huge = format!("v=0\r\nm=audio\r\n{}", "a=x\r\n".repeat(20_000));
        assert!(
            answer_from_http(201, &huge)
                .unwrap_err()
                .to_string()
                .contains("bytes")
        );
    }

    #[test]
    fn refusals_map_to_what_the_user_can_do() {
        let body = r#"{"error":{"message":"Invalid client secret","type":"invalid_request_error","code":"invalid_api_key"}}"#;
        let rejected = answer_from_http(401, body).unwrap_err();
        assert_eq!(
            rejected,
            CallError::SecretRejected("Invalid client secret".into())
        );
        assert_eq!(
            answer_from_http(429, "").unwrap_err(),
            CallError::RateLimited
        );
        assert_eq!(
            answer_from_http(409, "{}").unwrap_err(),
            CallError::AlreadyConnected
        );
        let gateway = answer_from_http(502, "<html>nginx</html>").unwrap_err();
        assert!(gateway.is_retryable());
        assert!(gateway.to_string().contains("HTML page") && gateway.to_string().contains("502"));
        let supabase = answer_from_http(403, r#"{"code":"forbidden","message":"not yours"}"#);
        assert_eq!(
            supabase.unwrap_err(),
            CallError::Refused("not yours".into())
        );
        assert!(!answer_from_http(403, "").unwrap_err().is_retryable());
    }

    #[test]
    fn proxy_close_codes_are_typed() {
        assert_eq!(close_code_error(1008, "expired").code(), "sign_in_again");
        assert_eq!(close_code_error(4009, ""), CallError::AlreadyConnected);
        assert_eq!(close_code_error(4029, ""), CallError::RateLimited);
        assert!(close_code_error(1011, "upstream").is_retryable());
        assert!(!close_code_error(1008, "").is_retryable());
    }

    #[test]
    fn a_4009_for_a_replaced_connection_is_final_and_a_plain_one_is_another_holder() {
        let replaced = close_code_error(CLOSE_ALREADY_LIVE, REASON_REPLACED);
        assert_eq!(replaced, CallError::Replaced);
        assert!(!replaced.is_retryable());
        // Only that exact reason: anything else is a plain 4009 (another holder).
        for reason in ["", "already live", "Replaced", "replaced by"] {
            assert_eq!(
                close_code_error(CLOSE_ALREADY_LIVE, reason),
                CallError::AlreadyConnected,
                "{reason:?}"
            );
        }
        // The reason only matters on a 4009.
        assert_eq!(
            close_code_error(1000, REASON_REPLACED).code(),
            "network",
            "a normal close is not a replacement"
        );
    }

    #[test]
    fn a_drain_or_an_upstream_failure_is_worth_another_try() {
        for (code, kind) in [
            (CLOSE_GOING_AWAY, "network"),
            (1000, "network"),
            (1006, "network"),
            (CLOSE_UPSTREAM_FAILED, "unavailable"),
            (CLOSE_RATE_LIMITED, "rate_limited"),
        ] {
            let error = close_code_error(code, "");
            assert_eq!(error.code(), kind, "{code}");
            assert!(error.is_retryable(), "{code}");
        }
    }

    #[test]
    fn proxy_messages_parse_and_junk_is_ignored() {
        assert!(matches!(
            parse_proxy_message(r#"{"type":"answer","sdp":"v=0"}"#),
            Incoming::Reply(Reply::Answer(sdp)) if sdp == "v=0"
        ));
        assert!(matches!(
            parse_proxy_message(r#"{"type":"error","code":"invalid_sdp","message":"no audio"}"#),
            Incoming::Notice(ProxyNotice::Error(m)) if m.contains("no audio")
        ));
        assert!(matches!(
            parse_proxy_message(r#"{"type":"text_ok","id":"a-1"}"#),
            Incoming::Notice(ProxyNotice::TextOk(id)) if id == "a-1"
        ));
        assert!(matches!(
            parse_proxy_message(r#"{"type":"error","code":"typed_answer_failed","message":"the call has ended","id":"a-2"}"#),
            Incoming::Notice(ProxyNotice::TextFailed { id, message }) if id == "a-2" && message.contains("the call has ended")
        ));
        assert!(matches!(parse_proxy_message("not json"), Incoming::Nothing));
        assert!(matches!(
            parse_proxy_message(r#"{"type":"mystery"}"#),
            Incoming::Nothing
        ));
    }
}
