//! Access tokens: HS256 JWTs with the claims Supabase issues (docs/protocols.md §1), signed with a
//! secret generated once per install and kept in the local stack's database.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Claims Viva relies on. Tenant and role are in `app_metadata`, which users cannot edit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub aud: String,
    pub role: String,
    pub exp: i64,
    pub iat: i64,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub session_id: String,
    #[serde(default)]
    pub app_metadata: AppMetadata,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppMetadata {
    #[serde(default)]
    pub provider: String,
    #[serde(default)]
    pub tenant_id: String,
    #[serde(default)]
    pub viva_role: String,
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is expired")]
    Expired,
    #[error("unable to parse or verify signature")]
    Invalid,
}

/// Signs and checks tokens.
#[derive(Clone)]
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// How long an access token lives, in seconds (tests use a few seconds).
    pub lifetime_s: i64,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("lifetime_s", &self.lifetime_s)
            .finish_non_exhaustive()
    }
}

impl Keys {
    pub fn new(secret: &str, lifetime_s: i64) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            lifetime_s,
        }
    }

    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, TokenError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|_| TokenError::Invalid)
    }

    /// Checks signature, expiry (no leeway: tests use short lifetimes) and audience.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_audience(&["authenticated"]);
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|error| match error.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
    }

    /// The anon key clients send as `apikey`: a long-lived JWT with role `anon`.
    pub fn anon_key(&self) -> Result<String, TokenError> {
        #[derive(Serialize)]
        struct Anon<'a> {
            iss: &'a str,
            role: &'a str,
            iat: i64,
            exp: i64,
        }
        let iat = 1_700_000_000;
        self.sign(&Anon {
            iss: "viva-localstack",
            role: "anon",
            iat,
            exp: iat + 20 * 365 * 24 * 3600,
        })
    }
}
