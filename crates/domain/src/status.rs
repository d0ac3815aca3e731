//! Database and operation state machines. Only workers and watchers move state, and only along
//! the transitions allowed here.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

macro_rules! string_enum {
    ($name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        // Every text is the variant's snake_case name: this tells the OpenAPI derive so (it does
        // not read the per-variant renames a macro passes it).
        #[serde(rename_all = "snake_case")]
        pub enum $name { $( #[serde(rename = $text)] $variant ),+ }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub const fn as_str(self) -> &'static str { match self { $($name::$variant => $text),+ } }
            pub fn parse(s: &str) -> Option<Self> { Self::ALL.iter().copied().find(|v| v.as_str() == s) }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

string_enum!(DatabaseStatus {
    Pending => "pending",
    Provisioning => "provisioning",
    Running => "running",
    Updating => "updating",
    Scaling => "scaling",
    Pausing => "pausing",
    Paused => "paused",
    Resuming => "resuming",
    Restoring => "restoring",
    Failed => "failed",
    Deleting => "deleting",
    Deleted => "deleted",
});

impl DatabaseStatus {
    /// States an in-flight operation owns: a status watcher never overrides them.
    pub const fn is_operation_owned(self) -> bool {
        use DatabaseStatus::*;
        matches!(
            self,
            Pending | Provisioning | Updating | Scaling | Pausing | Resuming | Restoring | Deleting
        )
    }

    /// States in which the database's resources run in the cluster: only a database that holds
    /// its quota and capacity reservation may be in them. A failed create gave (or will give) its
    /// reservation back, so it may never come back to life by itself.
    pub const fn requires_reservation(self) -> bool {
        use DatabaseStatus::*;
        matches!(
            self,
            Running | Updating | Scaling | Pausing | Paused | Resuming | Restoring
        )
    }

    /// Whether a move from `self` to `to` is legal for a database that holds (`holds_reservation`)
    /// or does not hold its reservation.
    pub fn can_move(self, to: DatabaseStatus, holds_reservation: bool) -> bool {
        self.can_transition_to(to)
            && (holds_reservation || !to.requires_reservation() || self == to)
    }

    pub fn can_transition_to(self, to: DatabaseStatus) -> bool {
        use DatabaseStatus::*;
        if self == to {
            return true;
        }
        match self {
            Deleted => false,
            Pending => matches!(to, Provisioning | Failed | Deleting),
            Provisioning => matches!(to, Running | Failed | Deleting),
            Running => matches!(
                to,
                Updating | Scaling | Pausing | Restoring | Failed | Deleting
            ),
            Updating | Scaling | Restoring => matches!(to, Running | Failed | Deleting),
            Pausing => matches!(to, Paused | Failed | Running | Deleting),
            Paused => matches!(to, Resuming | Deleting | Failed),
            Resuming => matches!(to, Running | Failed | Paused | Deleting),
            Failed => matches!(
                to,
                Running | Updating | Scaling | Deleting | Provisioning | Paused
            ),
            Deleting => matches!(to, Deleted | Failed),
        }
    }
}

/// What a watcher makes of a KubeDB phase: the health to show and, when the database is not in a
/// state an operation owns, the status it moves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    pub status: Option<DatabaseStatus>,
    pub health: &'static str,
}

/// Maps a KubeDB `status.phase` onto the database's state machine. A watcher never overrides a
/// state an operation owns (the operation decides when it is done), never revives `deleted`, and
/// never moves a database that holds no reservation into a running state (`failed → running`
/// after a failed create would run it outside every quota).
pub fn observe_phase(current: DatabaseStatus, phase: &str, holds_reservation: bool) -> Observed {
    use DatabaseStatus::*;
    let (target, health) = match phase {
        "Ready" => (Some(Running), "healthy"),
        // Serving, but some replicas are down.
        "Critical" => (Some(Running), "degraded"),
        "NotReady" => (Some(Failed), "unhealthy"),
        "Halted" => (Some(Paused), "halted"),
        "Provisioning" | "DataRestoring" => (None, "provisioning"),
        _ => (None, "unknown"),
    };
    let status = target.filter(|t| {
        !current.is_operation_owned()
            && current != Deleted
            && *t != current
            && current.can_move(*t, holds_reservation)
    });
    Observed { status, health }
}

string_enum!(OperationStatus {
    Queued => "queued",
    InProgress => "in_progress",
    Completed => "completed",
    Failed => "failed",
    Cancelled => "cancelled",
    Timeout => "timeout",
});

impl OperationStatus {
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            OperationStatus::Completed
                | OperationStatus::Failed
                | OperationStatus::Cancelled
                | OperationStatus::Timeout
        )
    }
}

string_enum!(OperationType {
    Create => "create",
    Delete => "delete",
    ScaleHorizontal => "scale_horizontal",
    ScaleVertical => "scale_vertical",
    ExpandStorage => "expand_storage",
    UpgradeVersion => "upgrade_version",
    Backup => "backup",
    Restore => "restore",
    Pause => "pause",
    Resume => "resume",
    Restart => "restart",
    Reconfigure => "reconfigure",
    RotateAuth => "rotate_auth",
});

// How a backup came to be.
string_enum!(BackupKind {
    Scheduled => "scheduled",
    Manual => "manual",
});

string_enum!(BackupStatus {
    Pending => "pending",
    Running => "running",
    Succeeded => "succeeded",
    Failed => "failed",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deleted_is_final_and_deleting_only_ends() {
        for s in DatabaseStatus::ALL {
            assert!(
                !DatabaseStatus::Deleted.can_transition_to(*s) || *s == DatabaseStatus::Deleted
            );
        }
        assert!(!DatabaseStatus::Deleting.can_transition_to(DatabaseStatus::Running));
        assert!(DatabaseStatus::Running.can_transition_to(DatabaseStatus::Pausing));
        assert!(!DatabaseStatus::Running.can_transition_to(DatabaseStatus::Resuming));
    }

    #[test]
    fn watchers_never_override_operation_owned_states() {
        use DatabaseStatus::*;
        assert_eq!(observe_phase(Provisioning, "Ready", true).status, None);
        assert_eq!(observe_phase(Deleting, "NotReady", true).status, None);
        assert_eq!(observe_phase(Deleted, "Ready", true).status, None);
        assert_eq!(
            observe_phase(Running, "NotReady", true).status,
            Some(Failed)
        );
        assert_eq!(observe_phase(Failed, "Ready", true).status, Some(Running));
        assert_eq!(observe_phase(Running, "Critical", true).health, "degraded");
        assert_eq!(observe_phase(Running, "Ready", true).status, None);
        assert_eq!(
            observe_phase(Running, "Halted", true).status,
            None,
            "running → paused only via pausing"
        );
    }

    #[test]
    fn nothing_runs_without_a_reservation() {
        use DatabaseStatus::*;
        assert_eq!(observe_phase(Failed, "Ready", false).status, None);
        assert_eq!(observe_phase(Failed, "Critical", false).status, None);
        assert_eq!(observe_phase(Failed, "Ready", true).status, Some(Running));
        assert_eq!(
            observe_phase(Failed, "Halted", false).status,
            None,
            "paused holds resources too"
        );
        assert_eq!(
            observe_phase(Running, "NotReady", false).status,
            Some(Failed)
        );
        for from in DatabaseStatus::ALL {
            for to in DatabaseStatus::ALL {
                if to.requires_reservation() && from != to {
                    assert!(
                        !from.can_move(*to, false),
                        "{from} → {to} without a reservation"
                    );
                }
                assert_eq!(
                    from.can_move(*to, true),
                    from.can_transition_to(*to),
                    "{from} → {to}"
                );
            }
        }
    }

    #[test]
    fn text_round_trips() {
        for s in OperationType::ALL {
            assert_eq!(OperationType::parse(s.as_str()), Some(*s));
        }
        assert_eq!(
            serde_json::to_value(OperationStatus::InProgress).unwrap(),
            "in_progress"
        );
        assert!(OperationStatus::Timeout.is_terminal());
    }
}
