//! What stands behind the API server's service proxy
//! (`/api/v1/namespaces/{ns}/services/{name}:{port}/proxy/{path}`).

use bytes::Bytes;

#[derive(Debug, Clone)]
pub struct ProxyResponse {
    pub status: u16,
    pub content_type: String,
    pub body: Bytes,
}

pub trait ProxyBackend: Send + Sync + 'static {
    /// `port` is the port segment as written in the URL (name or number, may be empty).
    /// `None` means nothing backs that service: the API server answers 503 as a real one does
    /// when a service has no endpoints.
    fn proxy(
        &self,
        namespace: &str,
        service: &str,
        port: &str,
        path: &str,
        query: Option<&str>,
    ) -> Option<ProxyResponse>;
}
