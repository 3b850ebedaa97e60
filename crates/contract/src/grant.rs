//! What `interview-start` hands the client to connect one session (its `realtime` object, and
//! the session), parsed and checked against the transport rules before anything is sent with
//! it. The call itself (viva-rtc) uses it; nothing here does I/O.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// How the offer reaches the voice AI (docs/protocols.md §2 and §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalingMode {
    /// `POST <url>` with the offer and the client secret; the body of the reply is the answer.
    Http,
    /// The SDP proxy: a WebSocket that authenticates with the user's access token.
    Websocket,
}

/// Which voice API an interview speaks (`realtime.api` in the grant). The backend chooses it:
/// a tenant's default, overridden per interview; practice chooses for itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoiceApi {
    /// OpenAI's Realtime API (listed as legacy by OpenAI, still served). A grant without
    /// `realtime.api` means this, as every backend before GPT-Live did.
    #[default]
    Realtime,
    /// GPT-Live, OpenAI's current voice API. Its sessions are created only by a server holding
    /// the project key, so a Live grant always signals through the SDP proxy.
    Live,
}

impl VoiceApi {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Realtime => "realtime",
            Self::Live => "live",
        }
    }
}

impl std::str::FromStr for VoiceApi {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "realtime" => Ok(Self::Realtime),
            "live" => Ok(Self::Live),
            other => Err(format!(
                "unknown voice API `{other}` (expected live or realtime)"
            )),
        }
    }
}

/// How the candidate answers (`mode` in the grant): the backend's choice for this user — a
/// per-tenant switch and a stable percentage rollout of voice, so that a bad release of the
/// voice path is rolled back on the server, without a client update.
///
/// A grant without `mode` means [`AnswerMode::Voice`], as every backend before the switch
/// meant; so does a value this client does not know (a newer backend's mode): the interview
/// goes ahead as the call was designed. The off switch is `"text"`, which every version of the
/// contract has, and it is honoured whatever its case or surrounding spaces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerMode {
    /// Spoken answers, through the microphone.
    #[default]
    Voice,
    /// Typed answers only: the call still connects and the interviewer still speaks, but the
    /// client never opens the microphone.
    Text,
}

impl AnswerMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Voice => "voice",
            Self::Text => "text",
        }
    }

    /// The modes this client knows, exactly (ASCII case and surrounding spaces aside);
    /// `None` for anything else. [`AnswerMode::from`] is what a grant means by it.
    #[must_use]
    pub fn known(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("voice") {
            Some(Self::Voice)
        } else if text.eq_ignore_ascii_case("text") {
            Some(Self::Text)
        } else {
            None
        }
    }

    /// What the grant's `mode` field means: absent, not a string or unknown is voice.
    #[must_use]
    pub fn of_grant_field(value: Option<&Value>) -> Self {
        value
            .and_then(Value::as_str)
            .map(Self::from)
            .unwrap_or_default()
    }
}

/// What a grant's `mode` string means (see [`AnswerMode`]: unknown is voice).
impl From<&str> for AnswerMode {
    fn from(text: &str) -> Self {
        Self::known(text).unwrap_or_default()
    }
}

impl std::fmt::Display for AnswerMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A short-lived key for the voice AI (`ek_...`). Its value never appears in `Debug` output.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientSecret {
    pub value: String,
    /// Unix seconds.
    pub expires_at: i64,
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSecret")
            .field("value", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl ClientSecret {
    /// Whether the secret will have expired `margin_s` seconds from `now_s`.
    #[must_use]
    pub fn expires_within(&self, now_s: i64, margin_s: i64) -> bool {
        self.expires_at <= now_s.saturating_add(margin_s)
    }
}

/// A STUN or TURN server. `urls` may be one string or a list, as in the WebRTC API. The TURN
/// credential never appears in `Debug` output.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    #[serde(deserialize_with = "one_or_many")]
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

impl std::fmt::Debug for IceServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IceServer")
            .field("urls", &self.urls)
            .field("username", &self.username.as_ref().map(|_| "<redacted>"))
            .field(
                "credential",
                &self.credential.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(url) => vec![url],
        OneOrMany::Many(urls) => urls,
    })
}

/// `interview-start`'s `realtime` object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RealtimeGrant {
    /// Which voice API the call speaks.
    #[serde(default)]
    pub api: VoiceApi,
    pub signaling: SignalingMode,
    pub url: String,
    pub client_secret: ClientSecret,
    #[serde(default)]
    pub model: String,
    /// The GA session config, sent as `session.update` when the event channel opens.
    #[serde(default)]
    pub session: Value,
    /// Not in every backend's reply; none are needed on loopback.
    #[serde(default)]
    pub ice_servers: Vec<IceServer>,
}

/// Everything one connection needs: the session, how to reach the AI, and (for the SDP proxy)
/// the user's access token. Held in memory only.
#[derive(Clone, PartialEq)]
pub struct Grant {
    pub session_id: String,
    /// Spoken or typed answers: the backend's choice for this user ([`AnswerMode`]).
    pub mode: AnswerMode,
    pub max_duration_s: Option<u64>,
    pub realtime: RealtimeGrant,
    /// The SDP proxy authenticates with the user's access token, not the client secret.
    pub access_token: Option<String>,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("session_id", &self.session_id)
            .field("mode", &self.mode)
            .field("realtime", &self.realtime)
            .field(
                "access_token",
                &self.access_token.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

/// Why an `interview-start` reply could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the interview-start reply is not usable: {0}")]
pub struct GrantParseError(pub String);

impl Grant {
    /// Reads `interview-start`'s 200 body.
    pub fn from_interview_start(
        body: &Value,
        access_token: Option<String>,
    ) -> Result<Self, GrantParseError> {
        let session = body
            .get("session")
            .ok_or_else(|| GrantParseError("it has no `session`".into()))?;
        let session_id = session
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| GrantParseError("`session.id` is missing".into()))?
            .to_owned();
        let realtime: RealtimeGrant = serde_json::from_value(
            body.get("realtime")
                .cloned()
                .ok_or_else(|| GrantParseError("it has no `realtime`".into()))?,
        )
        .map_err(|e| GrantParseError(format!("`realtime`: {e}")))?;
        check_transport(&realtime)?;
        Ok(Self {
            session_id,
            mode: AnswerMode::of_grant_field(body.get("mode")),
            max_duration_s: session.get("max_duration_s").and_then(Value::as_u64),
            realtime,
            access_token,
        })
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The transport rules a grant must meet before anything is sent with it: the realtime address
/// is encrypted (`https` for SDP over HTTP, `wss` for the SDP proxy, which receives the user's
/// access token) unless it is this computer, and ICE servers use only `stun:`, `turn:` or
/// `turns:` URLs. A grant that breaks them is refused, never used.
fn check_transport(realtime: &RealtimeGrant) -> Result<(), GrantParseError> {
    if realtime.api == VoiceApi::Live && realtime.signaling != SignalingMode::Websocket {
        // A desktop app must never hold the project key Live sessions are created with.
        return Err(GrantParseError(
            "a GPT-Live interview must use the SDP proxy (`realtime.signaling` = `websocket`): Live sessions are created only by a server".into(),
        ));
    }
    let url = url::Url::parse(realtime.url.trim())
        .map_err(|e| GrantParseError(format!("`realtime.url` is not a URL ({e})")))?;
    let (secure, plain) = match realtime.signaling {
        SignalingMode::Http => ("https", "http"),
        SignalingMode::Websocket => ("wss", "ws"),
    };
    let scheme = url.scheme();
    let allowed = scheme == secure || (scheme == plain && is_loopback(&url));
    if !allowed {
        return Err(GrantParseError(format!(
            "`realtime.url` must use {secure} (plain {plain} only for this computer); it uses {scheme}:, which would send your sign-in in clear"
        )));
    }
    for server in &realtime.ice_servers {
        for ice in &server.urls {
            let scheme = ice.split(':').next().unwrap_or_default();
            if !matches!(scheme, "stun" | "turn" | "turns") {
                let shown: String = ice.chars().take(80).collect();
                return Err(GrantParseError(format!(
                    "ICE server `{shown}` is not a stun:, turn: or turns: address"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn an_interview_start_reply_becomes_a_grant_and_hides_its_secrets() {
        let body = json!({
            "session": {"id": "s1", "tenant_id": "t", "status": "active", "max_duration_s": 3600},
            "mode": "voice",
            "realtime": {"signaling": "http", "url": "http://127.0.0.1:1/v1/realtime/calls",
                "client_secret": {"value": "ek_secret", "expires_at": 100},
                "model": "gpt-realtime", "session": {"type": "realtime"},
                "ice_servers": [{"urls": "stun:stun.example.org"}]}
        });
        let grant = Grant::from_interview_start(&body, Some("jwt-token".into())).unwrap();
        assert_eq!(grant.session_id, "s1");
        assert_eq!(grant.max_duration_s, Some(3600));
        assert_eq!(grant.realtime.signaling, SignalingMode::Http);
        assert_eq!(
            grant.realtime.ice_servers[0].urls,
            ["stun:stun.example.org"]
        );
        let shown = format!("{grant:?}");
        assert!(
            !shown.contains("ek_secret") && !shown.contains("jwt-token"),
            "{shown}"
        );
        let turn = IceServer {
            urls: vec!["turns:turn.example.org:443".into()],
            username: Some("user-1700000000".into()),
            credential: Some("turn-password".into()),
        };
        let shown = format!("{turn:?}");
        assert!(
            !shown.contains("turn-password") && !shown.contains("user-1700000000"),
            "{shown}"
        );
        assert!(shown.contains("turns:turn.example.org"), "{shown}");
        assert!(grant.realtime.client_secret.expires_within(95, 5));
        assert!(!grant.realtime.client_secret.expires_within(90, 5));
    }

    #[test]
    fn the_grant_names_its_voice_api_and_a_live_grant_must_go_through_the_proxy() {
        let grant = |api: Option<&str>, signaling: &str, url: &str| {
            let mut realtime = json!({"signaling": signaling, "url": url,
                "client_secret": {"value": "ek", "expires_at": 1}});
            if let Some(api) = api {
                realtime["api"] = json!(api);
            }
            json!({"session": {"id": "s"}, "realtime": realtime})
        };
        let http = ("http", "https://api.openai.com/v1/realtime/calls");
        let proxy = ("websocket", "wss://proxy.example.com/ws");
        let old = Grant::from_interview_start(&grant(None, http.0, http.1), None).unwrap();
        assert_eq!(
            old.realtime.api,
            VoiceApi::Realtime,
            "no api field: Realtime"
        );
        let live = Grant::from_interview_start(&grant(Some("live"), proxy.0, proxy.1), None);
        assert_eq!(live.unwrap().realtime.api, VoiceApi::Live);
        let error = Grant::from_interview_start(&grant(Some("live"), http.0, http.1), None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("SDP proxy"), "{error}");
        let error = Grant::from_interview_start(&grant(Some("gemini"), proxy.0, proxy.1), None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown variant `gemini`"), "{error}");
        assert_eq!("live".parse::<VoiceApi>(), Ok(VoiceApi::Live));
        assert!("LIVE".parse::<VoiceApi>().is_err());
    }

    #[test]
    fn the_grant_says_whether_answers_are_spoken_or_typed_and_only_text_turns_voice_off() {
        let grant = |mode: Option<Value>| {
            let mut body = json!({"session": {"id": "s"}, "realtime": {"signaling": "http",
                "url": "https://api.openai.com/v1/realtime/calls",
                "client_secret": {"value": "ek", "expires_at": 1}}});
            if let Some(mode) = mode {
                body["mode"] = mode;
            }
            Grant::from_interview_start(&body, None).unwrap().mode
        };
        // The backend's off switch, however it is written.
        for text in ["text", "TEXT", " Text "] {
            assert_eq!(grant(Some(json!(text))), AnswerMode::Text, "{text:?}");
        }
        assert_eq!(grant(Some(json!("voice"))), AnswerMode::Voice);
        // An older backend (no field) and a newer one's mode this client does not know: voice,
        // as the call was designed; so is a field of the wrong type.
        assert_eq!(grant(None), AnswerMode::Voice);
        for other in [
            json!("video"),
            json!(""),
            json!(null),
            json!(1),
            json!({"m": "text"}),
        ] {
            assert_eq!(grant(Some(other.clone())), AnswerMode::Voice, "{other}");
        }
        assert_eq!(AnswerMode::known("video"), None);
        assert_eq!(AnswerMode::from("text"), AnswerMode::Text);
        assert_eq!(
            serde_json::to_value(AnswerMode::Text).unwrap(),
            json!("text")
        );
        assert_eq!(AnswerMode::Voice.to_string(), "voice");
    }

    #[test]
    fn a_grant_that_would_send_secrets_in_clear_or_odd_ice_urls_is_refused() {
        let grant = |signaling: &str, url: &str, ice: &str| {
            json!({"session": {"id": "s"}, "realtime": {"signaling": signaling, "url": url,
                "client_secret": {"value": "ek", "expires_at": 1}, "ice_servers": [{"urls": [ice]}]}})
        };
        for (signaling, url) in [
            ("http", "https://api.openai.com/v1/realtime/calls"),
            ("http", "http://127.0.0.1:54321/v1/realtime/calls"),
            ("websocket", "wss://proxy.example.com/ws"),
            ("websocket", "ws://localhost:8080/ws"),
            ("websocket", "ws://[::1]:8080/ws"),
        ] {
            assert!(
                Grant::from_interview_start(&grant(signaling, url, "stun:stun.example.org"), None)
                    .is_ok(),
                "{url}"
            );
        }
        for (signaling, url, says) in [
            ("websocket", "ws://proxy.example.com/ws", "must use wss"),
            ("http", "http://api.example.com/calls", "must use https"),
            ("http", "wss://api.example.com/calls", "must use https"),
            ("websocket", "https://proxy.example.com/ws", "must use wss"),
            ("http", "not a url", "not a URL"),
        ] {
            let error = Grant::from_interview_start(&grant(signaling, url, "stun:s.example"), None)
                .unwrap_err()
                .to_string();
            assert!(error.contains(says), "{url}: {error}");
        }
        for ice in [
            "http://turn.example.org",
            "javascript:alert(1)",
            "turn.example.org",
        ] {
            let error =
                Grant::from_interview_start(&grant("http", "https://api.example.com", ice), None)
                    .unwrap_err()
                    .to_string();
            assert!(error.contains("stun:, turn: or turns:"), "{ice}: {error}");
        }
        assert!(
            Grant::from_interview_start(
                &grant(
                    "http",
                    "https://a.example",
                    "turns:t.example:443?transport=tcp"
                ),
                None
            )
            .is_ok()
        );
    }

    #[test]
    fn a_reply_without_what_a_call_needs_is_a_clear_error() {
        for (body, says) in [
            (json!({}), "no `session`"),
            (json!({"session": {"id": ""}, "realtime": {}}), "session.id"),
            (json!({"session": {"id": "s"}}), "no `realtime`"),
            (
                json!({"session": {"id": "s"}, "realtime": {"signaling": "carrier-pigeon"}}),
                "`realtime`",
            ),
        ] {
            let error = Grant::from_interview_start(&body, None).unwrap_err();
            assert!(error.to_string().contains(says), "{error} / {says}");
        }
    }
}
