//! The SDP proxy link over a call's life: signing in while another connection's hold on the
//! interview runs out (a plain 4009, waited out for at most `already_live_retry_for`), and
//! opening the link again in the background when it closes while the media still flows, so
//! typed answers (GPT-Live) and the proxy's `bye` keep their way.
//!
//! A link opened again carries no offer: the proxy is expected (W2-5) to take the new
//! connection of the same sign-in as the interview's connection at once, closing the old one
//! with 4009 `replaced`, and to pass its `text` to the session the earlier offer made.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::config::CallConfig;
use super::connect::renew;
use super::reconnect::{AlreadyLive, ReopenFailed, Retry, reopen_failed};
use crate::CallError;
use crate::backoff::{Backoff, ReconnectPolicy};
use crate::grant::{Grant, GrantSource};
use crate::signaling::ProxyLink;

/// Signs in to the SDP proxy at `url`. A plain 4009 (another connection holds the interview)
/// is tried again with `policy`'s pauses until `window` after the first one, then fails with
/// [`CallError::AlreadyConnected`]; any other error fails at once, as it is.
pub(crate) async fn open_link(
    url: &str,
    access_token: &str,
    session_id: &str,
    policy: ReconnectPolicy,
    window: Duration,
) -> Result<ProxyLink, CallError> {
    let mut held = AlreadyLive::new(policy, window);
    loop {
        let error = match ProxyLink::open(url, access_token, session_id).await {
            Ok(link) => return Ok(link),
            Err(error) => error,
        };
        match held.refused(error, Instant::now(), fastrand::f64()) {
            Retry::After(delay) => {
                tracing::info!(
                    event = "sdp_proxy_already_live",
                    retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    "another connection holds this interview; waiting for it to be released"
                );
                tokio::time::sleep(delay).await;
            }
            Retry::GiveUp(error) => return Err(error),
        }
    }
}

/// A link opened again, and the grant renewed on the way, if its sign-in had to be.
pub(crate) struct Reopened {
    pub link: ProxyLink,
    pub grant: Option<Grant>,
}

/// A link being opened again in the background; dropping it stops the attempt.
pub(crate) type Reopening = Pin<Box<dyn Future<Output = Result<Reopened, CallError>> + Send>>;

/// Opens the link for `grant`'s session again: auth only, no offer. Pauses like a reconnect's
/// before each try, for as long as it is polled (the connection's life: it has no deadline of
/// its own); a refused sign-in is renewed once. An error it returns is final for the call.
pub(crate) fn reopen(
    grant: &Grant,
    grants: Option<Arc<dyn GrantSource>>,
    config: &CallConfig,
) -> Reopening {
    let url = grant.realtime.url.clone();
    let session_id = grant.session_id.clone();
    let mut token = grant.access_token.clone().unwrap_or_default();
    let (policy, window) = (config.reconnect, config.already_live_retry_for);
    Box::pin(async move {
        let mut backoff = Backoff::new(ReconnectPolicy {
            give_up_after: Duration::MAX,
            ..policy
        });
        let mut renewed: Option<Grant> = None;
        loop {
            // Jittered even the first time: a drain closes many links at once.
            let delay = backoff
                .next_delay(Duration::ZERO, fastrand::f64())
                .unwrap_or(policy.cap);
            tokio::time::sleep(delay).await;
            let error = match open_link(&url, &token, &session_id, policy, window).await {
                Ok(link) => {
                    return Ok(Reopened {
                        link,
                        grant: renewed,
                    });
                }
                Err(error) => error,
            };
            match reopen_failed(error, renewed.is_some()) {
                ReopenFailed::Renew(why) => match renew(grants.as_ref(), &session_id, &why).await {
                    Ok(grant) => {
                        token = grant.access_token.clone().unwrap_or_default();
                        renewed = Some(grant);
                    }
                    Err(error) if error.is_retryable() => {
                        tracing::info!(event = "sdp_proxy_reopen_failed", %error);
                    }
                    Err(error) => return Err(error),
                },
                ReopenFailed::Retry(reason) => {
                    tracing::info!(event = "sdp_proxy_reopen_failed", %reason);
                }
                ReopenFailed::Fail(error) => return Err(error),
            }
        }
    })
}

/// The outcome of `reopening`, when there is one (cancel-safe: use it in `select!`, and set
/// it to `None` once it gave its outcome).
pub(crate) async fn reopened(reopening: &mut Option<Reopening>) -> Result<Reopened, CallError> {
    match reopening {
        Some(reopening) => reopening.await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures_util::{SinkExt, StreamExt};
    use serde_json::{Value, json};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;

    use super::*;
    use crate::grant::{
        AnswerMode, ClientSecret, GrantError, RealtimeGrant, SignalingMode, VoiceApi,
    };

    const ANSWER: &str =
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n";

    /// What a fake proxy saw: every sign-in's access token, and every later message's type.
    #[derive(Default)]
    struct Seen {
        sign_ins: Mutex<Vec<String>>,
        messages: Mutex<Vec<String>>,
        count: AtomicUsize,
    }

    /// A proxy whose `n`th sign-in is refused with `closes[n]` (code, reason) and whose later
    /// ones (and any with the token `"fresh"`) get `ready`, then an answer to each offer.
    async fn proxy(closes: Vec<(u16, &'static str)>) -> (String, Arc<Seen>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/ws", listener.local_addr().unwrap());
        let seen = Arc::new(Seen::default());
        let seen_by_server = seen.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let mut socket = tokio_tungstenite::accept_async(stream).await.unwrap();
                let Some(Ok(Message::Text(auth))) = socket.next().await else {
                    continue;
                };
                let auth: Value = serde_json::from_str(&auth).unwrap();
                let token = auth["access_token"].as_str().unwrap().to_owned();
                let n = seen_by_server.count.fetch_add(1, Ordering::SeqCst);
                seen_by_server.sign_ins.lock().unwrap().push(token.clone());
                if let Some(&(code, reason)) = closes.get(n).filter(|_| token != "fresh") {
                    let frame = CloseFrame {
                        code: code.into(),
                        reason: reason.into(),
                    };
                    let _ = socket.close(Some(frame)).await;
                    continue;
                }
                let seen = seen_by_server.clone();
                tokio::spawn(async move {
                    let ready = json!({"type": "ready"}).to_string();
                    socket.send(Message::text(ready)).await.unwrap();
                    while let Some(Ok(message)) = socket.next().await {
                        let Message::Text(text) = message else {
                            continue;
                        };
                        let message: Value = serde_json::from_str(&text).unwrap();
                        let kind = message["type"].as_str().unwrap().to_owned();
                        seen.messages.lock().unwrap().push(kind.clone());
                        if kind == "offer" {
                            let answer = json!({"type": "answer", "sdp": ANSWER}).to_string();
                            let _ = socket.send(Message::text(answer)).await;
                        }
                    }
                });
            }
        });
        (url, seen)
    }

    /// Short pauses, so a test waits milliseconds where a call waits seconds.
    fn quick() -> ReconnectPolicy {
        ReconnectPolicy {
            initial: Duration::from_millis(20),
            cap: Duration::from_millis(100),
            give_up_after: Duration::from_secs(120),
        }
    }

    #[tokio::test]
    async fn a_plain_4009_is_waited_out_and_the_third_sign_in_gets_its_answer() {
        let (url, seen) = proxy(vec![(4009, ""), (4009, "")]).await;
        let mut link = open_link(&url, "token", "s1", quick(), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(link.offer("v=0", &[]).await.unwrap(), ANSWER);
        assert_eq!(seen.count.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_replaced_connection_and_a_refused_sign_in_are_not_signed_in_again() {
        for (close, expected) in [
            ((4009, "replaced"), CallError::Replaced),
            ((1008, "expired"), CallError::SignInAgain("expired".into())),
        ] {
            let (url, seen) = proxy(vec![close]).await;
            let error = open_link(&url, "token", "s1", quick(), Duration::from_secs(5))
                .await
                .unwrap_err();
            assert_eq!(error, expected);
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert_eq!(seen.count.load(Ordering::SeqCst), 1, "{close:?}");
        }
    }

    #[tokio::test]
    async fn a_hold_that_outlasts_the_window_gives_up_as_already_connected() {
        let (url, seen) = proxy(vec![(4009, ""); 1_000]).await;
        let window = Duration::from_millis(400);
        let started = Instant::now();
        let error = open_link(&url, "token", "s1", quick(), window)
            .await
            .unwrap_err();
        assert_eq!(error, CallError::AlreadyConnected);
        assert!(started.elapsed() >= window, "{:?}", started.elapsed());
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(seen.count.load(Ordering::SeqCst) >= 4, "it kept trying");
    }

    #[derive(Debug)]
    struct FreshGrants;

    #[async_trait::async_trait]
    impl GrantSource for FreshGrants {
        async fn renew(&self, session_id: &str) -> Result<Grant, GrantError> {
            let mut grant = grant("ws://unused".into());
            grant.session_id = session_id.into();
            grant.access_token = Some("fresh".into());
            Ok(grant)
        }
    }

    fn grant(url: String) -> Grant {
        Grant {
            session_id: "s1".into(),
            mode: AnswerMode::Text,
            max_duration_s: None,
            realtime: RealtimeGrant {
                api: VoiceApi::Live,
                signaling: SignalingMode::Websocket,
                url,
                client_secret: ClientSecret {
                    value: "ek_test".into(),
                    expires_at: i64::MAX,
                },
                model: "gpt-live".into(),
                session: json!({}),
                ice_servers: vec![],
            },
            access_token: Some("stale".into()),
        }
    }

    fn quick_config() -> CallConfig {
        CallConfig {
            reconnect: quick(),
            already_live_retry_for: Duration::from_secs(2),
            ..CallConfig::default()
        }
    }

    #[tokio::test]
    async fn a_link_is_opened_again_through_trouble_with_a_sign_in_only() {
        let (url, seen) = proxy(vec![(1011, "upstream"), (1001, ""), (4009, "")]).await;
        let Reopened { mut link, grant } =
            reopen(&grant(url), None, &quick_config()).await.unwrap();
        assert!(grant.is_none(), "nothing was renewed");
        assert_eq!(seen.count.load(Ordering::SeqCst), 4);
        link.text("t-1", "my answer").await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            *seen.messages.lock().unwrap(),
            ["text"],
            "no offer after the sign-in"
        );
    }

    #[tokio::test]
    async fn a_refused_sign_in_is_renewed_once_when_the_link_is_opened_again() {
        let (url, seen) = proxy(vec![(1008, "expired"); 10]).await;
        let grants: Arc<dyn GrantSource> = Arc::new(FreshGrants);
        let reopened = reopen(&grant(url.clone()), Some(grants), &quick_config())
            .await
            .unwrap();
        assert_eq!(
            reopened.grant.and_then(|g| g.access_token).as_deref(),
            Some("fresh")
        );
        assert_eq!(*seen.sign_ins.lock().unwrap(), ["stale", "fresh"]);
        // Without a way to renew, the refusal is final.
        let error = reopen(&grant(url), None, &quick_config())
            .await
            .err()
            .unwrap();
        assert_eq!(error.code(), "sign_in_again");
    }

    #[tokio::test]
    async fn being_replaced_while_opening_the_link_again_is_final() {
        let (url, seen) = proxy(vec![(1001, ""), (4009, "replaced")]).await;
        let error = reopen(&grant(url), None, &quick_config())
            .await
            .err()
            .unwrap();
        assert_eq!(error, CallError::Replaced);
        assert_eq!(seen.count.load(Ordering::SeqCst), 2);
    }
}
