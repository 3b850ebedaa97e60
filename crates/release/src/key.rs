//! The release key: a minisign key pair, carried as Tauri carries it (the key files' text,
//! base64-encoded: `plugins.updater.pubkey` for the public half, `TAURI_SIGNING_PRIVATE_KEY`
//! for the private half).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use minisign::{KeyPair, PublicKey, PublicKeyBox, SecretKey, SecretKeyBox, SignatureBox};

use crate::ReleaseError;

/// A key that signs updater artifacts.
pub struct ReleaseKey {
    public: PublicKey,
    secret: SecretKey,
}

impl std::fmt::Debug for ReleaseKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret half never reaches a log.
        f.debug_struct("ReleaseKey")
            .field("public", &self.public_key())
            .finish_non_exhaustive()
    }
}

fn decode_text(encoded: &str, what: &str) -> Result<String, ReleaseError> {
    let bytes = STANDARD
        .decode(encoded.trim())
        .map_err(|e| ReleaseError::Key(format!("{what} is not base64: {e}")))?;
    String::from_utf8(bytes).map_err(|e| ReleaseError::Key(format!("{what} is not text: {e}")))
}

impl ReleaseKey {
    /// A key without a password, for tests: made at test time, never stored.
    pub fn generate_for_tests() -> Result<Self, ReleaseError> {
        let KeyPair { pk, sk } = KeyPair::generate_unencrypted_keypair()
            .map_err(|e| ReleaseError::Key(e.to_string()))?;
        Ok(Self {
            public: pk,
            secret: sk,
        })
    }

    /// A new release key protected by `password`: the key and its private half as
    /// `TAURI_SIGNING_PRIVATE_KEY` takes it (encrypted; useless without the password).
    pub fn generate(password: &str) -> Result<(Self, String), ReleaseError> {
        if password.is_empty() {
            return Err(ReleaseError::Key(
                "a release key needs a password; an unprotected key is one leak from a forged update"
                    .into(),
            ));
        }
        let KeyPair { pk, sk } = KeyPair::generate_encrypted_keypair(Some(password.to_owned()))
            .map_err(|e| ReleaseError::Key(e.to_string()))?;
        let encrypted = sk
            .to_box(Some("Viva release key"))
            .map_err(|e| ReleaseError::Key(e.to_string()))?
            .to_string();
        let key = Self::from_private_key(&STANDARD.encode(&encrypted), Some(password))?;
        debug_assert_eq!(key.public.keynum(), pk.keynum());
        Ok((key, STANDARD.encode(encrypted)))
    }

    /// The key from `TAURI_SIGNING_PRIVATE_KEY`'s value. Without a password an unencrypted key
    /// is used as it is and an encrypted one is tried with the empty password (as Tauri's
    /// `signer generate` makes it when none is given).
    pub fn from_private_key(encoded: &str, password: Option<&str>) -> Result<Self, ReleaseError> {
        let text = decode_text(encoded, "the private key")?;
        let sk_box = SecretKeyBox::from_string(&text)
            .map_err(|e| ReleaseError::Key(format!("not a minisign secret key: {e}")))?;
        let secret = match password {
            Some(password) => SecretKey::from_box(sk_box, Some(password.to_owned())),
            None => SecretKey::from_unencrypted_box(sk_box.clone())
                .or_else(|_| SecretKey::from_box(sk_box, Some(String::new()))),
        }
        .map_err(|e| {
            let detail = e.to_string();
            if password.is_none() && detail.contains("password") {
                ReleaseError::KeyPassword
            } else {
                ReleaseError::Key(format!("not a usable minisign secret key: {detail}"))
            }
        })?;
        let public =
            PublicKey::from_secret_key(&secret).map_err(|e| ReleaseError::Key(e.to_string()))?;
        Ok(Self { public, secret })
    }

    /// The private half as `TAURI_SIGNING_PRIVATE_KEY` takes it, unencrypted: for handing a
    /// test key to a child process only.
    pub fn private_key_for_tests(&self) -> Result<String, ReleaseError> {
        let text = self
            .secret
            .to_box(None)
            .map_err(|e| ReleaseError::Key(e.to_string()))?
            .to_string();
        Ok(STANDARD.encode(text))
    }

    /// The public half as `plugins.updater.pubkey` holds it.
    pub fn public_key(&self) -> String {
        let text = self
            .public
            .to_box()
            .map(PublicKeyBox::into_string)
            .unwrap_or_default();
        STANDARD.encode(text)
    }

    /// Whether `pubkey` (as `plugins.updater.pubkey` holds it) is this key's public half.
    pub fn matches(&self, pubkey: &str) -> bool {
        decode_text(pubkey, "the public key")
            .ok()
            .and_then(|text| PublicKeyBox::from_string(&text).ok())
            .and_then(|pk_box| pk_box.into_public_key().ok())
            .is_some_and(|pk| pk.to_bytes() == self.public.to_bytes())
    }

    /// `bytes`' signature as an update manifest carries it (the `.sig` file's text, base64).
    /// The trusted comment names the file, as Tauri's signer does.
    pub fn sign(&self, bytes: &[u8], file_name: &str) -> Result<String, ReleaseError> {
        let comment = format!(
            "timestamp:{}\tfile:{file_name}",
            chrono::Utc::now().timestamp()
        );
        let signature = minisign::sign(
            Some(&self.public),
            &self.secret,
            std::io::Cursor::new(bytes),
            Some(&comment),
            Some("signature from the Viva release key"),
        )
        .map_err(|e| ReleaseError::Sign(e.to_string()))?;
        Ok(STANDARD.encode(signature.into_string()))
    }
}

/// Checks `signature` (as a manifest carries it) over `bytes` against `pubkey` (as
/// `plugins.updater.pubkey` holds it).
pub fn verify(pubkey: &str, bytes: &[u8], signature: &str) -> Result<(), ReleaseError> {
    let pk_text = decode_text(pubkey, "the public key")?;
    let public = PublicKeyBox::from_string(&pk_text)
        .and_then(PublicKeyBox::into_public_key)
        .map_err(|e| ReleaseError::Key(e.to_string()))?;
    let sig_text = decode_text(signature, "the signature")?;
    let signature =
        SignatureBox::from_string(&sig_text).map_err(|e| ReleaseError::Verify(e.to_string()))?;
    minisign::verify(
        &public,
        &signature,
        std::io::Cursor::new(bytes),
        true,
        false,
        false,
    )
    .map_err(|e| ReleaseError::Verify(e.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_against_its_key_and_fails_for_other_bytes_or_keys() {
        let key = ReleaseKey::generate_for_tests().unwrap();
        let build = b"a build".to_vec();
        let signature = key.sign(&build, "Viva_1.2.0_amd64.deb").unwrap();
        verify(&key.public_key(), &build, &signature).unwrap();
        assert!(verify(&key.public_key(), b"a build!", &signature).is_err());
        let other = ReleaseKey::generate_for_tests().unwrap();
        assert!(verify(&other.public_key(), &build, &signature).is_err());
    }

    #[test]
    fn the_private_key_round_trips_through_tauris_format_and_keeps_its_public_half() {
        let key = ReleaseKey::generate_for_tests().unwrap();
        let again =
            ReleaseKey::from_private_key(&key.private_key_for_tests().unwrap(), None).unwrap();
        assert_eq!(again.public_key(), key.public_key());
        assert!(again.matches(&key.public_key()));
        assert!(!again.matches("PLACEHOLDER"));
        assert!(!again.matches(&ReleaseKey::generate_for_tests().unwrap().public_key()));
    }

    #[test]
    fn a_protected_key_needs_its_password_and_says_so() {
        let (key, private) = ReleaseKey::generate("correct horse").unwrap();
        assert!(!private.is_empty());
        let error = ReleaseKey::from_private_key(&private, None).unwrap_err();
        assert!(matches!(error, ReleaseError::KeyPassword), "{error}");
        assert!(ReleaseKey::from_private_key(&private, Some("wrong")).is_err());
        let opened = ReleaseKey::from_private_key(&private, Some("correct horse")).unwrap();
        assert_eq!(opened.public_key(), key.public_key());
        assert!(ReleaseKey::generate("").is_err());
    }

    #[test]
    fn garbage_instead_of_a_key_is_a_clear_error() {
        let error = ReleaseKey::from_private_key("not a key", None).unwrap_err();
        assert!(error.to_string().contains("not base64"), "{error}");
        let error = ReleaseKey::from_private_key(&STANDARD.encode("hello"), None).unwrap_err();
        assert!(error.to_string().contains("minisign"), "{error}");
    }
}
