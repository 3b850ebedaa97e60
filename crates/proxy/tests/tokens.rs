//! The JWKS verifier against a real key set server on loopback (a small axum server whose keys
//! and replies the tests change at run time, counting every fetch): ES256 and RS256 tokens,
//! key rotation, made-up key ids, every kind of bad token, the legacy HS256 secret, and key set
//! servers that are down, answer junk or redirect. Keys are generated per run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::pkcs8::{EncodePrivateKey, EncodePublicKey};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::LineEnding;
use rsa::rand_core::OsRng;
use serde_json::{Value, json};
use viva_proxy::auth::jwks::{DEFAULT_MAX_AGE, JwksError, JwksVerifier};
use viva_proxy::auth::{Role, TokenRefusal, TokenVerifier};

const USER: &str = "4f2b6c1e-8a3d-4e5f-9b7c-1d2e3f4a5b6c";
const TENANT: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
const LEGACY_SECRET: &str = "a-legacy-secret-that-is-long-enough-for-hs256";
const JWKS_PATH: &str = "/auth/v1/.well-known/jwks.json";
/// `{"alg":"none","typ":"JWT"}` in base64url.
const NONE_HEADER: &str = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";

// ---- keys ----

struct TestKey {
    kid: String,
    alg: Algorithm,
    encoding: EncodingKey,
    /// The public half as published in the JWKS.
    jwk: Value,
    /// Things an attacker knows about the public key, to try as an HMAC secret.
    public_forms: Vec<Vec<u8>>,
}

fn es256_key(kid: &str) -> TestKey {
    let secret = p256::SecretKey::random(&mut OsRng);
    let der = secret.to_pkcs8_der().unwrap();
    let encoding = EncodingKey::from_ec_der(der.as_bytes());
    let jwk = published(&encoding, Algorithm::ES256, kid);
    let public = secret.public_key();
    let public_forms = vec![
        public.to_public_key_der().unwrap().as_bytes().to_vec(),
        p256::EncodedPoint::from(public).as_bytes().to_vec(),
        jwk.to_string().into_bytes(),
    ];
    TestKey {
        kid: kid.into(),
        alg: Algorithm::ES256,
        encoding,
        jwk,
        public_forms,
    }
}

/// One 2048-bit RSA key per run: generating it takes a while in a debug build.
fn rs256_key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let private = rsa::RsaPrivateKey::new(&mut OsRng, 2048).unwrap();
        let der = private.to_pkcs1_der().unwrap();
        let encoding = EncodingKey::from_rsa_der(der.as_bytes());
        let jwk = published(&encoding, Algorithm::RS256, "rsa-1");
        let pem = rsa::pkcs8::EncodePublicKey::to_public_key_pem(
            &private.to_public_key(),
            LineEnding::LF,
        )
        .unwrap();
        TestKey {
            kid: "rsa-1".into(),
            alg: Algorithm::RS256,
            encoding,
            public_forms: vec![pem.into_bytes(), jwk.to_string().into_bytes()],
            jwk,
        }
    })
}

fn published(encoding: &EncodingKey, alg: Algorithm, kid: &str) -> Value {
    let mut jwk = Jwk::from_encoding_key(encoding, alg).unwrap();
    jwk.common.key_id = Some(kid.into());
    let jwk = serde_json::to_value(&jwk).unwrap();
    assert!(
        jwk.get("d").is_none(),
        "a private part was published: {jwk}"
    );
    jwk
}

fn key_set(keys: &[&TestKey]) -> Value {
    json!({ "keys": keys.iter().map(|key| key.jwk.clone()).collect::<Vec<_>>() })
}

// ---- tokens ----

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .try_into()
        .unwrap()
}

/// The claims the local stack issues (`viva_localstack::jwt::Claims`).
fn claims() -> Value {
    json!({
        "sub": USER,
        "aud": "authenticated",
        "role": "authenticated",
        "exp": now() + 600,
        "iat": now(),
        "email": "candidate@example.com",
        "session_id": "sign-in-1",
        "app_metadata": { "provider": "email", "tenant_id": TENANT, "viva_role": "candidate" },
    })
}

fn with(mut claims: Value, name: &str, value: Value) -> Value {
    if value.is_null() {
        claims.as_object_mut().unwrap().remove(name);
    } else {
        claims[name] = value;
    }
    claims
}

fn sign(key: &TestKey, claims: &Value) -> String {
    sign_as(key, key.alg, Some(&key.kid), claims)
}

fn sign_as(key: &TestKey, alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
}

fn sign_hs256(secret: &[u8], kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).unwrap()
}

// ---- the key set server ----

#[derive(Clone)]
enum Reply {
    Keys(Value),
    Html,
    /// 1 MiB with a `Content-Length`.
    Huge,
    /// 1 MiB streamed in chunks, with no length announced.
    HugeChunked,
    /// A redirect to `/moved`, which would serve a perfectly good key set.
    Redirect(Value),
    Status(StatusCode),
}

struct ServerState {
    reply: Mutex<Reply>,
    hits: AtomicU64,
    moved_hits: AtomicU64,
    /// How long each reply waits, so concurrent verifications overlap one fetch for sure.
    delay: Mutex<Duration>,
}

struct KeyServer {
    url: String,
    state: Arc<ServerState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for KeyServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl KeyServer {
    async fn start(reply: Reply) -> Self {
        let state = Arc::new(ServerState {
            reply: Mutex::new(reply),
            hits: AtomicU64::new(0),
            moved_hits: AtomicU64::new(0),
            delay: Mutex::new(Duration::ZERO),
        });
        let app = axum::Router::new()
            .route(JWKS_PATH, get(serve_jwks))
            .route("/moved", get(serve_moved))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            url: format!("http://{address}{JWKS_PATH}"),
            state,
            task,
        }
    }

    fn set(&self, reply: Reply) {
        *self.state.reply.lock().unwrap() = reply;
    }

    fn slow_down(&self, delay: Duration) {
        *self.state.delay.lock().unwrap() = delay;
    }

    fn hits(&self) -> u64 {
        self.state.hits.load(Ordering::SeqCst)
    }

    fn verifier(&self) -> JwksVerifier {
        JwksVerifier::new(&self.url, None).unwrap()
    }
}

async fn serve_jwks(State(state): State<Arc<ServerState>>) -> Response {
    state.hits.fetch_add(1, Ordering::SeqCst);
    let delay = *state.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    let reply = state.reply.lock().unwrap().clone();
    let huge = || vec![b' '; 1024 * 1024];
    match reply {
        Reply::Keys(set) => axum::Json(set).into_response(),
        Reply::Html => (
            [(header::CONTENT_TYPE, "text/html")],
            "<!doctype html><html><body>Sign in to continue</body></html>",
        )
            .into_response(),
        Reply::Huge => {
            let mut body = b"{\"keys\": [] ".to_vec();
            body.extend(huge());
            body.push(b'}');
            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Reply::HugeChunked => {
            let chunks = std::iter::once(b"{\"keys\": [] ".to_vec())
                .chain((0..64).map(|_| vec![b' '; 16 * 1024]))
                .chain(std::iter::once(b"}".to_vec()))
                .map(Ok::<_, Infallible>);
            Body::from_stream(futures_util::stream::iter(chunks)).into_response()
        }
        Reply::Redirect(_) => (StatusCode::FOUND, [(header::LOCATION, "/moved")]).into_response(),
        Reply::Status(status) => status.into_response(),
    }
}

async fn serve_moved(State(state): State<Arc<ServerState>>) -> Response {
    state.moved_hits.fetch_add(1, Ordering::SeqCst);
    match state.reply.lock().unwrap().clone() {
        Reply::Redirect(set) => axum::Json(set).into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

// ---- 1. good tokens ----

#[tokio::test]
async fn a_valid_es256_token_becomes_the_user_it_names() {
    let key = es256_key("es-1");
    let server = KeyServer::start(Reply::Keys(key_set(&[&key]))).await;
    let verifier = server.verifier();
    let claims = claims();

    let user = verifier.verify(&sign(&key, &claims)).await.unwrap();
    assert_eq!(user.user_id, USER);
    assert_eq!(user.email, "candidate@example.com");
    assert_eq!(user.tenant_id, TENANT);
    assert_eq!(user.role, Some(Role::Candidate));
    assert_eq!(user.auth_session, "sign-in-1");
    assert_eq!(user.claims, claims);

    // An interviewer, no e-mail, no session: the fields are empty, not refused.
    let meta = json!({ "tenant_id": TENANT, "viva_role": "interviewer" });
    let other = with(
        with(claims.clone(), "email", Value::Null),
        "session_id",
        Value::Null,
    );
    let user = verifier
        .verify(&sign(&key, &with(other, "app_metadata", meta)))
        .await
        .unwrap();
    assert_eq!(user.role, Some(Role::Interviewer));
    assert_eq!((user.email.as_str(), user.auth_session.as_str()), ("", ""));

    // A token without `kid` is checked against the one key of its algorithm.
    let user = verifier
        .verify(&sign_as(&key, Algorithm::ES256, None, &claims))
        .await
        .unwrap();
    assert_eq!(user.user_id, USER);
    assert_eq!(
        (server.hits(), verifier.fetches()),
        (1, 1),
        "the set is cached"
    );
}

#[tokio::test]
async fn a_valid_rs256_token_from_a_2048_bit_key_is_accepted() {
    let rsa = rs256_key();
    let ec = es256_key("es-1");
    let server = KeyServer::start(Reply::Keys(key_set(&[&ec, rsa]))).await;
    let verifier = server.verifier();

    let user = verifier.verify(&sign(rsa, &claims())).await.unwrap();
    assert_eq!(user.user_id, USER);
    assert!(verifier.verify(&sign(&ec, &claims())).await.is_ok());
    // The header's algorithm must be the key's: RS256 naming the EC key, ES256 naming the RSA key.
    assert_eq!(
        verifier
            .verify(&sign_as(rsa, Algorithm::RS256, Some("es-1"), &claims()))
            .await,
        Err(TokenRefusal::Invalid)
    );
    assert_eq!(
        verifier
            .verify(&sign_as(&ec, Algorithm::ES256, Some("rsa-1"), &claims()))
            .await,
        Err(TokenRefusal::Invalid)
    );
}

#[tokio::test]
async fn a_key_that_names_another_algorithm_is_not_used() {
    let rsa = rs256_key();
    let mut jwk = rsa.jwk.clone();
    jwk["alg"] = json!("RS512");
    let server = KeyServer::start(Reply::Keys(json!({ "keys": [jwk] }))).await;
    let verifier = server.verifier();
    assert_eq!(
        verifier.verify(&sign(rsa, &claims())).await,
        Err(TokenRefusal::Invalid)
    );
    // A key without `alg` serves the algorithm of its type.
    let mut jwk = rsa.jwk.clone();
    jwk.as_object_mut().unwrap().remove("alg");
    server.set(Reply::Keys(json!({ "keys": [jwk] })));
    let verifier = server.verifier();
    assert!(verifier.verify(&sign(rsa, &claims())).await.is_ok());
}

#[tokio::test]
async fn a_token_without_kid_is_refused_when_several_keys_could_verify_it() {
    // jose's rule: exactly one key must match.
    let (a, b) = (es256_key("es-a"), es256_key("es-b"));
    let server = KeyServer::start(Reply::Keys(key_set(&[&a, &b]))).await;
    let verifier = server.verifier();
    assert_eq!(
        verifier
            .verify(&sign_as(&a, Algorithm::ES256, None, &claims()))
            .await,
        Err(TokenRefusal::Invalid)
    );
    assert!(verifier.verify(&sign(&a, &claims())).await.is_ok());
    assert!(verifier.verify(&sign(&b, &claims())).await.is_ok());
}

// ---- 2. rotation ----

#[tokio::test]
async fn a_rotated_key_is_accepted_after_exactly_one_refetch() {
    let old = es256_key("es-old");
    let new = es256_key("es-new");
    let server = KeyServer::start(Reply::Keys(key_set(&[&old]))).await;
    let cooldown = Duration::from_millis(500);
    let verifier = server
        .verifier()
        .with_cache_timing(DEFAULT_MAX_AGE, cooldown);

    assert!(verifier.verify(&sign(&old, &claims())).await.is_ok());
    assert_eq!(verifier.fetches(), 1);

    server.set(Reply::Keys(key_set(&[&old, &new])));
    let token = sign(&new, &claims());
    // Within the cool-down since the last fetch the new key id is unknown, and costs nothing.
    assert_eq!(verifier.verify(&token).await, Err(TokenRefusal::Invalid));
    assert_eq!((verifier.fetches(), server.hits()), (1, 1));

    tokio::time::sleep(cooldown + Duration::from_millis(50)).await;
    let user = verifier.verify(&token).await.unwrap();
    assert_eq!(user.user_id, USER);
    assert_eq!((verifier.fetches(), server.hits()), (2, 2));

    // Both keys are now cached: no further fetches.
    assert!(verifier.verify(&token).await.is_ok());
    assert!(verifier.verify(&sign(&old, &claims())).await.is_ok());
    assert_eq!((verifier.fetches(), server.hits()), (2, 2));
}

#[tokio::test]
async fn keys_are_fetched_again_once_the_cached_set_is_old() {
    let old = es256_key("es-old");
    let new = es256_key("es-new");
    let server = KeyServer::start(Reply::Keys(key_set(&[&old]))).await;
    let max_age = Duration::from_millis(300);
    let verifier = server.verifier().with_cache_timing(max_age, Duration::ZERO);
    let old_token = sign(&old, &claims());
    assert!(verifier.verify(&old_token).await.is_ok());

    // The old key is withdrawn: once the cache is older than its maximum age, it is gone here too.
    server.set(Reply::Keys(key_set(&[&new])));
    assert!(verifier.verify(&old_token).await.is_ok(), "still cached");
    tokio::time::sleep(max_age + Duration::from_millis(50)).await;
    assert_eq!(
        verifier.verify(&old_token).await,
        Err(TokenRefusal::Invalid)
    );
    assert!(verifier.verify(&sign(&new, &claims())).await.is_ok());
}

// ---- 3. made-up key ids ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_key_ids_are_invalid_and_a_flood_costs_at_most_one_fetch() {
    let key = es256_key("es-1");
    let server = KeyServer::start(Reply::Keys(key_set(&[&key]))).await;
    let cooldown = Duration::from_secs(1);
    let verifier = Arc::new(
        server
            .verifier()
            .with_cache_timing(DEFAULT_MAX_AGE, cooldown),
    );
    assert!(verifier.verify(&sign(&key, &claims())).await.is_ok());
    assert_eq!(server.hits(), 1);
    // Past the cool-down, so made-up key ids may cause one refetch; a slow reply makes sure the
    // 50 overlap it.
    tokio::time::sleep(cooldown + Duration::from_millis(50)).await;
    server.slow_down(Duration::from_millis(300));

    let mut flood = tokio::task::JoinSet::new();
    for i in 0..50 {
        let token = sign_as(
            &key,
            Algorithm::ES256,
            Some(&format!("made-up-{i}")),
            &claims(),
        );
        let verifier = verifier.clone();
        flood.spawn(async move { verifier.verify(&token).await });
    }
    while let Some(result) = flood.join_next().await {
        assert_eq!(result.unwrap(), Err(TokenRefusal::Invalid));
    }
    assert_eq!(
        (server.hits(), verifier.fetches()),
        (2, 2),
        "50 made-up key ids at once share one fetch"
    );

    // And 50 more in a row, within the cool-down, cost none.
    for i in 50..100 {
        let token = sign_as(
            &key,
            Algorithm::ES256,
            Some(&format!("made-up-{i}")),
            &claims(),
        );
        assert_eq!(verifier.verify(&token).await, Err(TokenRefusal::Invalid));
    }
    assert_eq!((server.hits(), verifier.fetches()), (2, 2));
    // The real key still works throughout.
    assert!(verifier.verify(&sign(&key, &claims())).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_verifications_share_one_fetch() {
    let key = es256_key("es-1");
    let server = KeyServer::start(Reply::Keys(key_set(&[&key]))).await;
    server.slow_down(Duration::from_millis(300));
    let verifier = Arc::new(server.verifier());
    let token = sign(&key, &claims());
    let mut all = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (verifier, token) = (verifier.clone(), token.clone());
        all.spawn(async move { verifier.verify(&token).await });
    }
    while let Some(result) = all.join_next().await {
        assert_eq!(result.unwrap().unwrap().user_id, USER);
    }
    assert_eq!((server.hits(), verifier.fetches()), (1, 1));
}

#[tokio::test]
async fn prefetch_fetches_once_and_never_fails() {
    let key = es256_key("es-1");
    let server = KeyServer::start(Reply::Keys(key_set(&[&key]))).await;
    let verifier = server.verifier();
    verifier.prefetch().await;
    verifier.prefetch().await;
    assert_eq!(server.hits(), 1);
    assert!(verifier.verify(&sign(&key, &claims())).await.is_ok());
    assert_eq!(server.hits(), 1);

    // Nothing listening: it logs and returns.
    let down = JwksVerifier::new(&unreachable_url().await, None).unwrap();
    down.prefetch().await;
    assert_eq!(down.fetches(), 1);
}

// ---- 4. bad tokens ----

#[tokio::test]
async fn bad_claims_are_refused_with_the_right_reason() {
    let key = es256_key("es-1");
    let server = KeyServer::start(Reply::Keys(key_set(&[&key]))).await;
    let verifier = server.verifier();
    let refused = |claims: Value| {
        let token = sign(&key, &claims);
        let verifier = &verifier;
        async move { verifier.verify(&token).await.unwrap_err() }
    };

    assert_eq!(
        refused(with(claims(), "exp", json!(now() - 1))).await,
        TokenRefusal::Expired
    );
    for (what, claims) in [
        ("wrong audience", with(claims(), "aud", json!("anon"))),
        ("no audience", with(claims(), "aud", Value::Null)),
        ("missing exp", with(claims(), "exp", Value::Null)),
        ("exp as text", with(claims(), "exp", json!("tomorrow"))),
        ("sub not a uuid", with(claims(), "sub", json!("user-1"))),
        ("no sub", with(claims(), "sub", Value::Null)),
        ("not yet valid", with(claims(), "nbf", json!(now() + 600))),
        (
            "wrong audience and expired",
            with(
                with(claims(), "aud", json!("anon")),
                "exp",
                json!(now() - 1),
            ),
        ),
    ] {
        assert_eq!(refused(claims).await, TokenRefusal::Invalid, "{what}");
    }
    // A token that is not a JWT at all.
    for junk in ["", "abc", "a.b.c", "..."] {
        assert_eq!(
            verifier.verify(junk).await,
            Err(TokenRefusal::Invalid),
            "{junk:?}"
        );
    }
    // A valid token with its payload swapped for another user's: the signature no longer fits.
    let token = sign(&key, &claims());
    let other = sign(
        &key,
        &with(
            claims(),
            "sub",
            json!("00000000-0000-4000-8000-000000000000"),
        ),
    );
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[1] = other.split('.').nth(1).unwrap();
    assert_eq!(
        verifier.verify(&parts.join(".")).await,
        Err(TokenRefusal::Invalid)
    );
}

#[tokio::test]
async fn alg_none_is_invalid() {
    let key = es256_key("es-1");
    let server = KeyServer::start(Reply::Keys(key_set(&[&key]))).await;
    let good = sign(&key, &claims());
    let payload = good.split('.').nth(1).unwrap();
    let unsigned = format!("{NONE_HEADER}.{payload}.");
    for verifier in [
        server.verifier(),
        JwksVerifier::new(&server.url, Some(LEGACY_SECRET.into())).unwrap(),
    ] {
        assert_eq!(verifier.verify(&unsigned).await, Err(TokenRefusal::Invalid));
        // And with the original signature left on.
        let signature = good.split('.').nth(2).unwrap();
        let resigned = format!("{NONE_HEADER}.{payload}.{signature}");
        assert_eq!(verifier.verify(&resigned).await, Err(TokenRefusal::Invalid));
    }
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_invalid() {
    let ec = es256_key("es-1");
    let rsa = rs256_key();
    let server = KeyServer::start(Reply::Keys(key_set(&[&ec, rsa]))).await;
    for verifier in [
        server.verifier(),
        JwksVerifier::new(&server.url, Some(LEGACY_SECRET.into())).unwrap(),
    ] {
        for key in [&ec, rsa] {
            for public in &key.public_forms {
                for kid in [None, Some(key.kid.as_str())] {
                    let token = sign_hs256(public, kid, &claims());
                    assert_eq!(
                        verifier.verify(&token).await,
                        Err(TokenRefusal::Invalid),
                        "{} {kid:?}",
                        String::from_utf8_lossy(&public[..public.len().min(40)])
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn hs256_without_a_configured_secret_and_other_algorithms_are_invalid() {
    let key = es256_key("es-1");
    let server = KeyServer::start(Reply::Keys(key_set(&[&key]))).await;
    let verifier = server.verifier();
    let hs256 = sign_hs256(LEGACY_SECRET.as_bytes(), None, &claims());
    assert_eq!(verifier.verify(&hs256).await, Err(TokenRefusal::Invalid));

    let with_secret = JwksVerifier::new(&server.url, Some(LEGACY_SECRET.into())).unwrap();
    let secret = EncodingKey::from_secret(LEGACY_SECRET.as_bytes());
    for alg in [Algorithm::HS384, Algorithm::HS512] {
        let token = jsonwebtoken::encode(&Header::new(alg), &claims(), &secret).unwrap();
        assert_eq!(
            with_secret.verify(&token).await,
            Err(TokenRefusal::Invalid),
            "{alg:?}"
        );
    }
}

// ---- 5. the legacy secret ----

#[tokio::test]
async fn legacy_hs256_is_accepted_only_with_the_configured_secret() {
    let key = es256_key("es-1");
    let server = KeyServer::start(Reply::Keys(key_set(&[&key]))).await;
    let verifier = JwksVerifier::new(&server.url, Some(LEGACY_SECRET.into())).unwrap();

    let user = verifier
        .verify(&sign_hs256(LEGACY_SECRET.as_bytes(), None, &claims()))
        .await
        .unwrap();
    assert_eq!(
        (user.user_id.as_str(), user.role),
        (USER, Some(Role::Candidate))
    );
    assert_eq!(
        verifier
            .verify(&sign_hs256(b"another-secret-entirely", None, &claims()))
            .await,
        Err(TokenRefusal::Invalid)
    );
    assert_eq!(
        verifier
            .verify(&sign_hs256(
                LEGACY_SECRET.as_bytes(),
                None,
                &with(claims(), "exp", json!(now() - 5))
            ))
            .await,
        Err(TokenRefusal::Expired)
    );
    // The local stack's API keys are legacy JWTs with no audience: never a signed-in user.
    let anon =
        json!({ "iss": "viva-localstack", "role": "anon", "iat": now(), "exp": now() + 3600 });
    assert_eq!(
        verifier
            .verify(&sign_hs256(LEGACY_SECRET.as_bytes(), None, &anon))
            .await,
        Err(TokenRefusal::Invalid)
    );
    // HS256 never needs the key set.
    assert_eq!(server.hits(), 0);
    // The ES256 tokens still work alongside.
    assert!(verifier.verify(&sign(&key, &claims())).await.is_ok());
}

// ---- 6. key set servers that fail ----

/// A loopback address where nothing listens.
async fn unreachable_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}{JWKS_PATH}")
}

#[tokio::test]
async fn an_unreachable_key_set_means_cannot_verify_now() {
    let key = es256_key("es-1");
    let verifier = JwksVerifier::new(&unreachable_url().await, None).unwrap();
    let token = sign(&key, &claims());
    assert_eq!(
        verifier.verify(&token).await,
        Err(TokenRefusal::CannotVerifyNow)
    );
    // Still nothing cached: the next verification tries again, and fails the same way.
    assert_eq!(
        verifier.verify(&token).await,
        Err(TokenRefusal::CannotVerifyNow)
    );
    assert_eq!(verifier.fetches(), 2);
    // A bad token is still bad without the key set when its algorithm needs none.
    assert_eq!(
        verifier
            .verify(&sign_hs256(b"whatever", None, &claims()))
            .await,
        Err(TokenRefusal::Invalid)
    );
}

#[tokio::test]
async fn junk_oversized_or_failing_key_sets_mean_cannot_verify_now() {
    let key = es256_key("es-1");
    let token = sign(&key, &claims());
    let server = KeyServer::start(Reply::Html).await;
    for (what, reply) in [
        ("html", Reply::Html),
        ("1 MiB with a length", Reply::Huge),
        ("1 MiB in chunks", Reply::HugeChunked),
        ("500", Reply::Status(StatusCode::INTERNAL_SERVER_ERROR)),
        ("404", Reply::Status(StatusCode::NOT_FOUND)),
        ("not a key set", Reply::Keys(json!({ "keys": "none" }))),
    ] {
        server.set(reply);
        let verifier = server.verifier();
        assert_eq!(
            verifier.verify(&token).await,
            Err(TokenRefusal::CannotVerifyNow),
            "{what}"
        );
        assert_eq!(verifier.fetches(), 1, "{what}");
    }
    // Once the server answers properly, the same verifier recovers.
    let verifier = server.verifier();
    server.set(Reply::Html);
    assert_eq!(
        verifier.verify(&token).await,
        Err(TokenRefusal::CannotVerifyNow)
    );
    server.set(Reply::Keys(key_set(&[&key])));
    assert!(verifier.verify(&token).await.is_ok());
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let key = es256_key("es-1");
    let server = KeyServer::start(Reply::Redirect(key_set(&[&key]))).await;
    let verifier = server.verifier();
    assert_eq!(
        verifier.verify(&sign(&key, &claims())).await,
        Err(TokenRefusal::CannotVerifyNow)
    );
    assert_eq!(server.hits(), 1);
    assert_eq!(server.state.moved_hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_cached_set_outlives_a_failed_refresh() {
    let key = es256_key("es-1");
    let server = KeyServer::start(Reply::Keys(key_set(&[&key]))).await;
    let max_age = Duration::from_millis(200);
    let verifier = server.verifier().with_cache_timing(max_age, Duration::ZERO);
    let token = sign(&key, &claims());
    assert!(verifier.verify(&token).await.is_ok());

    server.set(Reply::Status(StatusCode::SERVICE_UNAVAILABLE));
    tokio::time::sleep(max_age + Duration::from_millis(50)).await;
    assert!(verifier.verify(&token).await.is_ok());
    assert_eq!(
        verifier.fetches(),
        2,
        "the old set was refreshed, and failed"
    );
    // A made-up key id is still just invalid, not a server failure.
    let made_up = sign_as(&key, Algorithm::ES256, Some("made-up"), &claims());
    assert_eq!(verifier.verify(&made_up).await, Err(TokenRefusal::Invalid));
}

// ---- 7. construction ----

#[test]
fn a_plain_http_url_to_another_host_is_refused() {
    for url in [
        "http://example.com/auth/v1/.well-known/jwks.json",
        "http://192.168.1.10:54321/auth/v1/.well-known/jwks.json",
        "http://localhost.example.com/jwks.json",
    ] {
        assert!(
            matches!(JwksVerifier::new(url, None), Err(JwksError::Insecure(_))),
            "{url}"
        );
    }
    for url in [
        "https://example.supabase.co/auth/v1/.well-known/jwks.json",
        "http://127.0.0.1:54321/auth/v1/.well-known/jwks.json",
        "http://[::1]:54321/auth/v1/.well-known/jwks.json",
        "http://localhost:54321/auth/v1/.well-known/jwks.json",
    ] {
        assert!(JwksVerifier::new(url, None).is_ok(), "{url}");
    }
}
