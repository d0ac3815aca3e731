//! Roles, bindings and the one authorization decision every route goes through.
//!
//! A caller who cannot see a scope at all gets [`Decision::Hidden`] (answered 404, so existence is
//! never revealed); one who can see it but lacks the permission gets [`Decision::Forbidden`] (403).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    PlatformAdmin,
    DomainAdmin,
    ProjectAdmin,
    Developer,
}

impl Role {
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::PlatformAdmin => "platform_admin",
            Role::DomainAdmin => "domain_admin",
            Role::ProjectAdmin => "project_admin",
            Role::Developer => "developer",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        [
            Role::PlatformAdmin,
            Role::DomainAdmin,
            Role::ProjectAdmin,
            Role::Developer,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
    /// Whether a binding of this role is attached to a project (else to a domain, or global).
    pub const fn is_project_role(self) -> bool {
        matches!(self, Role::ProjectAdmin | Role::Developer)
    }
}

/// A user's role in a scope: global (`platform_admin`), a domain, or a project of a domain.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub struct Binding {
    pub role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
}

impl Binding {
    pub fn platform_admin() -> Self {
        Binding {
            role: Role::PlatformAdmin,
            domain: None,
            project: None,
        }
    }
    pub fn domain(role: Role, domain: &str) -> Self {
        Binding {
            role,
            domain: Some(domain.to_string()),
            project: None,
        }
    }
    pub fn project(role: Role, domain: &str, project: &str) -> Self {
        Binding {
            role,
            domain: Some(domain.to_string()),
            project: Some(project.to_string()),
        }
    }
}

/// Where an action takes place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    Platform,
    Domain(&'a str),
    Project(&'a str, &'a str),
}

/// Everything a caller can ask to do, grouped the way the contract's permission table groups it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// providers create/update/delete, queue stats, users, tenants create, all audit logs
    ManagePlatform,
    /// read a tenant, its quota, its projects and members
    ReadTenant,
    /// update a tenant; create/update/delete projects; add/remove members of the domain or its projects
    ManageTenant,
    /// read a project, its quota, members, databases, operations
    ReadProject,
    /// create/update/scale/pause/resume/delete/backup/restore/upgrade databases
    WriteDatabases,
    /// read database credentials
    ReadCredentials,
    /// read audit logs of the scope
    ReadAudit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Forbidden,
    Hidden,
}

/// The caller's bindings, with the questions routes ask of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Principal {
    pub bindings: Vec<Binding>,
}

impl Principal {
    pub fn new(bindings: Vec<Binding>) -> Self {
        Self { bindings }
    }

    pub fn is_platform_admin(&self) -> bool {
        self.bindings.iter().any(|b| b.role == Role::PlatformAdmin)
    }

    fn domain_role(&self, domain: &str) -> Option<Role> {
        self.bindings
            .iter()
            .find(|b| b.role == Role::DomainAdmin && b.domain.as_deref() == Some(domain))
            .map(|b| b.role)
    }

    /// The strongest project-level role held on exactly this project.
    fn project_role(&self, domain: &str, project: &str) -> Option<Role> {
        let mut best = None;
        for b in &self.bindings {
            if b.role.is_project_role()
                && b.domain.as_deref() == Some(domain)
                && b.project.as_deref() == Some(project)
            {
                if b.role == Role::ProjectAdmin {
                    return Some(Role::ProjectAdmin);
                }
                best = Some(b.role);
            }
        }
        best
    }

    fn any_binding_in(&self, domain: &str) -> bool {
        self.bindings
            .iter()
            .any(|b| b.domain.as_deref() == Some(domain))
    }

    /// Domains the caller holds any binding in (for listing tenants).
    pub fn visible_domains(&self) -> Vec<String> {
        let mut d: Vec<String> = self
            .bindings
            .iter()
            .filter_map(|b| b.domain.clone())
            .collect();
        d.sort();
        d.dedup();
        d
    }

    /// Projects of `domain` the caller sees: `None` means all of them.
    pub fn visible_projects(&self, domain: &str) -> Option<Vec<String>> {
        if self.is_platform_admin() || self.domain_role(domain).is_some() {
            return None;
        }
        let mut p: Vec<String> = self
            .bindings
            .iter()
            .filter(|b| b.domain.as_deref() == Some(domain))
            .filter_map(|b| b.project.clone())
            .collect();
        p.sort();
        p.dedup();
        Some(p)
    }

    /// The one authorization decision.
    pub fn decide(&self, action: Action, scope: Scope<'_>) -> Decision {
        use Action::*;
        use Decision::*;
        if self.is_platform_admin() {
            return Allow;
        }
        match scope {
            Scope::Platform => Forbidden,
            Scope::Domain(d) => {
                if self.domain_role(d).is_some() {
                    return match action {
                        ManagePlatform => Forbidden,
                        _ => Allow,
                    };
                }
                if !self.any_binding_in(d) {
                    return Hidden;
                }
                match action {
                    ReadTenant => Allow,
                    _ => Forbidden,
                }
            }
            Scope::Project(d, p) => {
                if self.domain_role(d).is_some() {
                    return match action {
                        ManagePlatform => Forbidden,
                        _ => Allow,
                    };
                }
                match self.project_role(d, p) {
                    None => Hidden,
                    Some(Role::ProjectAdmin) => match action {
                        ReadTenant | ReadProject | WriteDatabases | ReadCredentials | ReadAudit => {
                            Allow
                        }
                        ManageTenant | ManagePlatform => Forbidden,
                    },
                    Some(_) => match action {
                        ReadTenant | ReadProject => Allow,
                        _ => Forbidden,
                    },
                }
            }
        }
    }
}

/// What an API key may do: `read` keys are refused every non-GET call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyScope {
    Read,
    Write,
}

#[cfg(test)]
mod tests {
    use super::*;
    use Decision::*;

    fn p(b: Vec<Binding>) -> Principal {
        Principal::new(b)
    }

    #[test]
    fn platform_admin_may_do_everything() {
        let a = p(vec![Binding::platform_admin()]);
        assert_eq!(a.decide(Action::ManagePlatform, Scope::Platform), Allow);
        assert_eq!(
            a.decide(Action::ReadCredentials, Scope::Project("x", "y")),
            Allow
        );
    }

    #[test]
    fn domain_admin_owns_its_domain_only() {
        let a = p(vec![Binding::domain(Role::DomainAdmin, "acme")]);
        assert_eq!(a.decide(Action::ManageTenant, Scope::Domain("acme")), Allow);
        assert_eq!(
            a.decide(Action::WriteDatabases, Scope::Project("acme", "web")),
            Allow
        );
        assert_eq!(
            a.decide(Action::ReadTenant, Scope::Domain("globex")),
            Hidden
        );
        assert_eq!(
            a.decide(Action::ReadProject, Scope::Project("globex", "web")),
            Hidden
        );
        assert_eq!(a.decide(Action::ManagePlatform, Scope::Platform), Forbidden);
    }

    #[test]
    fn project_roles() {
        let pa = p(vec![Binding::project(Role::ProjectAdmin, "acme", "web")]);
        let dev = p(vec![Binding::project(Role::Developer, "acme", "web")]);
        assert_eq!(
            pa.decide(Action::WriteDatabases, Scope::Project("acme", "web")),
            Allow
        );
        assert_eq!(
            pa.decide(Action::ReadCredentials, Scope::Project("acme", "web")),
            Allow
        );
        assert_eq!(pa.decide(Action::ReadTenant, Scope::Domain("acme")), Allow);
        assert_eq!(
            pa.decide(Action::ManageTenant, Scope::Domain("acme")),
            Forbidden
        );
        assert_eq!(
            pa.decide(Action::ReadProject, Scope::Project("acme", "api")),
            Hidden
        );
        assert_eq!(
            dev.decide(Action::ReadProject, Scope::Project("acme", "web")),
            Allow
        );
        assert_eq!(
            dev.decide(Action::WriteDatabases, Scope::Project("acme", "web")),
            Forbidden
        );
        assert_eq!(
            dev.decide(Action::ReadCredentials, Scope::Project("acme", "web")),
            Forbidden
        );
        assert_eq!(
            dev.decide(Action::ReadAudit, Scope::Project("acme", "web")),
            Forbidden
        );
        assert_eq!(dev.visible_projects("acme"), Some(vec!["web".to_string()]));
    }
}
