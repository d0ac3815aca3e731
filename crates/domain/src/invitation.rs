//! Invitations: how a member added by e-mail gets a role. Adding a member grants nothing; it
//! creates a pending invitation that the account owning the e-mail accepts (with the invitation's
//! code, which proves the invitation reached them) or declines, that the inviter may revoke, and
//! that lapses after a while.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::access::Binding;

/// How long an invitation stays open.
pub const INVITATION_TTL: Duration = Duration::days(7);

/// What became of an invitation. `Expired` is never stored: a pending invitation past its
/// expiry reads as expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Declined,
    Revoked,
    Expired,
}

impl InvitationStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            InvitationStatus::Pending => "pending",
            InvitationStatus::Accepted => "accepted",
            InvitationStatus::Declined => "declined",
            InvitationStatus::Revoked => "revoked",
            InvitationStatus::Expired => "expired",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [
            InvitationStatus::Pending,
            InvitationStatus::Accepted,
            InvitationStatus::Declined,
            InvitationStatus::Revoked,
            InvitationStatus::Expired,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Invitation {
    pub id: String,
    /// Lower-cased e-mail of the person invited.
    pub email: String,
    /// The role (and scope) accepting grants.
    pub binding: Binding,
    /// SHA-256 (hex) of the code handed to the inviter; the code itself is never stored.
    pub code_hash: String,
    pub invited_by: Option<String>,
    pub invited_by_email: Option<String>,
    /// As stored: pending, accepted, declined or revoked.
    pub status: InvitationStatus,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    /// The account that accepted it.
    pub accepted_by: Option<String>,
}

impl Invitation {
    /// The status as of `now`: a pending invitation past its expiry is expired.
    pub fn status_at(&self, now: DateTime<Utc>) -> InvitationStatus {
        if self.status == InvitationStatus::Pending && self.expires_at <= now {
            InvitationStatus::Expired
        } else {
            self.status
        }
    }

    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        self.status_at(now) == InvitationStatus::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Role;

    #[test]
    fn pending_lapses_into_expired() {
        let now = Utc::now();
        let mut i = Invitation {
            id: "inv-1".into(),
            email: "a@b.io".into(),
            binding: Binding::domain(Role::DomainAdmin, "acme"),
            code_hash: String::new(),
            invited_by: None,
            invited_by_email: None,
            status: InvitationStatus::Pending,
            created_at: now,
            expires_at: now + INVITATION_TTL,
            decided_at: None,
            accepted_by: None,
        };
        assert!(i.is_open(now));
        assert_eq!(i.status_at(now + INVITATION_TTL), InvitationStatus::Expired);
        i.status = InvitationStatus::Revoked;
        assert_eq!(i.status_at(now), InvitationStatus::Revoked);
        assert!(!i.is_open(now));
        assert_eq!(
            InvitationStatus::parse("declined"),
            Some(InvitationStatus::Declined)
        );
    }
}
