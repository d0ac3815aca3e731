//! Access tokens (short-lived HS256 JWTs), refresh tokens and API keys (opaque, stored as hashes).

use chrono::{DateTime, Utc};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const ISSUER: &str = "kubedb-dbaas";
const AUDIENCE: &str = "kubedb-dbaas-api";
/// Seconds a token is still taken after its `exp` (clock skew between replicas).
const LEEWAY_SECS: i64 = 5;

#[derive(Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    pub typ: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

#[derive(Clone)]
pub struct TokenService {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub access_ttl_secs: i64,
    /// Access tokens already checked (signature, issuer, audience, type), with their subject and
    /// expiry. A client presents the same token on every request, and checking it again (base64,
    /// HMAC, two JSON documents) was a tenth of what a cached read costs. Only tokens that passed
    /// are kept, so garbage cannot fill it; expiry is still checked on every use.
    verified: moka::sync::Cache<String, (String, i64)>,
}

impl TokenService {
    pub fn new(signing_key: &[u8; 32], access_ttl_secs: u64) -> Self {
        // Only HS256 is accepted: `alg: none` and algorithm confusion are refused by construction.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS as u64;
        TokenService {
            encoding: EncodingKey::from_secret(signing_key),
            decoding: DecodingKey::from_secret(signing_key),
            validation,
            access_ttl_secs: access_ttl_secs as i64,
            verified: moka::sync::Cache::builder()
                .max_capacity(50_000)
                .time_to_live(std::time::Duration::from_secs(
                    access_ttl_secs + LEEWAY_SECS as u64,
                ))
                .build(),
        }
    }

    pub fn issue_access(&self, user_id: &str, now: DateTime<Utc>) -> String {
        let claims = AccessClaims {
            sub: user_id.to_string(),
            typ: "access".into(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            iat: now.timestamp(),
            exp: now.timestamp() + self.access_ttl_secs,
            jti: uuid::Uuid::new_v4().simple().to_string(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing cannot fail")
    }

    /// The user id of a valid, unexpired access token.
    pub fn verify_access(&self, token: &str) -> Option<String> {
        if let Some((sub, exp)) = self.verified.get(token) {
            return (Utc::now().timestamp() <= exp + LEEWAY_SECS).then_some(sub);
        }
        let claims = decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .ok()?
            .claims;
        if claims.typ != "access" {
            return None;
        }
        self.verified
            .insert(token.to_string(), (claims.sub.clone(), claims.exp));
        Some(claims.sub)
    }
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

fn random_text(n: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

/// A new refresh token (`dbaas_rt_…`), 256 bits of randomness.
pub fn new_refresh_token() -> String {
    format!("dbaas_rt_{}", random_text(43))
}

/// A new value for the console's CSRF cookie (and header).
pub fn new_csrf_token() -> String {
    random_text(32)
}

/// A new API key and its lookup prefix: `dbaas_<prefix>_<secret>`.
pub fn new_api_key() -> (String, String) {
    let prefix = random_text(10).to_lowercase();
    let key = format!("dbaas_{prefix}_{}", random_text(40));
    (key, prefix)
}

/// The lookup prefix of something shaped like an API key.
pub fn api_key_prefix(key: &str) -> Option<&str> {
    let rest = key.strip_prefix("dbaas_")?;
    if rest.starts_with("rt_") {
        return None;
    }
    let (prefix, secret) = rest.split_once('_')?;
    (prefix.len() == 10 && secret.len() == 40).then_some(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn svc() -> TokenService {
        TokenService::new(&[7u8; 32], 60)
    }

    #[test]
    fn access_tokens_verify_and_expire() {
        let s = svc();
        let t = s.issue_access("user-1", Utc::now());
        assert_eq!(s.verify_access(&t).as_deref(), Some("user-1"));
        let old = s.issue_access("user-1", Utc::now() - chrono::Duration::seconds(3600));
        assert_eq!(s.verify_access(&old), None);
        let other = TokenService::new(&[8u8; 32], 60);
        assert_eq!(other.verify_access(&t), None, "signed with another key");
    }

    /// A token taken once is remembered, and still refused once it expires.
    #[test]
    fn a_remembered_token_still_expires() {
        let s = svc();
        // Its last second: issued one TTL plus the leeway ago, less one second.
        let issued = Utc::now() - chrono::Duration::seconds(60 + LEEWAY_SECS - 1);
        let t = s.issue_access("user-1", issued);
        assert_eq!(s.verify_access(&t).as_deref(), Some("user-1"));
        assert!(s.verified.contains_key(&t));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while s.verify_access(&t).is_some() {
            assert!(std::time::Instant::now() < deadline, "never expired");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(Utc::now().timestamp() > issued.timestamp() + 60 + LEEWAY_SECS);
    }

    #[test]
    fn alg_none_and_tampering_refused() {
        let s = svc();
        let t = s.issue_access("user-1", Utc::now());
        let parts: Vec<&str> = t.split('.').collect();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let none_header = b64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert_eq!(
            s.verify_access(&format!("{none_header}.{}.", parts[1])),
            None
        );
        let mut payload: serde_json::Value =
            serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
        payload["sub"] = "user-2".into();
        let forged = b64.encode(serde_json::to_vec(&payload).unwrap());
        assert_eq!(
            s.verify_access(&format!("{}.{forged}.{}", parts[0], parts[2])),
            None
        );
    }

    #[test]
    fn api_key_shapes() {
        let (key, prefix) = new_api_key();
        assert_eq!(api_key_prefix(&key), Some(prefix.as_str()));
        assert_eq!(api_key_prefix(&new_refresh_token()), None);
        assert_eq!(api_key_prefix("dbaas_short_x"), None);
    }
}
