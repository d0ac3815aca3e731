//! Day-2 operations on the database state machine: one table says from which statuses each
//! operation may start, which status the database shows while it runs and which it reaches when it
//! succeeds. Routes (may this be queued?), workers (may this start now? where does it end?) and
//! watchers (operation-owned statuses) all read it.

use crate::status::{DatabaseStatus, OperationType};
use crate::DomainError;

/// How one operation type moves a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// Statuses the operation may start from.
    pub from: &'static [DatabaseStatus],
    /// Shown while it runs.
    pub during: DatabaseStatus,
    /// Reached when it succeeds.
    pub after: DatabaseStatus,
}

const RUNNING: &[DatabaseStatus] = &[DatabaseStatus::Running];

/// The table. `None` for types that are not day-2 changes of a live database (create, delete,
/// operations have their own workflows).
pub const fn transition(op: OperationType) -> Option<Transition> {
    use DatabaseStatus::*;
    use OperationType as T;
    const fn t(
        from: &'static [DatabaseStatus],
        during: DatabaseStatus,
        after: DatabaseStatus,
    ) -> Option<Transition> {
        Some(Transition {
            from,
            during,
            after,
        })
    }
    match op {
        T::ScaleHorizontal | T::ScaleVertical | T::ExpandStorage => t(RUNNING, Scaling, Running),
        T::UpgradeVersion | T::Reconfigure | T::RotateAuth => t(RUNNING, Updating, Running),
        // A restart is also how an unhealthy database is brought back.
        T::Restart => t(&[Running, Failed], Updating, Running),
        T::Pause => t(RUNNING, Pausing, Paused),
        T::Resume => t(&[Paused], Resuming, Running),
        // A backup reads a live database and leaves it serving; a restore in place overwrites it.
        T::Backup => t(RUNNING, Running, Running),
        T::Restore => t(RUNNING, Restoring, Running),
        T::Create | T::Delete => None,
    }
}

/// The status a database will have once every unfinished operation (in queue order) succeeded:
/// what a newly queued operation will start from.
pub fn projected(current: DatabaseStatus, unfinished: &[OperationType]) -> DatabaseStatus {
    unfinished.iter().fold(current, |status, op| match op {
        OperationType::Create => DatabaseStatus::Running,
        OperationType::Delete => DatabaseStatus::Deleted,
        other => transition(*other).map_or(status, |t| t.after),
    })
}

/// Whether `op` may be queued behind the unfinished operations of a database now in `current`;
/// the refusal says why, for a 400 `invalid_state`.
pub fn check_queue(
    op: OperationType,
    current: DatabaseStatus,
    unfinished: &[OperationType],
) -> Result<(), DomainError> {
    let Some(t) = transition(op) else {
        return Ok(());
    };
    if unfinished.contains(&OperationType::Delete) || current == DatabaseStatus::Deleting {
        return Err(DomainError::InvalidState(format!(
            "cannot {} a database that is being deleted",
            verb(op)
        )));
    }
    let at = projected(current, unfinished);
    if t.from.contains(&at) {
        return Ok(());
    }
    let when = if unfinished.is_empty() {
        format!("it is {at}")
    } else {
        format!("it will be {at} once its queued operations finish")
    };
    Err(DomainError::InvalidState(format!(
        "cannot {} the database: {when}; allowed from {}",
        verb(op),
        t.from
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" or ")
    )))
}

/// Whether a queued `op` may start with the database in `current` (a worker's check: an earlier
/// operation may have failed and left it elsewhere). A retried or resumed run finds the database
/// already in `during`.
pub fn check_start(op: OperationType, current: DatabaseStatus) -> Result<Transition, DomainError> {
    let t = transition(op).ok_or_else(|| {
        DomainError::BadRequest(format!("'{op}' is not a change of a live database"))
    })?;
    if current == t.during || t.from.contains(&current) {
        Ok(t)
    } else {
        Err(DomainError::InvalidState(format!(
            "cannot {} the database: it is {current}",
            verb(op)
        )))
    }
}

fn verb(op: OperationType) -> &'static str {
    use OperationType as T;
    match op {
        T::ScaleHorizontal | T::ScaleVertical => "scale",
        T::ExpandStorage => "expand the storage of",
        T::UpgradeVersion => "upgrade",
        T::Reconfigure => "reconfigure",
        T::RotateAuth => "rotate the credentials of",
        T::Restart => "restart",
        T::Pause => "pause",
        T::Resume => "resume",
        T::Create => "create",
        T::Delete => "delete",
        T::Backup => "back up",
        T::Restore => "restore",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DatabaseStatus::*;
    use OperationType as T;

    #[test]
    fn every_transition_is_legal_in_the_state_machine() {
        for op in OperationType::ALL {
            let Some(t) = transition(*op) else { continue };
            // An operation that leaves the status as it is (a backup) owns no status.
            let keeps_status = t.from == [t.during] && t.after == t.during;
            assert!(
                keeps_status || t.during.is_operation_owned(),
                "{op}: {}",
                t.during
            );
            for from in t.from {
                assert!(
                    from.can_transition_to(t.during),
                    "{op}: {from} → {}",
                    t.during
                );
            }
            assert!(t.during.can_transition_to(t.after), "{op}");
            for from in t.from {
                assert!(
                    t.during.can_transition_to(*from),
                    "{op}: a failure goes back to {from}"
                );
            }
        }
    }

    #[test]
    fn queued_operations_decide_what_comes_next() {
        assert!(check_queue(T::Pause, Running, &[]).is_ok());
        assert!(check_queue(T::Resume, Running, &[]).is_err());
        assert!(check_queue(T::Resume, Running, &[T::Pause]).is_ok());
        assert!(check_queue(T::Pause, Running, &[T::Pause]).is_err());
        assert!(check_queue(T::ScaleVertical, Provisioning, &[T::Create]).is_ok());
        assert!(check_queue(T::Restart, Running, &[T::Delete]).is_err());
        let e = check_queue(T::Pause, Paused, &[]).unwrap_err();
        assert!(matches!(e, DomainError::InvalidState(ref m) if m.contains("it is paused")));
        assert!(check_queue(T::Restart, Failed, &[]).is_ok());
        assert!(check_queue(T::ScaleHorizontal, Failed, &[]).is_err());
    }

    #[test]
    fn a_resumed_run_may_start_again() {
        assert!(check_start(T::Pause, Pausing).is_ok());
        assert!(check_start(T::Pause, Running).is_ok());
        assert!(check_start(T::Pause, Failed).is_err());
        assert_eq!(check_start(T::Resume, Paused).unwrap().after, Running);
        assert!(check_start(T::Create, Running).is_err());
    }
}
