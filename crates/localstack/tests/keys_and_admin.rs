//! What the hosted functions and operators rely on from the local stack: access tokens signed
//! with a key anyone can fetch from the JWKS (ES256 by default, the legacy HS256 on request),
//! the Auth admin API only for the service-role key, and OpenAI's `client_secrets` endpoint.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

mod common;

use common::Stack;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use viva_localstack::Config;
use viva_localstack::jwt::TokenAlgorithm;

async fn jwks(s: &Stack) -> JwkSet {
    // Public, as on hosted Supabase: no apikey.
    let response = s
        .http
        .get(format!(
            "{}/auth/v1/.well-known/jwks.json",
            s.stack.base_url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// Verifies `token` with nothing but the published keys, as a function elsewhere would.
fn verify_with(set: &JwkSet, token: &str) -> Result<Value, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    let kid = header.kid.ok_or("no kid")?;
    let jwk = set.find(&kid).ok_or("kid not in the JWKS")?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&["authenticated"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map(|d| d.claims)
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn access_tokens_verify_against_the_published_jwks_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: Some(dir.path().to_owned()),
        ..Config::default()
    };
    let s = Stack::start(config.clone()).await;
    let tenant = s.stack.add_tenant("Acme").await.unwrap();
    let account = s.account("ca@acme.test", &tenant, "candidate").await;
    let set = jwks(&s).await;
    assert_eq!(set.keys.len(), 1);
    let published = serde_json::to_value(&set).unwrap();
    assert!(
        published["keys"][0].get("d").is_none(),
        "a private part is published: {published}"
    );
    let claims = verify_with(&set, &account.access_token).unwrap();
    assert_eq!(claims["app_metadata"]["tenant_id"], tenant);
    // A token whose payload was changed (another tenant) no longer verifies.
    let mut parts: Vec<String> = account.access_token.split('.').map(str::to_owned).collect();
    let forged = serde_json::to_vec(&json!({"sub": claims["sub"], "aud": "authenticated", "exp": claims["exp"], "app_metadata": {"tenant_id": "someone-else"}})).unwrap();
    parts[1] = base64_url(&forged);
    assert!(verify_with(&set, &parts.join(".")).is_err());
    s.stack.shutdown().await;

    // The same install keeps its key: the token issued before the restart still works.
    let s = Stack::start(config).await;
    assert_eq!(serde_json::to_value(jwks(&s).await).unwrap(), published);
    let (status, _) = s
        .send(
            Method::POST,
            "/functions/v1/interview-start",
            &account.access_token,
            json!({"mode": "practice"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    s.stack.shutdown().await;
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test]
async fn the_legacy_hs256_secret_still_signs_when_asked_and_is_never_published() {
    let s = Stack::start(Config {
        token_algorithm: TokenAlgorithm::Hs256,
        ..Config::default()
    })
    .await;
    let tenant = s.stack.add_tenant("Acme").await.unwrap();
    let account = s.account("ca@acme.test", &tenant, "candidate").await;
    let header = jsonwebtoken::decode_header(&account.access_token).unwrap();
    assert_eq!(header.alg, Algorithm::HS256);
    let set = jwks(&s).await;
    assert!(
        set.keys
            .iter()
            .all(|k| k.common.key_algorithm.map(|a| a.to_string()) == Some("ES256".into()))
    );
    assert!(verify_with(&set, &account.access_token).is_err());
    let (status, body) = s
        .send(
            Method::POST,
            "/functions/v1/interview-start",
            &account.access_token,
            json!({"mode": "practice"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    s.stack.shutdown().await;
}

#[tokio::test]
async fn the_admin_api_answers_only_the_service_role_key() {
    let s = Stack::start(Config::default()).await;
    let tenant = s.stack.add_tenant("Acme").await.unwrap();
    let candidate = s.account("ca@acme.test", &tenant, "candidate").await;
    let interviewer = s.account("ia@acme.test", &tenant, "interviewer").await;
    let service = s.stack.state.keys.service_role_key().unwrap();
    let path = format!("/auth/v1/admin/users/{}", candidate.user_id);
    let put = |bearer: Option<String>, body: Value| {
        let mut request = s
            .request(Method::PUT, &path, None)
            .header("X-Supabase-Api-Version", "2024-01-01");
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        async move {
            let response = request.json(&body).send().await.unwrap();
            (
                response.status(),
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let promote = json!({"app_metadata": {"viva_role": "interviewer"}});
    // A user promoting themselves, an interviewer promoting a candidate, the anon key, nothing.
    for bearer in [
        Some(candidate.access_token.clone()),
        Some(interviewer.access_token.clone()),
        Some(s.stack.anon_key.clone()),
    ] {
        let (status, body) = put(bearer, promote.clone()).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("not_admin")),
            "{body}"
        );
    }
    assert_eq!(put(None, promote.clone()).await.0, StatusCode::UNAUTHORIZED);
    // Keys this stack does not keep, and a role that is not Viva's, are refused, not dropped.
    for bad in [
        json!({"app_metadata": {"is_admin": true}}),
        json!({"app_metadata": {"viva_role": "owner"}}),
        json!({"app_metadata": {"tenant_id": "no-such-tenant"}}),
    ] {
        let (status, body) = put(Some(service.clone()), bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    let listed = s
        .request(Method::GET, "/auth/v1/admin/users?filter=ca%40", None)
        .bearer_auth(&candidate.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::FORBIDDEN);
    let listed: Value = s
        .request(Method::GET, "/auth/v1/admin/users?filter=ca%40", None)
        .bearer_auth(&service)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["users"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["users"][0]["app_metadata"]["viva_role"], "candidate");
    // The service-role key itself is no user's token: it cannot start an interview.
    let (status, _) = s
        .send(
            Method::POST,
            "/functions/v1/interview-start",
            &service,
            json!({"mode": "practice"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, body) = put(Some(service.clone()), promote).await;
    assert_eq!(
        (status, &body["app_metadata"]["viva_role"]),
        (StatusCode::OK, &json!("interviewer"))
    );
    s.stack.shutdown().await;
}

#[tokio::test]
async fn client_secrets_are_minted_for_the_project_key_only_and_open_realtime_calls() {
    let s = Stack::start(Config {
        live_api_key: Some("sk-local-project".into()),
        ..Config::default()
    })
    .await;
    let mint = |key: Option<&str>, body: Value| {
        let mut request = s
            .http
            .post(format!("{}/v1/realtime/client_secrets", s.stack.base_url));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        async move {
            let response = request.json(&body).send().await.unwrap();
            (
                response.status(),
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let session = json!({"type": "realtime", "model": "gpt-realtime", "instructions": "You are Viva's interviewer for the `software_engineer` question set. Ask."});
    let body =
        json!({"expires_after": {"anchor": "created_at", "seconds": 600}, "session": session});
    for key in [None, Some("sk-wrong"), Some(s.stack.anon_key.as_str())] {
        let (status, reply) = mint(key, body.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{reply}");
        assert!(reply["error"]["message"].is_string());
    }
    for bad in [
        json!({"session": {"type": "transcription"}}),
        json!({"expires_after": {"seconds": 99999}, "session": session}),
    ] {
        assert_eq!(
            mint(Some("sk-local-project"), bad).await.0,
            StatusCode::BAD_REQUEST
        );
    }
    let (status, secret) = mint(Some("sk-local-project"), body).await;
    assert_eq!(status, StatusCode::OK, "{secret}");
    let value = secret["value"].as_str().unwrap();
    assert!(value.starts_with("ek_"));
    let left = secret["expires_at"].as_i64().unwrap() - chrono::Utc::now().timestamp();
    assert!((590..=600).contains(&left), "{left}");
    assert_eq!(secret["session"], session);

    // The secret opens the Realtime calls endpoint (a broken offer is the next thing refused);
    // an unknown one does not.
    let offer = |bearer: &str| {
        s.http
            .post(format!("{}/v1/realtime/calls", s.stack.base_url))
            .bearer_auth(bearer)
            .header("content-type", "application/sdp")
            .body("v=0\r\n")
            .send()
    };
    let accepted = offer(value).await.unwrap();
    assert_eq!(accepted.status(), StatusCode::BAD_REQUEST);
    let refused = offer("ek_not_minted").await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    s.stack.shutdown().await;
}

#[test]
fn the_question_set_is_read_back_only_from_viva_instructions() {
    use viva_localstack::calls::question_set_of;
    use viva_localstack::functions::instructions;
    assert_eq!(
        question_set_of(&instructions("product_manager")),
        "product_manager"
    );
    for other in [
        "Be nice.",
        "You are Viva's interviewer for the `Robert'); DROP` question set.",
        "",
    ] {
        assert_eq!(question_set_of(other), "general_behavioural");
    }
}
