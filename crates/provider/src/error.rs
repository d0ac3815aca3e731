//! One error type for everything this crate does against a cluster, classified so the server can
//! decide between "retry later" and "tell a human".

use std::error::Error as StdError;

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("invalid kubeconfig: {0}")]
    InvalidKubeconfig(String),
    /// Network errors, timeouts, 5xx, 429: worth retrying.
    #[error("{0}")]
    Transient(String),
    /// 4xx that retrying cannot fix (403, 422 validation, …); message says what to do.
    #[error("{0}")]
    Permanent(String),
    #[error("{0}")]
    NotFound(String),
    /// Name taken by an object the platform does not own.
    #[error("{0}")]
    Conflict(String),
}

impl ProviderError {
    pub fn is_transient(&self) -> bool {
        matches!(self, ProviderError::Transient(_))
    }

    /// Prefixes the message with what was being done, keeping the classification.
    pub fn context(self, what: &str) -> ProviderError {
        use ProviderError::*;
        match self {
            InvalidKubeconfig(m) => InvalidKubeconfig(format!("{what}: {m}")),
            Transient(m) => Transient(format!("{what}: {m}")),
            Permanent(m) => Permanent(format!("{what}: {m}")),
            NotFound(m) => NotFound(format!("{what}: {m}")),
            Conflict(m) => Conflict(format!("{what}: {m}")),
        }
    }
}

/// What went wrong below HTTP (connect, TLS, timeouts), in words a human can act on.
pub(crate) enum Transport {
    Tls(String),
    Network(String),
}

/// Walks an error's sources for an I/O or TLS cause; the outer layers (hyper, tower, kube) only
/// add noise like "client error (Connect)".
pub(crate) fn transport_cause(err: &(dyn StdError + 'static)) -> Transport {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    let mut io_reason = None;
    while let Some(e) = cur {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Transport::Tls(tls_reason(tls));
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io_reason.is_none() {
                io_reason = Some(io_kind_reason(io));
            }
            // io::Error::source() skips the wrapped error itself (where rustls puts its own)
            if let Some(inner) = io.get_ref() {
                cur = Some(inner as &(dyn StdError + 'static));
                continue;
            }
        }
        cur = e.source();
    }
    if let Some(r) = io_reason {
        return Transport::Network(r);
    }
    let text = err.to_string();
    if text.to_ascii_lowercase().contains("certificate") {
        Transport::Tls(text)
    } else {
        Transport::Network(innermost(err))
    }
}

fn tls_reason(e: &rustls::Error) -> String {
    format!(
        "TLS handshake failed ({e}); supply the cluster's CA in the kubeconfig or set verify_ssl to false"
    )
}

fn io_kind_reason(io: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match io.kind() {
        ConnectionRefused => "connection refused".into(),
        TimedOut => "timed out".into(),
        ConnectionReset => "connection reset".into(),
        ConnectionAborted => "connection aborted".into(),
        NotFound => "host not found".into(),
        AddrNotAvailable => "address not available".into(),
        _ => io.to_string(),
    }
}

fn innermost(err: &(dyn StdError + 'static)) -> String {
    let mut last = err;
    while let Some(s) = last.source() {
        last = s;
    }
    last.to_string()
}

impl From<kube::Error> for ProviderError {
    fn from(err: kube::Error) -> Self {
        use kube::Error as K;
        match err {
            K::Api(status) => from_status(status.code, &status.reason, &status.message),
            K::HyperError(e) => match transport_cause(&e) {
                Transport::Tls(m) => ProviderError::Permanent(m),
                Transport::Network(m) => ProviderError::Transient(m),
            },
            K::Service(e) => match transport_cause(e.as_ref()) {
                Transport::Tls(m) => ProviderError::Permanent(m),
                Transport::Network(m) => ProviderError::Transient(m),
            },
            K::ReadEvents(e) => ProviderError::Transient(format!("reading a watch stream: {e}")),
            K::InferKubeconfig(e) => ProviderError::InvalidKubeconfig(e.to_string()),
            K::RustlsTls(e) => ProviderError::InvalidKubeconfig(format!("TLS settings: {e}")),
            K::Auth(e) => ProviderError::Permanent(format!(
                "the kubeconfig's credentials could not be used: {e}"
            )),
            K::SerdeError(e) => ProviderError::Permanent(format!(
                "the server's answer is not a Kubernetes API response: {e}"
            )),
            other => ProviderError::Permanent(other.to_string()),
        }
    }
}

/// Classifies an API status by its HTTP code.
pub(crate) fn from_status(code: u16, reason: &str, message: &str) -> ProviderError {
    let msg = if message.is_empty() {
        format!("{code} {reason}")
    } else {
        message.to_string()
    };
    match code {
        401 => ProviderError::Permanent(
            "unauthorized: the kubeconfig's credentials were refused".into(),
        ),
        403 => ProviderError::Permanent(format!(
            "forbidden: {msg}; grant the kubeconfig's user the needed RBAC permissions"
        )),
        404 => ProviderError::NotFound(msg),
        409 => ProviderError::Conflict(msg),
        // 410 Gone (expired resourceVersion) and timeouts clear up on their own
        408 | 410 | 429 => ProviderError::Transient(msg),
        500..=599 => ProviderError::Transient(format!("server error {code}: {msg}")),
        _ => ProviderError::Permanent(msg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16, message: &str) -> kube::Error {
        let status = kube::core::Status::failure(message, "Reason").with_code(code);
        kube::Error::Api(Box::new(status))
    }

    #[test]
    fn classifies_status_codes() {
        assert!(matches!(
            ProviderError::from(api(401, "x")),
            ProviderError::Permanent(m) if m.starts_with("unauthorized")
        ));
        assert!(
            matches!(ProviderError::from(api(403, "no")), ProviderError::Permanent(m) if m.contains("forbidden: no"))
        );
        assert!(matches!(
            ProviderError::from(api(404, "gone")),
            ProviderError::NotFound(_)
        ));
        assert!(matches!(
            ProviderError::from(api(409, "taken")),
            ProviderError::Conflict(_)
        ));
        assert!(
            matches!(ProviderError::from(api(422, "spec.version: unknown")), ProviderError::Permanent(m) if m == "spec.version: unknown")
        );
        for code in [410, 429, 500, 503, 504] {
            assert!(ProviderError::from(api(code, "x")).is_transient(), "{code}");
        }
        assert!(!ProviderError::from(api(400, "bad")).is_transient());
    }

    #[test]
    fn io_causes_are_named() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "os error 111");
        let boxed: Box<dyn StdError + Send + Sync> = Box::new(io);
        let e = ProviderError::from(kube::Error::Service(boxed));
        assert!(
            matches!(e, ProviderError::Transient(ref m) if m == "connection refused"),
            "{e:?}"
        );
    }

    #[test]
    fn context_keeps_the_class() {
        let e = ProviderError::Transient("timed out".into()).context("cannot reach https://x");
        assert!(e.is_transient());
        assert_eq!(e.to_string(), "cannot reach https://x: timed out");
    }
}
