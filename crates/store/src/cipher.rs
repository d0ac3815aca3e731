//! Secrets at rest: AES-256-GCM with a random 96-bit nonce per message.
//!
//! Format: `v1:` + base64(nonce ‖ ciphertext ‖ tag). The version prefix leaves room for key rotation.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use rand::RngCore;

use crate::StoreError;

const PREFIX: &str = "v1:";
const NONCE_LEN: usize = 12;

#[derive(Clone)]
pub struct Cipher {
    aead: Aes256Gcm,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher { key: <redacted> }")
    }
}

impl Cipher {
    pub fn new(key: [u8; 32]) -> Self {
        Cipher {
            aead: Aes256Gcm::new(&key.into()),
        }
    }

    pub fn encrypt(&self, plaintext: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        // Encryption with a valid key and in-memory buffer cannot fail; the error type is opaque.
        let ct = match self
            .aead
            .encrypt(Nonce::from_slice(&nonce), plaintext.as_bytes())
        {
            Ok(ct) => ct,
            Err(_) => unreachable!("AES-GCM encryption of an in-memory buffer does not fail"),
        };
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        format!("{PREFIX}{}", B64.encode(out))
    }

    /// Corrupt when the text is not ours, was tampered with, or was sealed with another key.
    pub fn decrypt(&self, s: &str) -> Result<String, StoreError> {
        let body = s
            .strip_prefix(PREFIX)
            .ok_or_else(|| StoreError::Corrupt("unknown secret format".into()))?;
        let raw = B64
            .decode(body)
            .map_err(|_| StoreError::Corrupt("secret is not valid base64".into()))?;
        if raw.len() < NONCE_LEN + 16 {
            return Err(StoreError::Corrupt("secret is truncated".into()));
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let pt = self
            .aead
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| {
                StoreError::Corrupt("secret failed authentication (tampered or wrong key)".into())
            })?;
        String::from_utf8(pt).map_err(|_| StoreError::Corrupt("secret is not UTF-8".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_fresh_nonces() {
        let c = Cipher::new([7u8; 32]);
        let a = c.encrypt("apiVersion: v1\nkind: Config\n");
        let b = c.encrypt("apiVersion: v1\nkind: Config\n");
        assert!(a.starts_with("v1:"));
        assert_ne!(a, b, "each message gets its own nonce");
        assert_eq!(c.decrypt(&a).unwrap(), "apiVersion: v1\nkind: Config\n");
        assert_eq!(c.decrypt(&c.encrypt("")).unwrap(), "");
    }

    #[test]
    fn tamper_is_detected() {
        let c = Cipher::new([1u8; 32]);
        let s = c.encrypt("secret");
        let mut raw = B64.decode(&s[3..]).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 0x01;
        let forged = format!("v1:{}", B64.encode(&raw));
        assert!(matches!(c.decrypt(&forged), Err(StoreError::Corrupt(_))));
        assert!(matches!(c.decrypt("v1:@@@"), Err(StoreError::Corrupt(_))));
        assert!(matches!(c.decrypt("plain"), Err(StoreError::Corrupt(_))));
        assert!(matches!(c.decrypt("v1:AAAA"), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn wrong_key_is_detected() {
        let s = Cipher::new([1u8; 32]).encrypt("secret");
        assert!(matches!(
            Cipher::new([2u8; 32]).decrypt(&s),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn debug_hides_the_key() {
        let d = format!("{:?}", Cipher::new([0xAB; 32]));
        assert!(
            !d.contains("171") && !d.to_lowercase().contains("ab,"),
            "{d}"
        );
        assert!(d.contains("redacted"));
    }
}
