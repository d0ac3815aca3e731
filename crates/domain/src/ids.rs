//! Opaque, prefixed, time-ordered ids (`db-…`, `op-…`): newest-first ordering by id is creation order.

use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    User,
    ApiKey,
    RefreshToken,
    Database,
    Operation,
    Provider,
    Audit,
    Project,
    Invitation,
    Backup,
}

impl IdKind {
    pub const fn prefix(self) -> &'static str {
        match self {
            IdKind::User => "user",
            IdKind::ApiKey => "key",
            IdKind::RefreshToken => "rt",
            IdKind::Database => "db",
            IdKind::Operation => "op",
            IdKind::Provider => "provider",
            IdKind::Audit => "audit",
            IdKind::Project => "prj",
            IdKind::Invitation => "inv",
            IdKind::Backup => "bk",
        }
    }
}

/// A new id: prefix, dash, 32 lowercase hex digits of a UUIDv7.
pub fn new_id(kind: IdKind) -> String {
    format!("{}-{}", kind.prefix(), Uuid::now_v7().simple())
}

/// Whether `s` has the shape of an id of `kind` (used to turn malformed path ids into 404/422 early).
pub fn is_id(kind: IdKind, s: &str) -> bool {
    s.strip_prefix(kind.prefix())
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|hex| {
            hex.len() == 32
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_ordered_and_recognised() {
        let a = new_id(IdKind::Database);
        let b = new_id(IdKind::Database);
        assert!(a.starts_with("db-"));
        assert!(is_id(IdKind::Database, &a));
        assert!(!is_id(IdKind::Operation, &a));
        assert!(!is_id(IdKind::Database, "db-xyz"));
        assert!(!is_id(IdKind::Database, "db-../../etc"));
        assert!(a < b || a[..20] == b[..20], "v7 ids sort by time");
    }
}
