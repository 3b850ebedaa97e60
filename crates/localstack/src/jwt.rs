//! Access tokens as hosted Supabase issues them today (docs/protocols.md §1): user tokens signed
//! with an asymmetric key (ES256, published at `/auth/v1/.well-known/jwks.json`) or, when asked,
//! with the legacy shared secret (HS256); the API keys (`anon`, `service_role`) are legacy HS256
//! JWTs. The keys are generated once per install and kept in the local stack's database.

use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use p256::pkcs8::EncodePrivateKey;
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

/// Why a token was refused, or keys could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is expired")]
    Expired,
    #[error("unable to parse or verify signature")]
    Invalid,
    #[error("the stored signing key is damaged")]
    BadKey,
}

/// Which algorithm signs new access tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenAlgorithm {
    /// An asymmetric key whose public half anyone can fetch (Supabase's default today).
    #[default]
    Es256,
    /// The legacy shared secret (projects that have not moved to signing keys).
    Hs256,
}

/// The stored secrets the keys are made from.
#[derive(Clone)]
pub struct KeyMaterial {
    /// The legacy JWT secret (HS256).
    pub legacy_secret: String,
    /// The ES256 private scalar, 32 bytes in hex.
    pub es256_scalar_hex: String,
    /// The ES256 key's id (`kid`), as listed in the JWKS.
    pub es256_kid: String,
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("es256_kid", &self.es256_kid)
            .finish_non_exhaustive()
    }
}

/// A fresh ES256 private scalar, in hex, for [`KeyMaterial::es256_scalar_hex`].
pub fn new_es256_scalar_hex() -> Result<String, TokenError> {
    // A scalar of zero or above the curve order is refused by `from_slice`; draw again (the odds
    // are about 2^-32 per draw).
    for _ in 0..8 {
        let mut bytes = [0_u8; 32];
        getrandom::fill(&mut bytes).map_err(|_| TokenError::BadKey)?;
        if p256::SecretKey::from_slice(&bytes).is_ok() {
            return Ok(bytes.iter().map(|b| format!("{b:02x}")).collect());
        }
    }
    Err(TokenError::BadKey)
}

fn from_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
        })
        .collect()
}

/// Signs and checks tokens.
#[derive(Clone)]
pub struct Keys {
    legacy_encoding: EncodingKey,
    legacy_decoding: DecodingKey,
    es256_encoding: EncodingKey,
    es256_decoding: DecodingKey,
    es256_kid: String,
    /// The ES256 public key as a JWK, for the JWKS endpoint.
    es256_jwk: serde_json::Value,
    algorithm: TokenAlgorithm,
    /// How long an access token lives, in seconds (tests use a few seconds).
    pub lifetime_s: i64,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("algorithm", &self.algorithm)
            .field("es256_kid", &self.es256_kid)
            .field("lifetime_s", &self.lifetime_s)
            .finish_non_exhaustive()
    }
}

impl Keys {
    pub fn new(
        material: &KeyMaterial,
        algorithm: TokenAlgorithm,
        lifetime_s: i64,
    ) -> Result<Self, TokenError> {
        let scalar = from_hex(&material.es256_scalar_hex).ok_or(TokenError::BadKey)?;
        let secret = p256::SecretKey::from_slice(&scalar).map_err(|_| TokenError::BadKey)?;
        let der = secret.to_pkcs8_der().map_err(|_| TokenError::BadKey)?;
        let es256_encoding = EncodingKey::from_ec_der(der.as_bytes());
        let mut jwk = Jwk::from_encoding_key(&es256_encoding, Algorithm::ES256)
            .map_err(|_| TokenError::BadKey)?;
        jwk.common.key_id = Some(material.es256_kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        let es256_decoding = DecodingKey::from_jwk(&jwk).map_err(|_| TokenError::BadKey)?;
        let es256_jwk = serde_json::to_value(&jwk).map_err(|_| TokenError::BadKey)?;
        Ok(Self {
            legacy_encoding: EncodingKey::from_secret(material.legacy_secret.as_bytes()),
            legacy_decoding: DecodingKey::from_secret(material.legacy_secret.as_bytes()),
            es256_encoding,
            es256_decoding,
            es256_kid: material.es256_kid.clone(),
            es256_jwk,
            algorithm,
            lifetime_s,
        })
    }

    /// Signs an access token with the configured algorithm.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, TokenError> {
        match self.algorithm {
            TokenAlgorithm::Es256 => {
                let mut header = Header::new(Algorithm::ES256);
                header.kid = Some(self.es256_kid.clone());
                jsonwebtoken::encode(&header, claims, &self.es256_encoding)
            }
            TokenAlgorithm::Hs256 => self.encode_legacy(claims),
        }
        .map_err(|_| TokenError::Invalid)
    }

    fn encode_legacy<T: Serialize>(&self, claims: &T) -> jsonwebtoken::errors::Result<String> {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &self.legacy_encoding,
        )
    }

    /// Checks signature (ES256 by this stack's key, or HS256 by the legacy secret), expiry (no
    /// leeway: tests use short lifetimes) and audience.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        let key = match header.alg {
            Algorithm::ES256 if header.kid.as_deref().is_none_or(|k| k == self.es256_kid) => {
                &self.es256_decoding
            }
            Algorithm::HS256 => &self.legacy_decoding,
            _ => return Err(TokenError::Invalid),
        };
        let mut validation = Validation::new(header.alg);
        validation.leeway = 0;
        validation.set_audience(&["authenticated"]);
        jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(|error| match error.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
    }

    /// The public keys that verify access tokens: `GET /auth/v1/.well-known/jwks.json`. The
    /// legacy secret is never published.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": [self.es256_jwk] })
    }

    fn api_key(&self, role: &str) -> Result<String, TokenError> {
        #[derive(Serialize)]
        struct ApiKey<'a> {
            iss: &'a str,
            role: &'a str,
            iat: i64,
            exp: i64,
        }
        let iat = 1_700_000_000;
        self.encode_legacy(&ApiKey {
            iss: "viva-localstack",
            role,
            iat,
            exp: iat + 20 * 365 * 24 * 3600,
        })
        .map_err(|_| TokenError::Invalid)
    }

    /// The anon key clients send as `apikey`: a long-lived legacy JWT with role `anon`.
    pub fn anon_key(&self) -> Result<String, TokenError> {
        self.api_key("anon")
    }

    /// The service-role key (administration: the Auth admin API). Never given to users.
    pub fn service_role_key(&self) -> Result<String, TokenError> {
        self.api_key("service_role")
    }

    /// Whether `key` is this stack's service-role key (compared in constant time).
    pub fn is_service_role_key(&self, key: &str) -> bool {
        let Ok(expected) = self.service_role_key() else {
            return false;
        };
        expected.len() == key.len()
            && expected
                .bytes()
                .zip(key.bytes())
                .fold(0_u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn material() -> KeyMaterial {
        KeyMaterial {
            legacy_secret: "a-legacy-secret-that-is-long-enough-for-hs256".into(),
            es256_scalar_hex: new_es256_scalar_hex().unwrap(),
            es256_kid: "kid-1".into(),
        }
    }

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: "u".into(),
            aud: "authenticated".into(),
            role: "authenticated".into(),
            exp,
            iat: 0,
            email: String::new(),
            session_id: String::new(),
            app_metadata: AppMetadata::default(),
        }
    }

    #[test]
    fn es256_tokens_carry_the_kid_and_verify_while_another_installs_key_does_not() {
        let keys = Keys::new(&material(), TokenAlgorithm::Es256, 60).unwrap();
        let token = keys.sign(&claims(i64::MAX / 2)).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(
            (header.alg, header.kid.as_deref()),
            (Algorithm::ES256, Some("kid-1"))
        );
        assert_eq!(keys.verify(&token).unwrap().sub, "u");
        let jwks = keys.jwks();
        assert_eq!(jwks["keys"][0]["kid"], "kid-1");
        assert_eq!(jwks["keys"][0]["crv"], "P-256");
        assert!(jwks["keys"][0].get("d").is_none(), "{jwks}");

        let other = Keys::new(&material(), TokenAlgorithm::Es256, 60).unwrap();
        assert_eq!(other.verify(&token), Err(TokenError::Invalid));
        assert_eq!(
            keys.verify(&keys.sign(&claims(1)).unwrap()),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn hs256_stays_available_and_api_keys_are_not_user_tokens() {
        let keys = Keys::new(&material(), TokenAlgorithm::Hs256, 60).unwrap();
        let token = keys.sign(&claims(i64::MAX / 2)).unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&token).unwrap().alg,
            Algorithm::HS256
        );
        assert!(keys.verify(&token).is_ok());
        // No audience: an API key never passes as a signed-in user.
        assert_eq!(
            keys.verify(&keys.anon_key().unwrap()),
            Err(TokenError::Invalid)
        );
        let service = keys.service_role_key().unwrap();
        assert_eq!(keys.verify(&service), Err(TokenError::Invalid));
        assert!(keys.is_service_role_key(&service));
        assert!(!keys.is_service_role_key(&keys.anon_key().unwrap()));
    }
}
