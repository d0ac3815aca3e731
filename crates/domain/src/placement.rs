//! Placement: which provider (Kubernetes cluster) a new database goes to.
//!
//! Dedicated providers of the caller's domain come before shared ones; among active,
//! non-maintenance providers in the requested region/zone that have room, the best score wins:
//! the most headroom (`min(available / requested)` over cpu, memory and storage), then the higher
//! priority, then the smaller id. The store runs this inside the reserving transaction.

use std::cmp::Ordering;

use crate::engine::Engine;
use crate::model::{Provider, ProviderCapacity};
use crate::quota::Usage;
use crate::versions::{CatalogVersion, VersionPolicy};
use crate::DomainError;

/// What one placement asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacementRequest {
    pub domain: String,
    pub need: Usage,
    pub region: Option<String>,
    pub availability_zone: Option<String>,
}

/// Free room of a provider: `total × reservation_percent / 100 − allocated`, per dimension.
pub fn available(cap: &ProviderCapacity, allocated: &Usage) -> Usage {
    Usage {
        cpu_cores: cap.cpu_total_cores * cap.cpu_reservation_percent / 100.0 - allocated.cpu_cores,
        memory_gb: cap.memory_total_gb * cap.memory_reservation_percent / 100.0
            - allocated.memory_gb,
        storage_gb: cap.storage_total_gb * cap.storage_reservation_percent / 100.0
            - allocated.storage_gb,
        databases: 0,
        backups: 0,
    }
}

/// One provider as placement sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate<'a> {
    pub provider: &'a Provider,
    pub dedicated: bool,
    /// `min(available / requested)`; ≥ 1 means the request fits.
    pub headroom: f64,
}

impl Candidate<'_> {
    /// Best first: dedicated, then headroom, then priority, then id.
    fn rank(&self, other: &Self) -> Ordering {
        other
            .dedicated
            .cmp(&self.dedicated)
            .then_with(|| other.headroom.total_cmp(&self.headroom))
            .then_with(|| other.provider.priority.cmp(&self.provider.priority))
            .then_with(|| self.provider.id.cmp(&other.provider.id))
    }
}

/// Why a provider was passed over, for the preview and for error messages.
fn rejection(p: &Provider, req: &PlacementRequest) -> Option<&'static str> {
    if !p.is_active {
        return Some("inactive");
    }
    if p.is_maintenance {
        return Some("in maintenance");
    }
    if p.domain.as_deref().is_some_and(|d| d != req.domain) {
        return Some("dedicated to another tenant");
    }
    if req.region.as_deref().is_some_and(|r| r != p.region) {
        return Some("in another region");
    }
    if req
        .availability_zone
        .as_deref()
        .is_some_and(|z| Some(z) != p.availability_zone.as_deref())
    {
        return Some("in another availability zone");
    }
    None
}

fn headroom(p: &Provider, need: &Usage) -> f64 {
    let free = available(&p.capacity, &p.allocated);
    [
        (free.cpu_cores, need.cpu_cores),
        (free.memory_gb, need.memory_gb),
        (free.storage_gb, need.storage_gb),
    ]
    .into_iter()
    .filter(|(_, want)| *want > 0.0)
    .map(|(have, want)| have / want)
    .fold(f64::INFINITY, f64::min)
}

/// Every eligible provider with room, best first (the placement preview).
pub fn rank<'a>(providers: &'a [Provider], req: &PlacementRequest) -> Vec<Candidate<'a>> {
    // A small tolerance so that a request filling a provider exactly still fits.
    const FITS: f64 = 1.0 - 1e-9;
    let mut out: Vec<Candidate<'a>> = providers
        .iter()
        .filter(|p| rejection(p, req).is_none())
        .map(|p| Candidate {
            provider: p,
            dedicated: p.domain.is_some(),
            headroom: headroom(p, &req.need),
        })
        .filter(|c| c.headroom >= FITS)
        .collect();
    out.sort_by(|a, b| a.rank(b));
    out
}

/// The provider a new database goes to, or a `NoCapacity` error that says why none fits.
pub fn choose(providers: &[Provider], req: &PlacementRequest) -> Result<String, DomainError> {
    if let Some(best) = rank(providers, req).first() {
        return Ok(best.provider.id.clone());
    }
    let mut where_ = String::new();
    if let Some(r) = &req.region {
        where_.push_str(&format!(" in region '{r}'"));
    }
    if let Some(z) = &req.availability_zone {
        where_.push_str(&format!(" and zone '{z}'"));
    }
    let eligible = providers
        .iter()
        .filter(|p| rejection(p, req).is_none())
        .count();
    Err(DomainError::NoCapacity(if eligible == 0 {
        format!("no active provider{where_} can take new databases")
    } else {
        format!(
            "no provider{where_} has room for {} CPU cores, {} GB memory and {} GB storage",
            req.need.cpu_cores, req.need.memory_gb, req.need.storage_gb
        )
    }))
}

/// What a new database asks of placement: room, where, and which version it must find there.
#[derive(Debug, Clone)]
pub struct PlanRequest<'a> {
    pub placement: PlacementRequest,
    pub engine: Engine,
    /// The version as the user asked for it (a catalog name or an engine version).
    pub version: &'a str,
    /// A platform admin's choice of provider; region and zone are then not asked for.
    pub provider_id: Option<&'a str>,
    pub policy: &'a VersionPolicy,
}

/// Where a new database goes and the catalog entry it runs there.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    pub provider_id: String,
    pub version: CatalogVersion,
}

/// Places a new database: among the providers whose catalog offers the requested version (under
/// the allowed-versions policy) the placement rules pick one. A request no provider's catalog
/// can serve is refused with the catalog's reason (`VersionUnavailable`), one without room with
/// `NoCapacity`.
pub fn plan(
    providers: &[Provider],
    catalog_of: impl Fn(&Provider) -> Vec<CatalogVersion>,
    req: &PlanRequest<'_>,
) -> Result<Placement, DomainError> {
    let mut offering = Vec::new();
    let mut first_refusal = None;
    for p in providers {
        if req.provider_id.is_some_and(|m| m != p.id) {
            continue;
        }
        match req.policy.resolve(req.engine, req.version, &catalog_of(p)) {
            Ok(v) => offering.push((p.clone(), v.clone())),
            Err(e) => {
                first_refusal.get_or_insert(e);
            }
        }
    }
    if offering.is_empty() {
        return Err(first_refusal.unwrap_or_else(|| {
            DomainError::NoCapacity(match req.provider_id {
                Some(m) => format!("provider '{m}' cannot take new databases"),
                None => "no active provider can take new databases".into(),
            })
        }));
    }
    let candidates: Vec<Provider> = offering.iter().map(|(p, _)| p.clone()).collect();
    let mut placement = req.placement.clone();
    if req.provider_id.is_some() {
        placement.region = None;
        placement.availability_zone = None;
    }
    let chosen = choose(&candidates, &placement)?;
    let version = offering
        .into_iter()
        .find_map(|(p, v)| (p.id == chosen).then_some(v))
        .expect("the chosen provider is one of the candidates");
    Ok(Placement {
        provider_id: chosen,
        version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn provider(id: &str, cpu: f64, priority: i32) -> Provider {
        Provider {
            id: id.into(),
            name: id.into(),
            region: "eu".into(),
            availability_zone: Some("eu-1".into()),
            cloud_provider: None,
            domain: None,
            capacity: ProviderCapacity {
                cpu_total_cores: cpu,
                memory_total_gb: 100.0,
                storage_total_gb: 1000.0,
                cpu_reservation_percent: 100.0,
                memory_reservation_percent: 100.0,
                storage_reservation_percent: 100.0,
            },
            allocated: Usage::default(),
            verify_ssl: true,
            enable_loadbalancer: false,
            is_active: true,
            is_maintenance: false,
            priority,
            tags: vec![],
            metadata: serde_json::Value::Null,
            kubedb: serde_json::Value::Null,
            connection: serde_json::Value::Null,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn req(cpu: f64) -> PlacementRequest {
        PlacementRequest {
            domain: "acme".into(),
            need: Usage {
                cpu_cores: cpu,
                memory_gb: 1.0,
                storage_gb: 10.0,
                databases: 1,
                backups: 0,
            },
            region: None,
            availability_zone: None,
        }
    }

    fn pg(name: &str, version: &str) -> CatalogVersion {
        serde_json::from_value(
            serde_json::json!({"engine": "postgres", "name": name, "version": version}),
        )
        .unwrap()
    }

    #[test]
    fn plan_places_only_where_the_version_is_offered_and_returns_its_entry() {
        // p-b has more room but does not offer 16.4; p-a does, under its own catalog name.
        let ps = vec![provider("p-a", 10.0, 1), provider("p-b", 20.0, 1)];
        let catalog_of = |p: &Provider| match p.id.as_str() {
            "p-a" => vec![pg("16.4-bookworm", "16.4")],
            _ => vec![pg("15.8", "15.8")],
        };
        let policy = VersionPolicy::default();
        let mut r = PlanRequest {
            placement: req(1.0),
            engine: Engine::Postgres,
            version: "16.4",
            provider_id: None,
            policy: &policy,
        };
        let placed = plan(&ps, catalog_of, &r).unwrap();
        assert_eq!(placed.provider_id, "p-a");
        assert_eq!(placed.version.name, "16.4-bookworm");

        r.version = "14.1";
        assert!(matches!(
            plan(&ps, catalog_of, &r),
            Err(DomainError::VersionUnavailable(_))
        ));

        // a manual choice ignores region and zone but not room or the catalog
        r.version = "15.8";
        r.placement.region = Some("us".into());
        r.provider_id = Some("p-b");
        assert_eq!(plan(&ps, catalog_of, &r).unwrap().provider_id, "p-b");
        r.provider_id = Some("p-a");
        assert!(matches!(
            plan(&ps, catalog_of, &r),
            Err(DomainError::VersionUnavailable(_))
        ));
        r.placement.need.cpu_cores = 50.0;
        r.provider_id = Some("p-b");
        assert!(matches!(
            plan(&ps, catalog_of, &r),
            Err(DomainError::NoCapacity(_))
        ));
    }

    #[test]
    fn most_headroom_wins_then_priority_then_id() {
        let ps = vec![provider("p-a", 10.0, 1), provider("p-b", 20.0, 1)];
        assert_eq!(choose(&ps, &req(1.0)).unwrap(), "p-b");
        let ps = vec![provider("p-b", 10.0, 1), provider("p-a", 10.0, 5)];
        assert_eq!(choose(&ps, &req(1.0)).unwrap(), "p-a");
        let ps = vec![provider("p-b", 10.0, 1), provider("p-a", 10.0, 1)];
        assert_eq!(choose(&ps, &req(1.0)).unwrap(), "p-a");
    }

    #[test]
    fn dedicated_before_shared_even_with_less_room() {
        let mut d = provider("p-dedicated", 4.0, 0);
        d.domain = Some("acme".into());
        let mut other = provider("p-other", 100.0, 0);
        other.domain = Some("globex".into());
        let ps = vec![provider("p-shared", 100.0, 1000), d, other];
        assert_eq!(choose(&ps, &req(1.0)).unwrap(), "p-dedicated");
        // When the dedicated one is full, the shared one takes it; another tenant's never does.
        assert_eq!(choose(&ps, &req(8.0)).unwrap(), "p-shared");
    }

    #[test]
    fn maintenance_inactive_region_and_full_are_skipped() {
        let mut m = provider("p-m", 100.0, 0);
        m.is_maintenance = true;
        let mut i = provider("p-i", 100.0, 0);
        i.is_active = false;
        let mut full = provider("p-full", 10.0, 0);
        full.allocated.cpu_cores = 9.5;
        let mut far = provider("p-far", 100.0, 0);
        far.region = "us".into();
        let ps = vec![m, i, full, far];
        // Without a region any region will do.
        assert_eq!(choose(&ps, &req(1.0)).unwrap(), "p-far");
        let mut eu = req(1.0);
        eu.region = Some("eu".into());
        let err = choose(&ps, &eu).unwrap_err();
        assert!(
            matches!(err, DomainError::NoCapacity(ref m) if m.contains("room")),
            "{err}"
        );
        let mut r = req(1.0);
        r.region = Some("us".into());
        assert_eq!(choose(&ps, &r).unwrap(), "p-far");
        r.availability_zone = Some("us-9".into());
        assert!(
            matches!(choose(&ps, &r), Err(DomainError::NoCapacity(m)) if m.contains("no active provider"))
        );
    }

    #[test]
    fn reservation_percent_limits_room() {
        let mut p = provider("p", 10.0, 0);
        p.capacity.cpu_reservation_percent = 50.0;
        assert_eq!(available(&p.capacity, &p.allocated).cpu_cores, 5.0);
        assert!(choose(std::slice::from_ref(&p), &req(5.0)).is_ok());
        assert!(choose(&[p], &req(5.5)).is_err());
    }
}
