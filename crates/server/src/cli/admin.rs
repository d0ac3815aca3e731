//! `dbaas ops|providers|tenants|projects|members|users|audit …`: the operations and the
//! administration routes, with list/get/create/delete where the API has them.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use domain::access::Role;
use domain::model::Plan;
use domain::requests::ProviderCreate;
use domain::status::{OperationStatus, OperationType};
use reqwest::Method;
use serde::de::DeserializeOwned;

use super::client::{CliError, CliResult, Client};
use super::output::{self, s, Format};
use super::{serde_arg, Common};
use crate::routes::audit_logs::AuditList;
use crate::routes::operations::{CancelResponse, OperationList, OperationResponse};
use crate::routes::providers::{ProviderList, ProviderResponse};
use crate::routes::tenants::{
    InvitationResponse, MemberAdd, MemberList, ProjectCreate, ProjectList, ProjectResponse,
    TenantCreate, TenantList, TenantResponse,
};
use crate::routes::users::{UserCreate, UserList, UserResponse};

fn enc(s: &str) -> String {
    urlencoding::encode(s).into_owned()
}

/// Every item of a paged listing (pages of 100).
async fn pages<L: DeserializeOwned, T>(
    c: &mut Client,
    path: &str,
    split: impl Fn(L) -> (Vec<T>, i64),
) -> CliResult<Vec<T>> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut all = Vec::new();
    for page in 1.. {
        let l: L = c
            .get(&format!("{path}{sep}page={page}&page_size=100"))
            .await?;
        let (items, total) = split(l);
        let done = items.is_empty() || page * 100 >= total;
        all.extend(items);
        if done {
            break;
        }
    }
    Ok(all)
}

/// A DELETE answered 204.
async fn delete(c: &mut Client, path: &str, what: &str) -> CliResult<()> {
    c.send_raw(Method::DELETE, path, None).await?;
    eprintln!("{what} deleted");
    Ok(())
}

async fn create<B: serde::Serialize, T: DeserializeOwned>(
    c: &mut Client,
    path: &str,
    body: &B,
) -> CliResult<T> {
    c.send(Method::POST, path, Some(body)).await
}

// ---- operations

#[derive(Debug, Subcommand)]
pub enum OpsCmd {
    /// Operations you can see, newest first.
    List {
        /// Only those of this database id.
        #[arg(long)]
        database_id: Option<String>,
        #[arg(long, value_parser = serde_arg::<OperationStatus>)]
        status: Option<OperationStatus>,
        #[arg(long = "type", value_parser = serde_arg::<OperationType>)]
        op_type: Option<OperationType>,
        /// At most this many (the newest).
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// One operation.
    Get { id: String },
    /// Follow an operation until it ends; exit 1 if it fails.
    Wait {
        id: String,
        #[arg(long, default_value_t = 1800, value_name = "SECS")]
        timeout: u64,
    },
    /// Cancel a queued operation.
    Cancel { id: String },
}

pub async fn ops(c: &mut Client, out: Format, cmd: OpsCmd) -> CliResult<()> {
    match cmd {
        OpsCmd::List {
            database_id,
            status,
            op_type,
            limit,
        } => {
            let mut q = Vec::new();
            if let Some(d) = database_id {
                q.push(format!("database_id={}", enc(&d)));
            }
            if let Some(st) = status {
                q.push(format!("status={}", s(&st)));
            }
            if let Some(t) = op_type {
                q.push(format!("type={}", s(&t)));
            }
            let size = limit.clamp(1, 100);
            q.push(format!("page_size={size}"));
            let l: OperationList = c
                .get(&format!("/api/v1/operations?{}", q.join("&")))
                .await?;
            output::list(out, &l.operations);
            Ok(())
        }
        OpsCmd::Get { id } => {
            let op: OperationResponse = c.get(&format!("/api/v1/operations/{}", enc(&id))).await?;
            output::one(out, &op);
            Ok(())
        }
        OpsCmd::Wait { id, timeout } => {
            let deadline = Instant::now() + Duration::from_secs(timeout);
            let op = super::db::follow(c, &id, deadline).await?;
            output::one(out, &op);
            Ok(())
        }
        OpsCmd::Cancel { id } => {
            let r: CancelResponse = c
                .send::<(), _>(
                    Method::POST,
                    &format!("/api/v1/operations/{}/cancel", enc(&id)),
                    None,
                )
                .await?;
            if out != Format::Table {
                output::data(out, &r);
            } else {
                eprintln!("{}", r.message);
            }
            if r.success {
                Ok(())
            } else {
                Err(CliError::OperationFailed(r.message))
            }
        }
    }
}

// ---- providers

#[derive(Debug, Subcommand)]
pub enum ProvidersCmd {
    /// The providers, highest priority first.
    List,
    /// One provider.
    Get { id: String },
    /// Onboard a Kubernetes cluster with KubeDB installed.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        region: String,
        #[arg(long)]
        zone: Option<String>,
        /// The kubeconfig file of the cluster (stored encrypted, never returned).
        #[arg(long)]
        kubeconfig: PathBuf,
        #[arg(long)]
        cpu_cores: f64,
        #[arg(long)]
        memory_gb: f64,
        #[arg(long)]
        storage_gb: f64,
        /// Dedicate it to one tenant.
        #[arg(long)]
        domain: Option<String>,
        /// 0–1000 (default 100); breaks placement ties.
        #[arg(long, default_value_t = 100)]
        priority: i32,
        /// Skip TLS verification of the cluster's API server.
        #[arg(long)]
        insecure: bool,
    },
    /// Remove a provider (refused while databases live on it).
    Delete { id: String },
}

pub async fn providers(c: &mut Client, out: Format, cmd: ProvidersCmd) -> CliResult<()> {
    match cmd {
        ProvidersCmd::List => {
            let all = pages(c, "/api/v1/providers", |l: ProviderList| {
                (l.providers, l.meta.total)
            })
            .await?;
            output::list(out, &all);
        }
        ProvidersCmd::Get { id } => {
            let p: ProviderResponse = c.get(&format!("/api/v1/providers/{}", enc(&id))).await?;
            output::one(out, &p);
        }
        ProvidersCmd::Create {
            name,
            region,
            zone,
            kubeconfig,
            cpu_cores,
            memory_gb,
            storage_gb,
            domain,
            priority,
            insecure,
        } => {
            let kubeconfig_content = std::fs::read_to_string(&kubeconfig)
                .with_context(|| format!("reading {}", kubeconfig.display()))?;
            let req = ProviderCreate {
                name,
                region,
                availability_zone: zone,
                cloud_provider: None,
                domain,
                cpu_total_cores: cpu_cores,
                memory_total_gb: memory_gb,
                storage_total_gb: storage_gb,
                cpu_reservation_percent: 80.0,
                memory_reservation_percent: 80.0,
                storage_reservation_percent: 80.0,
                kubeconfig_content,
                verify_ssl: !insecure,
                enable_loadbalancer: false,
                is_active: true,
                priority,
                tags: Vec::new(),
                metadata: None,
            };
            let p: ProviderResponse = create(c, "/api/v1/providers", &req).await?;
            output::one(out, &p);
        }
        ProvidersCmd::Delete { id } => {
            delete(c, &format!("/api/v1/providers/{}", enc(&id)), "provider").await?;
        }
    }
    Ok(())
}

// ---- tenants

#[derive(Debug, Subcommand)]
pub enum TenantsCmd {
    /// The tenants you can see.
    List,
    /// One tenant.
    Get { name: String },
    /// Create a tenant (its slug is its id and the `domain` of its routes).
    Create {
        name: String,
        #[arg(long)]
        display_name: Option<String>,
        /// free (default), starter, professional or enterprise.
        #[arg(long, value_parser = serde_arg::<Plan>)]
        plan: Option<Plan>,
        #[arg(long)]
        contact_email: Option<String>,
    },
    /// Delete a tenant.
    Delete { name: String },
}

pub async fn tenants(c: &mut Client, out: Format, cmd: TenantsCmd) -> CliResult<()> {
    match cmd {
        TenantsCmd::List => {
            let all = pages(c, "/api/v1/tenants", |l: TenantList| {
                (l.tenants, l.meta.total)
            })
            .await?;
            output::list(out, &all);
        }
        TenantsCmd::Get { name } => {
            let t: TenantResponse = c.get(&format!("/api/v1/tenants/{}", enc(&name))).await?;
            output::one(out, &t);
        }
        TenantsCmd::Create {
            name,
            display_name,
            plan,
            contact_email,
        } => {
            let req = TenantCreate {
                name,
                display_name,
                plan: plan.unwrap_or_default(),
                contact_email,
                quota: None,
                metadata: None,
            };
            let t: TenantResponse = create(c, "/api/v1/tenants", &req).await?;
            output::one(out, &t);
        }
        TenantsCmd::Delete { name } => {
            delete(c, &format!("/api/v1/tenants/{}", enc(&name)), "tenant").await?;
        }
    }
    Ok(())
}

// ---- projects

#[derive(Debug, Subcommand)]
pub enum ProjectsCmd {
    /// The domain's projects.
    List,
    /// One project.
    Get { name: String },
    /// Create a project.
    Create {
        name: String,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete a project (refused while it holds databases).
    Delete { name: String },
}

pub async fn projects(
    c: &mut Client,
    out: Format,
    domain: &str,
    cmd: ProjectsCmd,
) -> CliResult<()> {
    let base = format!("/api/v1/tenants/{}/projects", enc(domain));
    match cmd {
        ProjectsCmd::List => {
            let all = pages(c, &base, |l: ProjectList| (l.projects, l.meta.total)).await?;
            output::list(out, &all);
        }
        ProjectsCmd::Get { name } => {
            let p: ProjectResponse = c.get(&format!("{base}/{}", enc(&name))).await?;
            output::one(out, &p);
        }
        ProjectsCmd::Create {
            name,
            display_name,
            description,
        } => {
            let req = ProjectCreate {
                name,
                display_name,
                description,
                quota: None,
                metadata: None,
            };
            let p: ProjectResponse = create(c, &base, &req).await?;
            output::one(out, &p);
        }
        ProjectsCmd::Delete { name } => {
            delete(c, &format!("{base}/{}", enc(&name)), "project").await?;
        }
    }
    Ok(())
}

// ---- members

#[derive(Debug, Subcommand)]
pub enum MembersCmd {
    /// The members and their roles.
    List,
    /// Invite someone: the role is granted when they accept (the answer carries the code).
    Add {
        #[arg(long)]
        email: String,
        /// domain_admin, project_admin or developer.
        #[arg(long, value_parser = serde_arg::<Role>)]
        role: Role,
    },
    /// Remove a member's role here.
    Remove { user_id: String },
}

pub async fn members(
    c: &mut Client,
    out: Format,
    domain: &str,
    project: Option<&str>,
    cmd: MembersCmd,
) -> CliResult<()> {
    let base = match project {
        Some(p) => format!(
            "/api/v1/tenants/{}/projects/{}/members",
            enc(domain),
            enc(p)
        ),
        None => format!("/api/v1/tenants/{}/members", enc(domain)),
    };
    match cmd {
        MembersCmd::List => {
            let l: MemberList = c.get(&base).await?;
            output::list(out, &l.members);
        }
        MembersCmd::Add { email, role } => {
            let inv: InvitationResponse = create(c, &base, &MemberAdd { email, role }).await?;
            if out == Format::Table {
                eprintln!(
                    "invited {}: they accept with the code below at {}",
                    inv.email, inv.accept_path
                );
            }
            output::one(out, &inv);
        }
        MembersCmd::Remove { user_id } => {
            delete(c, &format!("{base}/{}", enc(&user_id)), "membership").await?;
        }
    }
    Ok(())
}

// ---- users

#[derive(Debug, Subcommand)]
pub enum UsersCmd {
    /// Every account.
    List,
    /// One account.
    Get { id: String },
    /// Create an account (password from DBAAS_NEW_PASSWORD or a prompt).
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        full_name: String,
        /// Make it a platform admin.
        #[arg(long)]
        platform_admin: bool,
    },
    /// Deactivate an account (the record stays for audit).
    Delete { id: String },
}

pub async fn users(c: &mut Client, out: Format, cmd: UsersCmd) -> CliResult<()> {
    match cmd {
        UsersCmd::List => {
            let all = pages(c, "/api/v1/users", |l: UserList| (l.users, l.meta.total)).await?;
            output::list(out, &all);
        }
        UsersCmd::Get { id } => {
            let u: UserResponse = c.get(&format!("/api/v1/users/{}", enc(&id))).await?;
            output::one(out, &u);
        }
        UsersCmd::Create {
            email,
            full_name,
            platform_admin,
        } => {
            let password = match std::env::var("DBAAS_NEW_PASSWORD") {
                Ok(p) if !p.is_empty() => p,
                _ => rpassword::prompt_password("Password of the new account: ")
                    .context("reading the password (or set DBAAS_NEW_PASSWORD)")?,
            };
            let req = UserCreate {
                email,
                password,
                full_name,
                platform_admin,
                bindings: Vec::new(),
            };
            let u: UserResponse = create(c, "/api/v1/users", &req).await?;
            output::one(out, &u);
        }
        UsersCmd::Delete { id } => {
            delete(c, &format!("/api/v1/users/{}", enc(&id)), "user").await?;
        }
    }
    Ok(())
}

// ---- audit

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub common: Common,
    /// e.g. database.create, auth.login_failed.
    #[arg(long)]
    pub action: Option<String>,
    #[arg(long)]
    pub resource_type: Option<String>,
    #[arg(long)]
    pub resource_id: Option<String>,
    #[arg(long)]
    pub domain: Option<String>,
    #[arg(long)]
    pub project: Option<String>,
    #[arg(long)]
    pub user_id: Option<String>,
    /// RFC 3339, e.g. 2026-01-31T00:00:00Z.
    #[arg(long)]
    pub since: Option<DateTime<Utc>>,
    #[arg(long)]
    pub until: Option<DateTime<Utc>>,
    /// success or failure.
    #[arg(long)]
    pub status: Option<String>,
    #[arg(long, default_value_t = 1)]
    pub page: i64,
    #[arg(long, default_value_t = 20)]
    pub page_size: i64,
}

pub async fn audit(c: &mut Client, a: AuditArgs) -> CliResult<()> {
    let mut q = vec![
        format!("page={}", a.page),
        format!("page_size={}", a.page_size),
    ];
    let text = [
        ("action", a.action),
        ("resource_type", a.resource_type),
        ("resource_id", a.resource_id),
        ("domain", a.domain),
        ("project", a.project),
        ("user_id", a.user_id),
        ("status", a.status),
        ("since", a.since.map(|t| t.to_rfc3339())),
        ("until", a.until.map(|t| t.to_rfc3339())),
    ];
    for (k, v) in text {
        if let Some(v) = v {
            q.push(format!("{k}={}", enc(&v)));
        }
    }
    let l: AuditList = c
        .get(&format!("/api/v1/audit-logs?{}", q.join("&")))
        .await?;
    output::list(a.common.output, &l.audit_logs);
    if a.common.output == Format::Table {
        eprintln!(
            "page {} of {} entries ({} per page)",
            l.meta.page, l.meta.total, l.meta.page_size
        );
    }
    Ok(())
}
