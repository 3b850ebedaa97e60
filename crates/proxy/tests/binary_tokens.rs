//! The standalone proxy against a real JWKS (the local stack publishes one): a token it cannot
//! trust is closed 1008 within the first-message deadline, and a rotated signing key is
//! followed after one refetch.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use viva_localstack::{Config, LocalStack};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Proxy(Child);

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start_proxy(port: u16, stack: &LocalStack) -> Proxy {
    let child = Command::new(env!("CARGO_BIN_EXE_viva-proxy"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--metrics-listen", "off"])
        .args(["--backend-url", &stack.base_url])
        .args(["--anon-key", &stack.anon_key])
        .args(["--upstream-url", &stack.base_url])
        .args(["--jwks-refetch-cooldown-s", "1"])
        .env("VIVA_PROXY_PROVIDER_KEY", "sk-test")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while reqwest::get(format!("http://127.0.0.1:{port}/health"))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "viva-proxy did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Proxy(child)
}

async fn start_stack(listen: SocketAddr, dir: &std::path::Path) -> LocalStack {
    LocalStack::start(Config {
        listen,
        data_dir: Some(dir.to_owned()),
        ..Config::default()
    })
    .await
    .unwrap()
}

async fn sign_in(stack: &LocalStack, email: &str) -> String {
    let body: Value = reqwest::Client::new()
        .post(format!(
            "{}/auth/v1/token?grant_type=password",
            stack.base_url
        ))
        .header("apikey", &stack.anon_key)
        .json(&json!({"email": email, "password": "password-1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

async fn practice(stack: &LocalStack, token: &str) -> String {
    let body: Value = reqwest::Client::new()
        .post(format!("{}/functions/v1/interview-start", stack.base_url))
        .header("apikey", &stack.anon_key)
        .bearer_auth(token)
        .json(&json!({"mode": "practice", "api": "live"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["session"]["id"].as_str().unwrap().to_owned()
}

/// Authenticates with `token`: `Ok(())` on ready, else the close code, and how long it took.
async fn join(port: u16, token: &str, session: &str) -> (Result<(), u16>, Duration) {
    let started = Instant::now();
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws"))
        .await
        .unwrap();
    let auth = json!({"type": "auth", "access_token": token, "session_id": session});
    socket
        .send(Message::Text(auth.to_string().into()))
        .await
        .unwrap();
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(value["type"], "ready", "{value}");
                let _ = socket
                    .send(Message::Text(json!({"type": "bye"}).to_string().into()))
                    .await;
                return (Ok(()), started.elapsed());
            }
            Some(Ok(Message::Close(frame))) => {
                return (
                    Err(frame.map_or(1005, |f| f.code.into())),
                    started.elapsed(),
                );
            }
            Some(Ok(_)) => {}
            other => panic!("the socket ended without a close frame: {other:?}"),
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The claims of a token, as issued.
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// A token signed by a key the project never published, under a made-up key id.
fn signed_by_a_stranger(claims: &Value) -> String {
    use p256::pkcs8::EncodePrivateKey;
    let key = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
    let der = key.to_pkcs8_der().unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("not-a-key-of-this-project".into());
    jsonwebtoken::encode(
        &header,
        claims,
        &jsonwebtoken::EncodingKey::from_ec_der(der.as_bytes()),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_tokens_close_1008_in_time_and_a_rotated_key_is_followed() {
    let dir = tempfile::tempdir().unwrap();
    let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let stack = start_stack(listen, dir.path()).await;
    let tenant = stack.add_tenant("Acme").await.unwrap();
    stack
        .add_user("cand@acme.test", "password-1", &tenant, "candidate")
        .await
        .unwrap();
    let token = sign_in(&stack, "cand@acme.test").await;
    let session = practice(&stack, &token).await;
    let port = free_port();
    let _proxy = start_proxy(port, &stack).await;
    assert_eq!(join(port, &token, &session).await.0, Ok(()));

    let now = chrono::Utc::now().timestamp();
    let good = claims_of(&token);
    let mut wrong_audience = good.clone();
    wrong_audience["aud"] = json!("service");
    let mut expired = good.clone();
    expired["exp"] = json!(now - 5);
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(good.to_string().as_bytes())
    );
    for (what, bad) in [
        ("an unknown key", signed_by_a_stranger(&good)),
        (
            "a wrong audience",
            stack.state.keys.sign(&wrong_audience).unwrap(),
        ),
        ("an expired token", stack.state.keys.sign(&expired).unwrap()),
        ("alg none", none),
    ] {
        let (result, took) = join(port, &bad, &session).await;
        assert_eq!(result, Err(1008), "{what}");
        assert!(
            took < viva_proxy::socket::AUTH_TIMEOUT,
            "{what} took {took:?}"
        );
    }

    // The operator rotates the project's signing key: new sign-ins carry the new key id.
    let new_kid = stack.rotate_signing_key().unwrap();
    stack.shutdown().await;
    let stack = start_stack(listen, dir.path()).await;
    let rotated = sign_in(&stack, "cand@acme.test").await;
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(rotated.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["kid"], new_kid.as_str());
    // Past the refetch cool-down, the unknown key id sends the proxy to the JWKS again.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(join(port, &rotated, &session).await.0, Ok(()));
    // The old key is no longer published: its tokens are refused now.
    assert_eq!(join(port, &token, &session).await.0, Err(1008));
    stack.shutdown().await;
}
