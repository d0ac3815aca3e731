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

impl Binding {
    /// Whether the binding names the scope its role needs: `platform_admin` none, `domain_admin`
    /// a domain, the project roles a domain and a project. The error says what is wrong.
    pub fn check_shape(&self) -> Result<(), String> {
        let want = match self.role {
            Role::PlatformAdmin => (false, false),
            Role::DomainAdmin => (true, false),
            Role::ProjectAdmin | Role::Developer => (true, true),
        };
        if (self.domain.is_some(), self.project.is_some()) == want {
            return Ok(());
        }
        Err(match want {
            (false, _) => "platform_admin takes no domain or project".into(),
            (true, false) => "domain_admin takes a domain and no project".into(),
            _ => format!("{} takes a domain and a project", self.role.as_str()),
        })
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
    /// Visible and otherwise permitted, but the tenant or project is suspended (answered 403).
    Suspended,
}

impl Action {
    /// Whether the action only reads (and reveals no secret): what a suspended scope still allows
    /// its admins.
    pub const fn is_read(self) -> bool {
        matches!(
            self,
            Action::ReadTenant | Action::ReadProject | Action::ReadAudit
        )
    }
}

/// How the caller authenticated: API keys are held to their scopes and stop in suspended scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// An interactive session (access token).
    Session,
    /// An API key; `write` when it carries the `write` scope.
    ApiKey { write: bool },
}

/// Suspended tenants and projects among those a principal's bindings reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Suspensions {
    pub domains: Vec<String>,
    pub projects: Vec<(String, String)>,
}

/// The caller's bindings, with the questions routes ask of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Principal {
    pub bindings: Vec<Binding>,
    pub suspended: Suspensions,
}

impl Principal {
    pub fn new(bindings: Vec<Binding>) -> Self {
        Self {
            bindings,
            suspended: Suspensions::default(),
        }
    }

    /// A principal that also knows which of its tenants and projects are suspended.
    pub fn with_suspensions(bindings: Vec<Binding>, suspended: Suspensions) -> Self {
        Self {
            bindings,
            suspended,
        }
    }

    /// Why `scope` is suspended, if it is: the suspended tenant (`(domain, None)`) or project.
    pub fn suspension(&self, scope: Scope<'_>) -> Option<(String, Option<String>)> {
        let (d, p) = match scope {
            Scope::Platform => return None,
            Scope::Domain(d) => (d, None),
            Scope::Project(d, p) => (d, Some(p)),
        };
        if self.suspended.domains.iter().any(|s| s == d) {
            return Some((d.to_string(), None));
        }
        let p = p?;
        self.suspended
            .projects
            .iter()
            .any(|(sd, sp)| sd == d && sp == p)
            .then(|| (d.to_string(), Some(p.to_string())))
    }

    /// Whether the caller administers exactly this scope (domain admin of its domain, or project
    /// admin of the project): who may still read a suspended scope.
    fn administers(&self, scope: Scope<'_>) -> bool {
        match scope {
            Scope::Platform => false,
            Scope::Domain(d) => self.domain_role(d).is_some(),
            Scope::Project(d, p) => {
                self.domain_role(d).is_some() || self.project_role(d, p) == Some(Role::ProjectAdmin)
            }
        }
    }

    /// [`Principal::decide`] for a caller who authenticated `via` a session or an API key:
    /// read-only keys never read credentials (a write-level secret), and in a suspended tenant or
    /// project only reads by its admins over a session pass. Platform admins are never suspended.
    pub fn decide_via(&self, action: Action, scope: Scope<'_>, via: Via) -> Decision {
        if via == (Via::ApiKey { write: false }) && action == Action::ReadCredentials {
            return match self.decide_roles(Action::ReadProject, scope) {
                Decision::Hidden => Decision::Hidden,
                _ => Decision::Forbidden,
            };
        }
        let base = self.decide_roles(action, scope);
        if base != Decision::Allow || self.is_platform_admin() || self.suspension(scope).is_none() {
            return base;
        }
        let admin_read = via == Via::Session && action.is_read() && self.administers(scope);
        if admin_read {
            Decision::Allow
        } else {
            Decision::Suspended
        }
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

    /// The one authorization decision, for a session caller (see [`Principal::decide_via`]).
    pub fn decide(&self, action: Action, scope: Scope<'_>) -> Decision {
        self.decide_via(action, scope, Via::Session)
    }

    /// What the bindings alone allow, before suspensions and key scopes.
    fn decide_roles(&self, action: Action, scope: Scope<'_>) -> Decision {
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

/// What an API key may do: `read` keys are refused every non-GET call and database credentials.
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

    #[test]
    fn read_only_keys_never_read_credentials() {
        let read = Via::ApiKey { write: false };
        let write = Via::ApiKey { write: true };
        let pa = p(vec![Binding::project(Role::ProjectAdmin, "acme", "web")]);
        let scope = Scope::Project("acme", "web");
        assert_eq!(
            pa.decide_via(Action::ReadCredentials, scope, read),
            Forbidden
        );
        assert_eq!(pa.decide_via(Action::ReadCredentials, scope, write), Allow);
        assert_eq!(
            pa.decide_via(Action::ReadProject, scope, read),
            Allow,
            "other reads stay allowed"
        );
        // Not even a platform admin's read key; an invisible scope stays hidden.
        let admin = p(vec![Binding::platform_admin()]);
        assert_eq!(
            admin.decide_via(Action::ReadCredentials, scope, read),
            Forbidden
        );
        assert_eq!(
            pa.decide_via(
                Action::ReadCredentials,
                Scope::Project("globex", "web"),
                read
            ),
            Hidden
        );
    }

    #[test]
    fn suspended_scopes_refuse_mutations_and_keys() {
        let suspended_tenant = Suspensions {
            domains: vec!["acme".into()],
            projects: vec![],
        };
        let da = Principal::with_suspensions(
            vec![Binding::domain(Role::DomainAdmin, "acme")],
            suspended_tenant.clone(),
        );
        let dev = Principal::with_suspensions(
            vec![Binding::project(Role::Developer, "acme", "web")],
            suspended_tenant,
        );
        let web = Scope::Project("acme", "web");
        assert_eq!(da.decide(Action::WriteDatabases, web), Suspended);
        assert_eq!(
            da.decide(Action::ManageTenant, Scope::Domain("acme")),
            Suspended
        );
        assert_eq!(da.decide(Action::ReadCredentials, web), Suspended);
        // Its admin still reads over a session, never with a key.
        assert_eq!(da.decide(Action::ReadProject, web), Allow);
        assert_eq!(
            da.decide_via(Action::ReadProject, web, Via::ApiKey { write: true }),
            Suspended
        );
        // A developer is not an admin: reads stop too.
        assert_eq!(dev.decide(Action::ReadProject, web), Suspended);
        // Another tenant is unaffected and invisibility wins over suspension.
        assert_eq!(
            da.decide(Action::ReadProject, Scope::Project("globex", "web")),
            Hidden
        );

        // A suspended project: the rest of the domain works.
        let pa = Principal::with_suspensions(
            vec![
                Binding::project(Role::ProjectAdmin, "acme", "web"),
                Binding::project(Role::ProjectAdmin, "acme", "api"),
            ],
            Suspensions {
                domains: vec![],
                projects: vec![("acme".into(), "web".into())],
            },
        );
        assert_eq!(pa.decide(Action::WriteDatabases, web), Suspended);
        assert_eq!(pa.decide(Action::ReadProject, web), Allow);
        assert_eq!(
            pa.decide(Action::WriteDatabases, Scope::Project("acme", "api")),
            Allow
        );
        assert_eq!(
            pa.suspension(web),
            Some(("acme".to_string(), Some("web".to_string())))
        );

        // Platform admins are never suspended.
        let admin = Principal::with_suspensions(
            vec![Binding::platform_admin()],
            Suspensions {
                domains: vec!["acme".into()],
                projects: vec![],
            },
        );
        assert_eq!(admin.decide(Action::WriteDatabases, web), Allow);
    }
}
