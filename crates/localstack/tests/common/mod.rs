//! A local stack on loopback and an HTTP client that speaks to it like Viva does.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod candidate;

use reqwest::StatusCode;
use serde_json::{Value, json};
use viva_localstack::{Config, LocalStack};

pub struct Stack {
    pub http: reqwest::Client,
    pub stack: LocalStack,
}

pub struct Account {
    pub user_id: String,
    pub access_token: String,
    pub refresh_token: String,
}

impl Stack {
    pub async fn start(config: Config) -> Self {
        Self {
            http: reqwest::Client::new(),
            stack: LocalStack::start(config).await.unwrap(),
        }
    }

    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.stack.base_url))
            .header("apikey", &self.stack.anon_key);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> Account {
        let response = self
            .request(
                reqwest::Method::POST,
                "/auth/v1/token?grant_type=password",
                None,
            )
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        Account {
            user_id: body["user"]["id"].as_str().unwrap().to_owned(),
            access_token: body["access_token"].as_str().unwrap().to_owned(),
            refresh_token: body["refresh_token"].as_str().unwrap().to_owned(),
        }
    }

    /// Creates an account with a role in a tenant and signs it in.
    pub async fn account(&self, email: &str, tenant: &str, role: &str) -> Account {
        self.stack
            .add_user(email, "password-1", tenant, role)
            .await
            .unwrap();
        self.sign_in(email, "password-1").await
    }

    pub async fn get(
        &self,
        path: &str,
        token: &str,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let response = self
            .request(reqwest::Method::GET, path, Some(token))
            .header("Prefer", "count=exact")
            .send()
            .await
            .unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        (
            status,
            headers,
            response.json().await.unwrap_or(Value::Null),
        )
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let response = self
            .request(method, path, Some(token))
            .header("Prefer", "return=representation")
            .json(&body)
            .send()
            .await
            .unwrap();
        (
            response.status(),
            response.json().await.unwrap_or(Value::Null),
        )
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.stack.base_url))
            .header("apikey", &self.stack.anon_key)
    }

    pub fn get_unauthenticated(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.stack.base_url))
            .header("apikey", &self.stack.anon_key)
    }

    pub async fn signup(&self, email: &str, password: &str) -> (StatusCode, Value) {
        let response = self
            .post("/auth/v1/signup")
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        (
            response.status(),
            response.json().await.unwrap_or(Value::Null),
        )
    }

    pub async fn refresh(&self, token: &str) -> (StatusCode, Value) {
        let response = self
            .post("/auth/v1/token?grant_type=refresh_token")
            .json(&json!({"refresh_token": token}))
            .send()
            .await
            .unwrap();
        (
            response.status(),
            response.json().await.unwrap_or(Value::Null),
        )
    }

    pub async fn current_user(&self, access_token: &str) -> (StatusCode, Value) {
        let response = self
            .get_unauthenticated("/auth/v1/user")
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap();
        (
            response.status(),
            response.json().await.unwrap_or(Value::Null),
        )
    }

    /// Starts a practice interview for the signed-in candidate; returns its session id.
    pub async fn start_practice(&self, access_token: &str) -> String {
        let response = self
            .request(
                reqwest::Method::POST,
                "/functions/v1/interview-start",
                Some(access_token),
            )
            .json(&json!({"mode": "practice"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let started: Value = response.json().await.unwrap();
        started["session"]["id"].as_str().unwrap().to_owned()
    }

    /// `interview-start` with `body`; returns the whole answer.
    pub async fn interview_start(&self, access_token: &str, body: Value) -> Value {
        let response = self
            .request(
                reqwest::Method::POST,
                "/functions/v1/interview-start",
                Some(access_token),
            )
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }
}
