//! The admission hook the API server calls for every write, standing in for KubeDB's webhook server.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdmissionOp {
    Create,
    Update,
    Delete,
}

/// What is being written. `old` is the stored object on update/delete.
#[derive(Debug)]
pub struct AdmissionRequest<'a> {
    pub op: AdmissionOp,
    pub group: &'a str,
    pub version: &'a str,
    pub kind: &'a str,
    pub plural: &'a str,
    pub namespace: Option<&'a str>,
    pub name: &'a str,
    /// `Some("status")` for writes through the status subresource.
    pub subresource: Option<&'a str>,
    pub old: Option<&'a Value>,
}

/// A denial. The API server answers it as a `metav1.Status` with `code` (422 `Invalid` when a
/// `field` is named, else 403 `Forbidden`, as the real server does for webhook denials) and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmissionError {
    pub message: String,
    pub field: Option<String>,
}

impl AdmissionError {
    pub fn denied(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            field: None,
        }
    }
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            field: Some(field.into()),
        }
    }
}

/// Mutating then validating admission in one call: may change `object` (defaulting) on create/update;
/// on delete `object` is the stored object and changes are ignored.
pub trait Admission: Send + Sync + 'static {
    fn admit(&self, req: &AdmissionRequest<'_>, object: &mut Value) -> Result<(), AdmissionError>;
}

/// Admits everything unchanged.
pub struct AllowAll;

impl Admission for AllowAll {
    fn admit(
        &self,
        _req: &AdmissionRequest<'_>,
        _object: &mut Value,
    ) -> Result<(), AdmissionError> {
        Ok(())
    }
}
