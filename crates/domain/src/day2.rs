//! Day-2 requests, checked and planned: resizing (which operations, in which order, and what the
//! database holds against quotas meanwhile), version upgrades (which catalog entries a database
//! may move to) and upgrade policies with maintenance windows.

use chrono::{DateTime, Datelike, Duration, NaiveTime, Timelike, Utc, Weekday};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::constraints::{constraint_matches, SemVer};
use crate::engine::{Engine, Size};
use crate::model::Database;
use crate::quota::Usage;
use crate::status::{DatabaseStatus, OperationType};
use crate::versions::{compare_versions, CatalogVersion, VersionPolicy};
use crate::DomainError;

/// The shape a database runs in: what resizing changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    pub size: Size,
    pub storage_gb: i64,
    pub replicas: i64,
}

impl Shape {
    /// The shape the record asks for (the desired one).
    pub fn desired(db: &Database) -> Shape {
        Shape {
            size: db.size,
            storage_gb: db.storage_gb,
            replicas: db.replicas,
        }
    }

    /// The shape KubeDB last reported, falling back to the desired one where it said nothing.
    pub fn current(db: &Database) -> Shape {
        Shape {
            size: db.current.size.unwrap_or(db.size),
            storage_gb: db.current.storage_gb.unwrap_or(db.storage_gb),
            replicas: db.current.replicas.unwrap_or(db.replicas),
        }
    }

    /// What a database of this shape holds: all of it while it runs; only its storage while it
    /// is paused (its pods are gone, its volumes stay).
    pub fn usage(self, engine: Engine, high_availability: bool, paused: bool) -> Usage {
        let pods = engine.pods(self.replicas, high_availability);
        let mut u = Usage::of_database(self.size, self.storage_gb, pods);
        if paused {
            u.cpu_cores = 0.0;
            u.memory_gb = 0.0;
        }
        u
    }
}

/// Whether a database in `status` holds only its storage.
pub fn holds_storage_only(status: DatabaseStatus) -> bool {
    matches!(status, DatabaseStatus::Paused | DatabaseStatus::Pausing)
}

/// The larger of two holdings, per resource: what a database holds while it moves between shapes
/// (both the old and the new pods may exist during a rolling change).
pub fn covering(a: Usage, b: Usage) -> Usage {
    Usage {
        cpu_cores: a.cpu_cores.max(b.cpu_cores),
        memory_gb: a.memory_gb.max(b.memory_gb),
        storage_gb: a.storage_gb.max(b.storage_gb),
        databases: a.databases.max(b.databases),
        backups: a.backups.max(b.backups),
    }
}

/// A scale request: any of the three, at least one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resize {
    /// 1–9; the engine and topology further constrain it (400 with the rule).
    #[schema(minimum = 1, maximum = 9)]
    pub replicas: Option<i64>,
    pub size: Option<Size>,
    /// At most 10000; never less than the database has (400).
    #[schema(maximum = 10000)]
    pub storage_gb: Option<i64>,
}

/// One operation a resize queues, with the shape the database has after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResizeStep {
    pub op: OperationType,
    pub after: Shape,
}

/// Checks a resize against the engine's rules and the database's desired shape and returns the
/// operations it takes, in the order they run: replicas, then size, then storage. Storage never
/// shrinks; asking for the shape the database already has is refused.
pub fn plan_resize(db: &Database, req: &Resize) -> Result<Vec<ResizeStep>, DomainError> {
    let from = Shape::desired(db);
    let mut at = from;
    let mut steps = Vec::new();
    if let Some(r) = req.replicas.filter(|r| *r != from.replicas) {
        let n = u32::try_from(r)
            .map_err(|_| DomainError::BadRequest("replicas must be between 1 and 9".into()))?;
        // The same rules as at create, answered the same way (400 with the rule).
        db.engine.check_replicas(n, db.high_availability)?;
        at.replicas = r;
        steps.push(ResizeStep {
            op: OperationType::ScaleHorizontal,
            after: at,
        });
    }
    if let Some(s) = req.size.filter(|s| *s != from.size) {
        at.size = s;
        steps.push(ResizeStep {
            op: OperationType::ScaleVertical,
            after: at,
        });
    }
    if let Some(g) = req.storage_gb.filter(|g| *g != from.storage_gb) {
        if g < from.storage_gb {
            return Err(DomainError::BadRequest(format!(
                "storage never shrinks: the database has {} GB; ask for more, not less",
                from.storage_gb
            )));
        }
        if g > 10_000 {
            return Err(DomainError::validation(
                "storage_gb",
                "must be between 10 and 10000",
            ));
        }
        at.storage_gb = g;
        steps.push(ResizeStep {
            op: OperationType::ExpandStorage,
            after: at,
        });
    }
    if steps.is_empty() {
        return Err(DomainError::BadRequest(
            "nothing to change: give replicas, size or storage_gb different from what the database has"
                .into(),
        ));
    }
    Ok(steps)
}

/// How big a step an upgrade is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UpgradeKind {
    Patch,
    Minor,
    Major,
}

/// A version a database may be upgraded to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AvailableUpgrade {
    /// The catalog name to ask for (`target_version`).
    pub version: String,
    /// The engine version it runs.
    pub engine_version: String,
    pub kind: UpgradeKind,
}

fn kind_of(from: &str, to: &str) -> UpgradeKind {
    match (SemVer::parse(from), SemVer::parse(to)) {
        (Some(a), Some(b)) if a.major != b.major => UpgradeKind::Major,
        (Some(a), Some(b)) if a.minor != b.minor => UpgradeKind::Minor,
        (Some(_), Some(_)) => UpgradeKind::Patch,
        _ => UpgradeKind::Major,
    }
}

fn lists(v: &CatalogVersion, high_availability: bool) -> (&[String], &[String]) {
    match (
        high_availability,
        &v.update_allowlist_ha,
        &v.update_denylist_ha,
    ) {
        (true, Some(a), Some(d)) => (a, d),
        _ => (&v.update_allowlist, &v.update_denylist),
    }
}

/// The versions a database may move to from `current_name` (its catalog entry): newer entries of
/// the same engine and distribution that the platform's policy offers (never deprecated ones) and
/// that the current entry's `updateConstraints` allow; newest first. Unknown current entry: none.
pub fn available_upgrades(
    engine: Engine,
    current_name: &str,
    high_availability: bool,
    catalog: &[CatalogVersion],
    policy: &VersionPolicy,
) -> Vec<AvailableUpgrade> {
    let Some(current) = catalog
        .iter()
        .find(|v| v.engine == engine && v.name == current_name)
    else {
        return Vec::new();
    };
    let (allow, deny) = lists(current, high_availability);
    let satisfied = |c: &String, v: &SemVer| constraint_matches(c, v) == Some(true);
    policy
        .offered(engine, catalog)
        .into_iter()
        .filter(|v| v.distribution == current.distribution)
        .filter(|v| compare_versions(&v.version, &current.version).is_gt())
        .filter(|v| match SemVer::parse(&v.version) {
            Some(sv) => {
                (allow.is_empty() || allow.iter().any(|c| satisfied(c, &sv)))
                    && !deny.iter().any(|c| satisfied(c, &sv))
            }
            None => false,
        })
        .map(|v| AvailableUpgrade {
            kind: kind_of(&current.version, &v.version),
            engine_version: v.version.clone(),
            version: v.name,
        })
        .collect()
}

/// Whether upgrades happen by themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum UpgradeMode {
    #[default]
    Manual,
    AutoPatch,
    AutoMinor,
}

impl UpgradeMode {
    /// Whether an upgrade of this kind may be queued by the scheduler.
    pub fn permits(self, kind: UpgradeKind) -> bool {
        match self {
            UpgradeMode::Manual => false,
            UpgradeMode::AutoPatch => kind == UpgradeKind::Patch,
            UpgradeMode::AutoMinor => kind <= UpgradeKind::Minor,
        }
    }
}

/// A weekly window in UTC in which automatic upgrades may start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceWindow {
    /// `mon` … `sun` (any case), at least one.
    #[schema(min_items = 1)]
    pub days: Vec<String>,
    /// `HH:MM`, UTC.
    #[schema(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub start_utc: String,
    #[schema(minimum = 30, maximum = 1440)]
    pub duration_minutes: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpgradePolicy {
    pub mode: UpgradeMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_window: Option<MaintenanceWindow>,
}

const DAYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Mon),
    ("tue", Weekday::Tue),
    ("wed", Weekday::Wed),
    ("thu", Weekday::Thu),
    ("fri", Weekday::Fri),
    ("sat", Weekday::Sat),
    ("sun", Weekday::Sun),
];

impl MaintenanceWindow {
    fn start(&self) -> Option<NaiveTime> {
        NaiveTime::parse_from_str(&self.start_utc, "%H:%M").ok()
    }

    fn weekdays(&self) -> Vec<Weekday> {
        DAYS.iter()
            .filter(|(n, _)| self.days.iter().any(|d| d.eq_ignore_ascii_case(n)))
            .map(|(_, w)| *w)
            .collect()
    }

    /// The window containing `now`, as (start, end), if any.
    pub fn open_at(&self, now: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let start = self.start()?;
        let days = self.weekdays();
        let length = Duration::minutes(self.duration_minutes);
        // A window that began yesterday may still be open.
        (0..=1).find_map(|back| {
            let day = now.date_naive() - Duration::days(back);
            if !days.contains(&day.weekday()) {
                return None;
            }
            let begins = day.and_time(start).and_utc();
            (begins <= now && now < begins + length).then_some((begins, begins + length))
        })
    }

    /// When the next window opens at or after `now` (the current one's start if one is open).
    pub fn next_start(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if let Some((begins, _)) = self.open_at(now) {
            return Some(begins);
        }
        let start = self.start()?;
        let days = self.weekdays();
        (0..=7).find_map(|ahead| {
            let day = now.date_naive() + Duration::days(ahead);
            let begins = day.and_time(start).and_utc();
            (days.contains(&day.weekday()) && begins >= now).then_some(begins)
        })
    }
}

impl UpgradePolicy {
    pub fn validate(&self) -> Result<(), DomainError> {
        match &self.maintenance_window {
            None if self.mode != UpgradeMode::Manual => Err(DomainError::validation(
                "maintenance_window",
                "automatic upgrades need a maintenance window",
            )),
            None => Ok(()),
            Some(w) => {
                if w.days.is_empty() {
                    return Err(DomainError::validation(
                        "maintenance_window.days",
                        "name at least one day (mon … sun)",
                    ));
                }
                if let Some(bad) = w
                    .days
                    .iter()
                    .find(|d| !DAYS.iter().any(|(n, _)| d.eq_ignore_ascii_case(n)))
                {
                    return Err(DomainError::validation(
                        "maintenance_window.days",
                        format!("'{bad}' is not one of mon, tue, wed, thu, fri, sat, sun"),
                    ));
                }
                match w.start() {
                    Some(t) if t.second() == 0 && w.start_utc.len() == 5 => {}
                    _ => {
                        return Err(DomainError::validation(
                            "maintenance_window.start_utc",
                            "must be HH:MM (UTC)",
                        ))
                    }
                }
                if !(30..=24 * 60).contains(&w.duration_minutes) {
                    return Err(DomainError::validation(
                        "maintenance_window.duration_minutes",
                        "must be between 30 and 1440",
                    ));
                }
                Ok(())
            }
        }
    }

    /// The upgrade the scheduler should queue at `now`, if any: the newest offered one this
    /// policy permits, and only inside an open window.
    pub fn due<'a>(
        &self,
        now: DateTime<Utc>,
        offered: &'a [AvailableUpgrade],
    ) -> Option<&'a AvailableUpgrade> {
        let window = self.maintenance_window.as_ref()?;
        window.open_at(now)?;
        offered.iter().find(|u| self.mode.permits(u.kind))
    }

    /// What the record shows: the upgrade the scheduler will queue and when.
    pub fn pending(
        &self,
        now: DateTime<Utc>,
        offered: &[AvailableUpgrade],
    ) -> Option<(AvailableUpgrade, DateTime<Utc>)> {
        let window = self.maintenance_window.as_ref()?;
        let next = offered.iter().find(|u| self.mode.permits(u.kind))?;
        Some((next.clone(), window.next_start(now)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn cv(name: &str, version: &str, allow: &[&str], deprecated: bool) -> CatalogVersion {
        CatalogVersion {
            engine: Engine::Postgres,
            name: name.into(),
            version: version.into(),
            distribution: None,
            deprecated,
            update_allowlist: allow.iter().map(|s| s.to_string()).collect(),
            update_denylist: vec![],
            update_allowlist_ha: None,
            update_denylist_ha: None,
        }
    }

    #[test]
    fn upgrades_follow_constraints_policy_and_deprecation() {
        let cat = vec![
            cv("15.4", "15.4", &[">= 15.4, < 17"], false),
            cv("15.8", "15.8", &[], false),
            cv("16.2", "16.2", &[], false),
            cv("16.1", "16.1", &[], true),
            cv("17.0", "17.0", &[], false),
            cv("14.9", "14.9", &[], false),
        ];
        let ups = available_upgrades(
            Engine::Postgres,
            "15.4",
            false,
            &cat,
            &VersionPolicy::default(),
        );
        let got: Vec<_> = ups.iter().map(|u| (u.version.as_str(), u.kind)).collect();
        assert_eq!(
            got,
            [("16.2", UpgradeKind::Major), ("15.8", UpgradeKind::Minor)]
        );
        assert!(available_upgrades(
            Engine::Postgres,
            "99",
            false,
            &cat,
            &VersionPolicy::default()
        )
        .is_empty());
    }

    #[test]
    fn windows_open_and_close_in_utc() {
        let w = MaintenanceWindow {
            days: vec!["sun".into()],
            start_utc: "23:30".into(),
            duration_minutes: 60,
        };
        // 2026-11-29 is a Sunday.
        let sun_2340 = Utc.with_ymd_and_hms(2026, 11, 29, 23, 40, 0).unwrap();
        let mon_0020 = Utc.with_ymd_and_hms(2026, 11, 30, 0, 20, 0).unwrap();
        let mon_0031 = Utc.with_ymd_and_hms(2026, 11, 30, 0, 31, 0).unwrap();
        assert!(w.open_at(sun_2340).is_some());
        assert!(w.open_at(mon_0020).is_some(), "still open past midnight");
        assert!(w.open_at(mon_0031).is_none());
        assert_eq!(
            w.next_start(mon_0031).unwrap(),
            Utc.with_ymd_and_hms(2026, 12, 6, 23, 30, 0).unwrap()
        );
        let policy = UpgradePolicy {
            mode: UpgradeMode::AutoPatch,
            maintenance_window: Some(w),
        };
        policy.validate().unwrap();
        let offered = vec![
            AvailableUpgrade {
                version: "16.0".into(),
                engine_version: "16.0".into(),
                kind: UpgradeKind::Major,
            },
            AvailableUpgrade {
                version: "15.5".into(),
                engine_version: "15.5".into(),
                kind: UpgradeKind::Patch,
            },
        ];
        assert_eq!(policy.due(sun_2340, &offered).unwrap().version, "15.5");
        assert!(policy.due(mon_0031, &offered).is_none(), "never outside");
    }

    #[test]
    fn bad_policies_are_refused() {
        let mut p = UpgradePolicy {
            mode: UpgradeMode::AutoMinor,
            maintenance_window: None,
        };
        assert!(p.validate().is_err());
        p.maintenance_window = Some(MaintenanceWindow {
            days: vec!["funday".into()],
            start_utc: "25:00".into(),
            duration_minutes: 10,
        });
        assert!(p.validate().is_err());
    }
}
