//! Owns checking access tokens against the project's JWKS (ES256, RS256) and legacy HS256 secret.
//!
//! The rules are `supabase/functions/_shared/auth.ts`'s (jose's), no looser and no stricter: the
//! edge functions and the proxy see the same tokens, and if one accepted what the other refuses a
//! user could join a call and then fail to save it, or the reverse. So where jose has a rule
//! (exactly one matching key, `exp` a number with no leeway, `aud` = `authenticated`, a `crit`
//! header refused, 30 s cool-down, 10 min cache), this file has it too.
//!
//! The algorithm comes from the token's header but the key never does: ES256/RS256 only ever meet
//! a key from the JWKS published for that algorithm, HS256 only ever the configured legacy
//! secret, so a token "signed" with a public key's bytes as an HMAC secret never passes.

use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, KeyOperations, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind, Validation};

use super::{BoxFuture, Role, TokenRefusal, TokenVerifier, VerifiedUser};

/// How long a fetched key set is trusted before it is fetched again (jose's `cacheMaxAge`).
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(10 * 60);
/// The least time between two fetches caused by unknown key ids or a stale set (jose's
/// `cooldownDuration`): a flood of tokens with made-up `kid`s costs one fetch per cool-down.
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(30);
/// A key set server that hangs must not hold a verification (and the client's socket) for long.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// A real key set is a few KiB; anything much larger is not one, and is not read into memory.
const MAX_BODY: usize = 64 * 1024;
/// Fewer bits than this and RS256 is breakable; jose refuses such keys too.
const MIN_RSA_BITS: usize = 2048;
/// The only audience a signed-in user's token has (the API keys have none).
const AUDIENCE: &str = "authenticated";

/// Why a [`JwksVerifier`] cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("the key set address `{0}` is not a valid URL")]
    InvalidUrl(String),
    /// Keys fetched over plain http could be swapped on the way; only this computer is exempt.
    #[error("the key set address `{0}` must use https (plain http only for this computer)")]
    Insecure(String),
    /// An empty HMAC secret would let anyone sign tokens.
    #[error("the legacy HS256 secret is empty")]
    EmptyLegacySecret,
    #[error("the HTTP client cannot be built: {0}")]
    Client(String),
}

/// Why fetching the key set failed (logged, never shown to the token's owner).
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("the request failed: {0}")]
    Transport(String),
    /// Anything but 200, a redirect included (redirects are not followed).
    #[error("the server answered {0}")]
    Status(u16),
    #[error("the reply is larger than {MAX_BODY} bytes")]
    TooLarge,
    #[error("the reply is not a JSON Web Key Set: {0}")]
    NotAKeySet(String),
}

/// One usable verification key from the set. Each key serves exactly one algorithm, so a key
/// can never be used with an algorithm it was not published for.
#[derive(Clone)]
struct Key {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

/// What the verifier knows about the key set; read and written under a short std lock (never
/// held across an await).
#[derive(Default)]
struct Cache {
    keys: Option<Arc<[Key]>>,
    /// When `keys` was fetched.
    fetched_at: Option<Instant>,
    /// When the last fetch ended, whether it worked or not (for the cool-down).
    attempted_at: Option<Instant>,
    /// Bumped by every fetch: a verification that waited for the refresh lock sees that someone
    /// else fetched meanwhile and uses that result instead of fetching again.
    generation: u64,
}

/// A copy of the cache's state at one moment.
struct Snapshot {
    keys: Option<Arc<[Key]>>,
    fetched_at: Option<Instant>,
    attempted_at: Option<Instant>,
    generation: u64,
}

/// Verifies access tokens against a JWKS URL (ES256, RS256) and, when configured, the legacy
/// HS256 secret.
pub struct JwksVerifier {
    url: reqwest::Url,
    http: reqwest::Client,
    legacy: Option<DecodingKey>,
    cache: Mutex<Cache>,
    /// Held while fetching: concurrent verifications share one fetch (single flight).
    refresh: tokio::sync::Mutex<()>,
    fetches: AtomicU64,
    max_age: Duration,
    cooldown: Duration,
}

impl fmt::Debug for JwksVerifier {
    // The legacy secret and the keys stay out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksVerifier")
            .field("url", &self.url.as_str())
            .field("legacy_hs256", &self.legacy.is_some())
            .field("fetches", &self.fetches())
            .finish_non_exhaustive()
    }
}

impl JwksVerifier {
    /// A verifier for the key set at `jwks_url` (https, or http to this computer), accepting
    /// HS256 tokens only when `legacy_hs256_secret` is given. Nothing is fetched yet.
    pub fn new(jwks_url: &str, legacy_hs256_secret: Option<String>) -> Result<Self, JwksError> {
        let url = checked_url(jwks_url)?;
        let legacy = match legacy_hs256_secret {
            Some(secret) if secret.is_empty() => return Err(JwksError::EmptyLegacySecret),
            Some(secret) => Some(DecodingKey::from_secret(secret.as_bytes())),
            None => None,
        };
        let http = reqwest::Client::builder()
            // A redirect could point the fetch anywhere; the key set's address is configured.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(FETCH_TIMEOUT)
            .build()
            .map_err(|error| JwksError::Client(error.to_string()))?;
        Ok(Self {
            url,
            http,
            legacy,
            cache: Mutex::new(Cache::default()),
            refresh: tokio::sync::Mutex::new(()),
            fetches: AtomicU64::new(0),
            max_age: DEFAULT_MAX_AGE,
            cooldown: DEFAULT_COOLDOWN,
        })
    }

    /// Changes how long a fetched set is trusted and the cool-down between refetches (tests, and
    /// deployments that rotate keys on another schedule).
    #[must_use]
    pub fn with_cache_timing(mut self, max_age: Duration, cooldown: Duration) -> Self {
        self.max_age = max_age;
        self.cooldown = cooldown;
        self
    }

    /// How many times the key set was requested (whether the request worked or not).
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// Fetches the key set now, so the first user does not wait for it. Never fails: a failure is
    /// logged and the next verification tries again.
    pub async fn prefetch(&self) {
        let snapshot = self.snapshot();
        if snapshot.keys.is_none() {
            self.refresh(snapshot.generation).await;
        }
    }

    fn snapshot(&self) -> Snapshot {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        Snapshot {
            keys: cache.keys.clone(),
            fetched_at: cache.fetched_at,
            attempted_at: cache.attempted_at,
            generation: cache.generation,
        }
    }

    fn cooled_down(&self, snapshot: &Snapshot) -> bool {
        snapshot
            .attempted_at
            .is_none_or(|at| at.elapsed() >= self.cooldown)
    }

    /// Fetches the key set unless another fetch ended since `seen_generation` was read (then
    /// that one's result is used: single flight).
    async fn refresh(&self, seen_generation: u64) {
        let guard = self.refresh.lock().await;
        self.refresh_locked(guard, seen_generation).await;
    }

    async fn refresh_locked(&self, _guard: tokio::sync::MutexGuard<'_, ()>, seen_generation: u64) {
        if self.snapshot().generation != seen_generation {
            return;
        }
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let result = self.fetch().await;
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        cache.generation += 1;
        cache.attempted_at = Some(now);
        match result {
            Ok(keys) => {
                tracing::info!(event = "jwks_fetched", url = %self.url, keys = keys.len());
                cache.keys = Some(keys.into());
                cache.fetched_at = Some(now);
            }
            Err(error) => {
                // A set fetched earlier stays in use: a key set server's hiccup must not sign
                // everyone out.
                tracing::warn!(
                    event = "jwks_fetch_failed",
                    url = %self.url,
                    cached = cache.keys.is_some(),
                    %error
                );
            }
        }
    }

    async fn fetch(&self) -> Result<Vec<Key>, FetchError> {
        let mut response = self
            .http
            .get(self.url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|error| FetchError::Transport(error.to_string()))?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(FetchError::Status(response.status().as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|length| length > MAX_BODY as u64)
        {
            return Err(FetchError::TooLarge);
        }
        // Read chunk by chunk and stop as soon as it is over the limit: a length header may be
        // missing or lie.
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| FetchError::Transport(error.to_string()))?
        {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(FetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        parse_key_set(&body)
    }

    /// The one key from the set that may verify a token with this `alg` and `kid`, fetching the
    /// set when there is none yet, when it is old, or when no key matches (a rotation).
    async fn key_for(&self, alg: Algorithm, kid: Option<&str>) -> Result<Key, TokenRefusal> {
        let mut snapshot = self.snapshot();
        if snapshot.keys.is_none() {
            self.refresh(snapshot.generation).await;
            snapshot = self.snapshot();
        } else if snapshot
            .fetched_at
            .is_none_or(|at| at.elapsed() >= self.max_age)
            && self.cooled_down(&snapshot)
        {
            // Old but usable: if another verification is already fetching, go on with the old
            // set rather than wait for it.
            if let Ok(guard) = self.refresh.try_lock() {
                self.refresh_locked(guard, snapshot.generation).await;
                snapshot = self.snapshot();
            }
        }
        let Some(keys) = snapshot.keys.clone() else {
            return Err(TokenRefusal::CannotVerifyNow);
        };
        match select(&keys, alg, kid) {
            Selection::One(key) => return Ok(key.clone()),
            Selection::Several => return Err(TokenRefusal::Invalid),
            Selection::None => {}
        }
        // No key matches: perhaps the keys were rotated since the last fetch. The cool-down
        // keeps made-up key ids from turning into a fetch each.
        if !self.cooled_down(&snapshot) {
            return Err(TokenRefusal::Invalid);
        }
        self.refresh(snapshot.generation).await;
        let keys = self.snapshot().keys.unwrap_or(keys);
        match select(&keys, alg, kid) {
            Selection::One(key) => Ok(key.clone()),
            Selection::Several | Selection::None => Err(TokenRefusal::Invalid),
        }
    }

    async fn verify_token(&self, token: &str) -> Result<VerifiedUser, TokenRefusal> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenRefusal::Invalid)?;
        // jose refuses any `crit` it does not implement, and it implements none here.
        if header.crit.is_some() {
            return Err(TokenRefusal::Invalid);
        }
        let key = match header.alg {
            Algorithm::ES256 | Algorithm::RS256 => {
                self.key_for(header.alg, header.kid.as_deref()).await?.key
            }
            // HS256 meets the legacy secret and nothing else.
            Algorithm::HS256 => self.legacy.clone().ok_or(TokenRefusal::Invalid)?,
            _ => return Err(TokenRefusal::Invalid),
        };
        let payload = check_signature(token, &key, header.alg)?;
        check_claims(payload, now_seconds())
    }
}

impl TokenVerifier for JwksVerifier {
    fn verify<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<VerifiedUser, TokenRefusal>> {
        Box::pin(self.verify_token(token))
    }
}

/// The URL, refused unless it is https, or http to this computer.
fn checked_url(text: &str) -> Result<reqwest::Url, JwksError> {
    let url =
        reqwest::Url::parse(text.trim()).map_err(|_| JwksError::InvalidUrl(text.to_owned()))?;
    match url.scheme() {
        "https" if url.host_str().is_some() => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "https" => Err(JwksError::InvalidUrl(text.to_owned())),
        _ => Err(JwksError::Insecure(text.to_owned())),
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    // `host_str` keeps an IPv6 address's brackets.
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The usable keys of a JWKS document. Keys this verifier cannot use (other types, curves,
/// algorithms, encryption keys, short RSA keys) are skipped, as jose never selects them.
fn parse_key_set(body: &[u8]) -> Result<Vec<Key>, FetchError> {
    let set: JwkSet =
        serde_json::from_slice(body).map_err(|error| FetchError::NotAKeySet(error.to_string()))?;
    let mut keys = Vec::new();
    for jwk in &set.keys {
        match usable_key(jwk) {
            Ok(key) => keys.push(key),
            Err(reason) => {
                tracing::debug!(event = "jwks_key_skipped", kid = ?jwk.common.key_id, reason);
            }
        }
    }
    Ok(keys)
}

fn usable_key(jwk: &Jwk) -> Result<Key, &'static str> {
    let common = &jwk.common;
    if common
        .public_key_use
        .as_ref()
        .is_some_and(|u| *u != PublicKeyUse::Signature)
    {
        return Err("not a signing key");
    }
    if common
        .key_operations
        .as_ref()
        .is_some_and(|ops| !ops.contains(&KeyOperations::Verify))
    {
        return Err("not a verification key");
    }
    let alg = match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            Algorithm::ES256
        }
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        _ => return Err("neither an EC P-256 nor an RSA key"),
    };
    // A key that names its algorithm serves only that one.
    let named = match common.key_algorithm {
        None => None,
        Some(KeyAlgorithm::ES256) => Some(Algorithm::ES256),
        Some(KeyAlgorithm::RS256) => Some(Algorithm::RS256),
        Some(_) => return Err("an algorithm other than ES256 or RS256"),
    };
    if named.is_some_and(|named| named != alg) {
        return Err("its `alg` does not fit its key type");
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|_| "its parameters cannot be read")?;
    if let DecodingKeyKind::RsaModulusExponent { n, .. } = key.kind()
        && modulus_bits(n) < MIN_RSA_BITS
    {
        return Err("an RSA key shorter than 2048 bits");
    }
    Ok(Key {
        kid: common.key_id.clone(),
        alg,
        key,
    })
}

fn modulus_bits(n: &[u8]) -> usize {
    // The modulus is big-endian; leading zero bytes do not count.
    match n.iter().enumerate().find(|(_, byte)| **byte != 0) {
        Some((start, first)) => (n.len() - start - 1) * 8 + (8 - first.leading_zeros() as usize),
        None => 0,
    }
}

enum Selection<'a> {
    None,
    One(&'a Key),
    /// jose refuses a token that more than one key could verify ("only a single public key must
    /// match"), so this does too.
    Several,
}

fn select<'a>(keys: &'a [Key], alg: Algorithm, kid: Option<&str>) -> Selection<'a> {
    let mut matching = keys
        .iter()
        .filter(|key| key.alg == alg && kid.is_none_or(|kid| key.kid.as_deref() == Some(kid)));
    match (matching.next(), matching.next()) {
        (None, _) => Selection::None,
        (Some(key), None) => Selection::One(key),
        (Some(_), Some(_)) => Selection::Several,
    }
}

/// Checks the signature with `key` for exactly `alg`, and the audience, returning the payload.
/// The time claims are checked by [`check_claims`], in jose's order and with jose's rules.
fn check_signature(
    token: &str,
    key: &DecodingKey,
    alg: Algorithm,
) -> Result<serde_json::Value, TokenRefusal> {
    let mut validation = Validation::new(alg);
    validation.leeway = 0;
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.set_required_spec_claims(&["sub", "aud"]);
    validation.set_audience(&[AUDIENCE]);
    jsonwebtoken::decode::<serde_json::Value>(token, key, &validation)
        .map(|data| data.claims)
        .map_err(|_| TokenRefusal::Invalid)
}

fn now_seconds() -> f64 {
    // jose's clock: whole seconds.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs() as f64)
}

/// The claims of a token whose signature and audience were checked, as jose checks them (`iat`
/// and `nbf` numbers if present, `nbf` not in the future, `exp` a number and in the future, no
/// leeway), then reduced as `callerOf` reduces them.
fn check_claims(payload: serde_json::Value, now: f64) -> Result<VerifiedUser, TokenRefusal> {
    let number = |name: &str| payload.get(name).map(serde_json::Value::as_f64);
    if matches!(number("iat"), Some(None)) {
        return Err(TokenRefusal::Invalid);
    }
    match number("nbf") {
        Some(None) => return Err(TokenRefusal::Invalid),
        Some(Some(nbf)) if nbf > now => return Err(TokenRefusal::Invalid),
        _ => {}
    }
    match number("exp") {
        None | Some(None) => return Err(TokenRefusal::Invalid),
        Some(Some(exp)) if exp <= now => return Err(TokenRefusal::Expired),
        Some(Some(_)) => {}
    }
    let text = |value: Option<&serde_json::Value>| {
        value
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let user_id = text(payload.get("sub"));
    if !is_uuid(&user_id) {
        return Err(TokenRefusal::Invalid);
    }
    let meta = payload.get("app_metadata").filter(|meta| meta.is_object());
    let tenant_id = text(meta.and_then(|meta| meta.get("tenant_id")));
    let role = match meta
        .and_then(|meta| meta.get("viva_role"))
        .and_then(serde_json::Value::as_str)
    {
        Some("candidate") => Some(Role::Candidate),
        Some("interviewer") => Some(Role::Interviewer),
        _ => None,
    };
    Ok(VerifiedUser {
        user_id,
        email: text(payload.get("email")),
        // Like `callerOf`: a tenant id that is not a UUID names no organisation.
        tenant_id: if is_uuid(&tenant_id) {
            tenant_id
        } else {
            String::new()
        },
        role,
        auth_session: text(payload.get("session_id")),
        claims: payload,
    })
}

/// `8-4-4-4-12` hex digits, either case: the edge functions' `isUuid`, stricter than
/// `uuid::Uuid::parse_str` (which also takes braces, a URN or no hyphens).
fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use serde_json::json;

    const USER: &str = "0b9c5a8e-3f7a-4c1e-9d2b-6a1f0e4d7c3b";
    const TENANT: &str = "6f1d2c3b-4a5e-4f60-8b7c-9d0e1f2a3b4c";

    #[test]
    fn jwks_urls_must_be_https_unless_loopback() {
        for ok in [
            "https://example.supabase.co/auth/v1/.well-known/jwks.json",
            "http://127.0.0.1:54321/auth/v1/.well-known/jwks.json",
            "http://localhost:8080/jwks.json",
            "http://LOCALHOST/jwks.json",
            "http://[::1]:9/jwks.json",
        ] {
            assert!(checked_url(ok).is_ok(), "{ok}");
        }
        for insecure in [
            "http://example.com/jwks.json",
            "http://127.0.0.1.example.com/jwks.json",
            "http://10.0.0.1/jwks.json",
            "ftp://127.0.0.1/jwks.json",
            "file:///etc/jwks.json",
        ] {
            assert!(
                matches!(checked_url(insecure), Err(JwksError::Insecure(_))),
                "{insecure}"
            );
        }
        assert!(matches!(
            checked_url("not a url"),
            Err(JwksError::InvalidUrl(_))
        ));
    }

    #[test]
    fn jwks_uuid_check_matches_the_edge_functions() {
        assert!(is_uuid(USER));
        assert!(is_uuid(&USER.to_uppercase()));
        for bad in [
            "",
            "u",
            "0b9c5a8e3f7a4c1e9d2b6a1f0e4d7c3b",
            "{0b9c5a8e-3f7a-4c1e-9d2b-6a1f0e4d7c3b}",
            "urn:uuid:0b9c5a8e-3f7a-4c1e-9d2b-6a1f0e4d7c3b",
            "0b9c5a8e-3f7a-4c1e-9d2b-6a1f0e4d7c3g",
            "0b9c5a8e-3f7a-4c1e-9d2b+6a1f0e4d7c3b",
        ] {
            assert!(!is_uuid(bad), "{bad}");
        }
    }

    #[test]
    fn jwks_claims_follow_jose_and_caller_of() {
        let now = 1_800_000_000.0;
        let good = json!({
            "sub": USER, "aud": "authenticated", "exp": now + 60.0, "iat": now,
            "email": "a@example.com", "session_id": "s-1",
            "app_metadata": { "tenant_id": TENANT, "viva_role": "interviewer" },
        });
        let user = check_claims(good.clone(), now).unwrap();
        assert_eq!(user.user_id, USER);
        assert_eq!(user.email, "a@example.com");
        assert_eq!(user.tenant_id, TENANT);
        assert_eq!(user.role, Some(Role::Interviewer));
        assert_eq!(user.auth_session, "s-1");
        assert_eq!(user.claims, good);

        let with = |patch: serde_json::Value| {
            let mut claims = good.clone();
            for (name, value) in patch.as_object().unwrap() {
                if value.is_null() {
                    claims.as_object_mut().unwrap().remove(name);
                } else {
                    claims[name] = value.clone();
                }
            }
            check_claims(claims, now)
        };
        // No leeway: `exp` equal to now is already expired, as in jose.
        assert_eq!(with(json!({"exp": now})), Err(TokenRefusal::Expired));
        assert_eq!(with(json!({"exp": null})), Err(TokenRefusal::Invalid));
        assert_eq!(with(json!({"exp": "soon"})), Err(TokenRefusal::Invalid));
        assert_eq!(with(json!({"iat": "then"})), Err(TokenRefusal::Invalid));
        assert_eq!(with(json!({"nbf": now + 1.0})), Err(TokenRefusal::Invalid));
        assert!(with(json!({"nbf": now})).is_ok());
        assert_eq!(with(json!({"sub": "u"})), Err(TokenRefusal::Invalid));
        assert_eq!(with(json!({"sub": 7})), Err(TokenRefusal::Invalid));

        let bare = with(json!({"email": null, "session_id": null, "app_metadata": null})).unwrap();
        assert_eq!(
            (bare.email, bare.auth_session, bare.tenant_id, bare.role),
            (String::new(), String::new(), String::new(), None)
        );
        let odd =
            with(json!({"app_metadata": {"tenant_id": "acme", "viva_role": "admin"}})).unwrap();
        assert_eq!((odd.tenant_id, odd.role), (String::new(), None));
        let candidate = with(json!({"app_metadata": {"viva_role": "candidate"}})).unwrap();
        assert_eq!(candidate.role, Some(Role::Candidate));
    }

    fn ec_jwk(extra: serde_json::Value) -> serde_json::Value {
        // The P-256 generator point: a valid public key.
        let mut jwk = json!({
            "kty": "EC", "crv": "P-256",
            "x": "axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY",
            "y": "T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU",
        });
        for (name, value) in extra.as_object().unwrap() {
            jwk[name] = value.clone();
        }
        jwk
    }

    /// `bits` one bits in base64url: enough to be read as a modulus of that size.
    fn rsa_modulus(bits: usize) -> String {
        let mut text = "_".repeat(bits / 6);
        if !bits.is_multiple_of(6) {
            // The last character's used bits are ones, the rest zeros: `w` is 110000.
            assert_eq!(bits % 6, 2);
            text.push('w');
        }
        text
    }

    fn parsed(keys: serde_json::Value) -> Vec<Key> {
        parse_key_set(json!({ "keys": keys }).to_string().as_bytes()).unwrap()
    }

    #[test]
    fn jwks_only_es256_and_rs256_signing_keys_are_kept() {
        let kept = parsed(json!([
            ec_jwk(json!({"kid": "a"})),
            ec_jwk(json!({"kid": "b", "alg": "ES256", "use": "sig", "key_ops": ["verify"]})),
        ]));
        assert_eq!(kept.len(), 2);
        assert!(kept.iter().all(|key| key.alg == Algorithm::ES256));

        let skipped = parsed(json!([
            ec_jwk(json!({"alg": "RS256"})),
            ec_jwk(json!({"alg": "ES384"})),
            ec_jwk(json!({"use": "enc"})),
            ec_jwk(json!({"key_ops": ["sign"]})),
            ec_jwk(json!({"crv": "P-384"})),
            {"kty": "oct", "k": "c2VjcmV0"},
            {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty": "RSA", "e": "AQAB", "n": rsa_modulus(512)},
            {"kty": "RSA", "e": "AQAB", "n": rsa_modulus(2048), "alg": "PS256"},
            {"kty": "RSA", "e": "AQAB", "n": rsa_modulus(2048), "alg": "RS512"},
        ]));
        assert!(skipped.is_empty());
        let rsa =
            parsed(json!([{"kty": "RSA", "e": "AQAB", "n": rsa_modulus(2048), "alg": "RS256"}]));
        assert_eq!(rsa.first().map(|key| key.alg), Some(Algorithm::RS256));

        assert!(parse_key_set(b"<html>").is_err());
        assert!(parse_key_set(b"{\"keys\": 3}").is_err());
        assert!(parsed(json!([])).is_empty());
    }

    #[test]
    fn jwks_modulus_bits_ignore_leading_zeros() {
        assert_eq!(modulus_bits(&[]), 0);
        assert_eq!(modulus_bits(&[0, 0]), 0);
        assert_eq!(modulus_bits(&[1]), 1);
        assert_eq!(modulus_bits(&[0, 0x80, 0]), 16);
        assert_eq!(modulus_bits(&[0xff; 256]), 2048);
        assert_eq!(modulus_bits(&[0x7f; 256]), 2047);
    }

    #[test]
    fn jwks_selection_needs_exactly_one_key() {
        let keys = parsed(json!([
            ec_jwk(json!({"kid": "a"})),
            ec_jwk(json!({"kid": "b"})),
        ]));
        assert!(matches!(
            select(&keys, Algorithm::ES256, Some("a")),
            Selection::One(key) if key.kid.as_deref() == Some("a")
        ));
        assert!(matches!(
            select(&keys, Algorithm::ES256, Some("c")),
            Selection::None
        ));
        assert!(matches!(
            select(&keys, Algorithm::RS256, Some("a")),
            Selection::None
        ));
        assert!(matches!(
            select(&keys, Algorithm::ES256, None),
            Selection::Several
        ));
        assert!(matches!(
            select(&keys[..1], Algorithm::ES256, None),
            Selection::One(_)
        ));
    }

    #[test]
    fn jwks_empty_legacy_secret_is_refused() {
        assert!(matches!(
            JwksVerifier::new("http://127.0.0.1:1/jwks.json", Some(String::new())),
            Err(JwksError::EmptyLegacySecret)
        ));
    }
}
