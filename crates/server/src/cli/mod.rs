//! The client subcommands of `dbaas` (`login`, `context`, `db`, `ops`, `providers`, `tenants`,
//! `projects`, `members`, `users`, `audit`, `completion`): a kubectl/doctl-style client of the
//! REST API, with the server's own request and response types.
//!
//! Exit codes: 0 on success, 1 when the server refuses (its envelope's message and details go to
//! stderr) or a followed operation fails, 2 for usage errors (clap's).

mod admin;
mod client;
pub mod config;
mod db;
mod output;

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use admin::{AuditArgs, MembersCmd, OpsCmd, ProjectsCmd, ProvidersCmd, TenantsCmd, UsersCmd};
use client::{CliError, CliResult, Client};
use config::{ClientConfig, Context};
pub use db::DbCmd;
use output::Format;

use crate::routes::auth::{LoginRequest, MeResponse, TokenResponse};

/// Options every client command takes.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Output format: a table for people, JSON or YAML for scripts.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Table, global = true)]
    pub output: Format,
    /// The context to use instead of the current one (see `dbaas context list`).
    #[arg(long, global = true, env = "DBAAS_CONTEXT")]
    pub context: Option<String>,
}

/// The project databases live in; defaults come from the context (`dbaas context set`).
#[derive(Debug, Clone, Args)]
pub struct Scope {
    /// The domain (tenant); defaults to the context's.
    #[arg(long, global = true, env = "DBAAS_DOMAIN")]
    pub domain: Option<String>,
    /// The project; defaults to the context's.
    #[arg(long, global = true, env = "DBAAS_PROJECT")]
    pub project: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Sign in to a server (password from DBAAS_PASSWORD or a prompt, or --api-key) and save
    /// it as a context.
    Login(LoginArgs),
    /// Sign out: revoke the context's session and forget its credentials.
    Logout {
        #[command(flatten)]
        common: Common,
    },
    /// The account the context signs in as, and its roles.
    Whoami {
        #[command(flatten)]
        common: Common,
    },
    /// The saved contexts (servers and accounts): list, use, set defaults, delete.
    Context {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        cmd: ContextCmd,
    },
    /// Databases of a project, addressed by name.
    Db {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        scope: Scope,
        #[command(subcommand)]
        cmd: DbCmd,
    },
    /// Operations (durable, one at a time per database): list, get, wait, cancel.
    Ops {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        cmd: OpsCmd,
    },
    /// Kubernetes clusters databases are placed on (platform admins).
    Providers {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        cmd: ProvidersCmd,
    },
    /// Tenants (domains).
    Tenants {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        cmd: TenantsCmd,
    },
    /// Projects of a domain.
    Projects {
        #[command(flatten)]
        common: Common,
        /// The domain; defaults to the context's.
        #[arg(long, global = true, env = "DBAAS_DOMAIN")]
        domain: Option<String>,
        #[command(subcommand)]
        cmd: ProjectsCmd,
    },
    /// Members of a domain, or of one of its projects with --project.
    Members {
        #[command(flatten)]
        common: Common,
        /// The domain; defaults to the context's.
        #[arg(long, global = true, env = "DBAAS_DOMAIN")]
        domain: Option<String>,
        /// The members of this project instead of the domain's.
        #[arg(long, global = true)]
        project: Option<String>,
        #[command(subcommand)]
        cmd: MembersCmd,
    },
    /// User accounts (platform admins).
    Users {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        cmd: UsersCmd,
    },
    /// The audit log: every change, credentials read and failed login, newest first.
    Audit(AuditArgs),
    /// Print a completion script: `source <(dbaas completion bash)`.
    Completion { shell: clap_complete::Shell },
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Base URL of the control plane, e.g. http://localhost:8000.
    #[arg(long, env = "DBAAS_SERVER")]
    pub server: String,
    /// The account's e-mail (asked for when absent and no --api-key is given).
    #[arg(long, env = "DBAAS_EMAIL")]
    pub email: Option<String>,
    /// Sign in with an API key (`dbaas_…`) instead of a password.
    #[arg(
        long,
        env = "DBAAS_API_KEY",
        hide_env_values = true,
        conflicts_with = "email"
    )]
    pub api_key: Option<String>,
    /// The name to save the context under (default: the server's host and port).
    #[arg(long = "name")]
    pub name: Option<String>,
    /// The default domain of the context's commands.
    #[arg(long)]
    pub domain: Option<String>,
    /// The default project of the context's commands.
    #[arg(long)]
    pub project: Option<String>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Subcommand)]
pub enum ContextCmd {
    /// The saved contexts; `*` marks the current one.
    List,
    /// Make a context the current one.
    Use { name: String },
    /// Set the default domain and project of a context (the current one unless named).
    Set {
        name: Option<String>,
        #[arg(long)]
        domain: Option<String>,
        #[arg(long)]
        project: Option<String>,
    },
    /// Forget a context and its credentials.
    Delete { name: String },
}

/// `--dry-run` (`client`, the default: print the request and send nothing) or
/// `--dry-run=server` (the server's plan: operations, Kubernetes objects, quota delta; it writes
/// nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DryRun {
    Client,
    Server,
}

/// Runs a client command; the answer is the process's exit code.
pub async fn run(cmd: ClientCommand, app: impl FnOnce() -> clap::Command) -> ExitCode {
    let result = match cmd {
        ClientCommand::Completion { shell } => {
            use std::io::Write;
            let mut app = app();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut app, "dbaas", &mut script);
            // A closed pipe (`| head`) is not an error of ours.
            let _ = std::io::stdout().write_all(&script);
            Ok(())
        }
        other => dispatch(other).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::from(1)
        }
    }
}

async fn dispatch(cmd: ClientCommand) -> CliResult<()> {
    match cmd {
        ClientCommand::Login(args) => login(args).await,
        ClientCommand::Logout { common } => logout(&common).await,
        ClientCommand::Whoami { common } => {
            let mut c = connect(&common)?;
            let me: MeResponse = c.get("/api/v1/auth/me").await?;
            show_me(common.output, &c.ctx.server, &me);
            Ok(())
        }
        ClientCommand::Context { common, cmd } => context(common.output, cmd),
        ClientCommand::Db { common, scope, cmd } => {
            let mut c = connect(&common)?;
            let (domain, project) = project_of(&c.ctx, &scope)?;
            db::run(&mut c, common.output, &domain, &project, cmd).await
        }
        ClientCommand::Ops { common, cmd } => {
            admin::ops(&mut connect(&common)?, common.output, cmd).await
        }
        ClientCommand::Providers { common, cmd } => {
            admin::providers(&mut connect(&common)?, common.output, cmd).await
        }
        ClientCommand::Tenants { common, cmd } => {
            admin::tenants(&mut connect(&common)?, common.output, cmd).await
        }
        ClientCommand::Projects {
            common,
            domain,
            cmd,
        } => {
            let mut c = connect(&common)?;
            let domain = domain_of(&c.ctx, domain)?;
            admin::projects(&mut c, common.output, &domain, cmd).await
        }
        ClientCommand::Members {
            common,
            domain,
            project,
            cmd,
        } => {
            let mut c = connect(&common)?;
            let domain = domain_of(&c.ctx, domain)?;
            admin::members(&mut c, common.output, &domain, project.as_deref(), cmd).await
        }
        ClientCommand::Users { common, cmd } => {
            admin::users(&mut connect(&common)?, common.output, cmd).await
        }
        ClientCommand::Audit(args) => {
            let mut c = connect(&args.common)?;
            admin::audit(&mut c, args).await
        }
        ClientCommand::Completion { .. } => unreachable!("handled in run"),
    }
}

/// A client of the chosen context.
fn connect(common: &Common) -> CliResult<Client> {
    let cfg = ClientConfig::load()?;
    let (name, ctx) = cfg.resolve(common.context.as_deref())?;
    if ctx.api_key.is_none() && ctx.access_token.is_none() {
        return Err(CliError::Other(anyhow::anyhow!(
            "context '{name}' is signed out: run `dbaas login --server {}`",
            ctx.server
        )));
    }
    Client::new(Some(name), ctx)
}

fn domain_of(ctx: &Context, given: Option<String>) -> CliResult<String> {
    given.or_else(|| ctx.domain.clone()).ok_or_else(|| {
        CliError::Other(anyhow::anyhow!(
            "no domain: pass --domain, or set a default with `dbaas context set --domain D`"
        ))
    })
}

fn project_of(ctx: &Context, scope: &Scope) -> CliResult<(String, String)> {
    let domain = domain_of(ctx, scope.domain.clone())?;
    let project = scope
        .project
        .clone()
        .or_else(|| ctx.project.clone())
        .ok_or_else(|| {
            CliError::Other(anyhow::anyhow!(
                "no project: pass --project, or set a default with `dbaas context set --project P`"
            ))
        })?;
    Ok((domain, project))
}

/// `host:port` of a server URL, the default name of its context.
fn context_name(server: &str) -> anyhow::Result<String> {
    let url = url::Url::parse(server).with_context(|| format!("'{server}' is not a URL"))?;
    anyhow::ensure!(
        matches!(url.scheme(), "http" | "https"),
        "the server URL must start with http:// or https://"
    );
    let host = url.host_str().context("the server URL has no host")?;
    Ok(match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    })
}

async fn login(args: LoginArgs) -> CliResult<()> {
    let name = match args.name {
        Some(n) => n,
        None => context_name(&args.server)?,
    };
    let mut ctx = Context {
        server: args.server.trim_end_matches('/').to_string(),
        ..Default::default()
    };
    let mut c = Client::new(None, ctx.clone())?;
    if let Some(key) = args.api_key {
        c.ctx.api_key = Some(key.clone());
        ctx.api_key = Some(key);
    } else {
        let email = match args.email {
            Some(e) => e,
            None => prompt("E-mail: ")?,
        };
        let password = match std::env::var("DBAAS_PASSWORD") {
            Ok(p) if !p.is_empty() => p,
            _ => rpassword::prompt_password("Password: ")
                .context("reading the password (or set DBAAS_PASSWORD)")?,
        };
        let pair: TokenResponse = c
            .send(
                Method::POST,
                "/api/v1/auth/login",
                Some(&LoginRequest {
                    email: email.clone(),
                    password,
                }),
            )
            .await?;
        c.ctx.access_token = Some(pair.access_token.clone());
        ctx.email = Some(email);
        ctx.access_token = Some(pair.access_token);
        ctx.refresh_token = Some(pair.refresh_token);
    }
    let me: MeResponse = c.get("/api/v1/auth/me").await?;
    ctx.email = Some(me.email.clone());
    // A user with one project binding gets it as the default.
    let only = match me.bindings.as_slice() {
        [b] if b.project.is_some() => Some((b.domain.clone(), b.project.clone())),
        _ => None,
    };
    ctx.domain = args
        .domain
        .or_else(|| only.as_ref().and_then(|o| o.0.clone()));
    ctx.project = args.project.or_else(|| only.and_then(|o| o.1));
    let mut cfg = ClientConfig::load()?;
    cfg.contexts.insert(name.clone(), ctx.clone());
    cfg.current_context = Some(name.clone());
    cfg.save()?;
    if args.common.output == Format::Table {
        eprintln!(
            "Logged in to {} as {} (context '{name}', saved to {})",
            ctx.server,
            me.email,
            config::path()?.display()
        );
    }
    show_me(args.common.output, &ctx.server, &me);
    Ok(())
}

fn prompt(label: &str) -> anyhow::Result<String> {
    use std::io::Write;
    anyhow::ensure!(
        std::io::stdin().is_terminal(),
        "give --email (no terminal to ask on)"
    );
    eprint!("{label}");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim().to_string())
}

fn show_me(format: Format, server: &str, me: &MeResponse) {
    if format != Format::Table {
        return output::data(format, me);
    }
    output::fields([
        ("server", server.to_string()),
        ("email", me.email.clone()),
        ("name", me.full_name.clone()),
        ("id", me.id.clone()),
        ("roles", output::roles(&me.bindings)),
    ]);
}

async fn logout(common: &Common) -> CliResult<()> {
    let mut cfg = ClientConfig::load()?;
    let (name, ctx) = cfg.resolve(common.context.as_deref())?;
    if let Some(refresh) = &ctx.refresh_token {
        // Revokes the session's token family; the local copy is dropped either way.
        let mut c = Client::new(None, ctx.clone())?;
        c.ctx.access_token = Some(refresh.clone());
        let _ = c.send_raw(Method::POST, "/api/v1/auth/logout", None).await;
    }
    if let Some(c) = cfg.contexts.get_mut(&name) {
        c.access_token = None;
        c.refresh_token = None;
        c.api_key = None;
    }
    cfg.save()?;
    eprintln!("Logged out of context '{name}'");
    Ok(())
}

fn context(format: Format, cmd: ContextCmd) -> CliResult<()> {
    let mut cfg = ClientConfig::load()?;
    match cmd {
        ContextCmd::List => {
            #[derive(serde::Serialize)]
            struct Row<'a> {
                name: &'a str,
                current: bool,
                server: &'a str,
                email: Option<&'a str>,
                auth: &'a str,
                domain: Option<&'a str>,
                project: Option<&'a str>,
            }
            let rows: Vec<Row> = cfg
                .contexts
                .iter()
                .map(|(n, c)| Row {
                    name: n,
                    current: cfg.current_context.as_deref() == Some(n.as_str()),
                    server: &c.server,
                    email: c.email.as_deref(),
                    auth: c.auth_kind(),
                    domain: c.domain.as_deref(),
                    project: c.project.as_deref(),
                })
                .collect();
            if format != Format::Table {
                output::data(format, &rows);
                return Ok(());
            }
            let mut t = output::table();
            t.set_header(vec![
                "CURRENT", "NAME", "SERVER", "EMAIL", "AUTH", "DOMAIN", "PROJECT",
            ]);
            for r in rows {
                t.add_row(vec![
                    if r.current { "*" } else { "" }.to_string(),
                    r.name.to_string(),
                    r.server.to_string(),
                    r.email.unwrap_or_default().to_string(),
                    r.auth.to_string(),
                    r.domain.unwrap_or_default().to_string(),
                    r.project.unwrap_or_default().to_string(),
                ]);
            }
            output::print_table(t);
        }
        ContextCmd::Use { name } => {
            cfg.resolve(Some(&name))?;
            cfg.current_context = Some(name.clone());
            cfg.save()?;
            eprintln!("Switched to context '{name}'");
        }
        ContextCmd::Set {
            name,
            domain,
            project,
        } => {
            let (name, _) = cfg.resolve(name.as_deref())?;
            let c = cfg.contexts.get_mut(&name).expect("resolved");
            if domain.is_none() && project.is_none() {
                return Err(CliError::Other(anyhow::anyhow!(
                    "give --domain and/or --project"
                )));
            }
            if domain.is_some() {
                c.domain = domain;
            }
            if project.is_some() {
                c.project = project;
            }
            cfg.save()?;
            eprintln!("Context '{name}' updated");
        }
        ContextCmd::Delete { name } => {
            if cfg.contexts.remove(&name).is_none() {
                return Err(CliError::Other(anyhow::anyhow!(
                    "no context '{name}' (known: {})",
                    cfg.names()
                )));
            }
            if cfg.current_context.as_deref() == Some(name.as_str()) {
                cfg.current_context = None;
            }
            cfg.save()?;
            eprintln!("Deleted context '{name}'");
        }
    }
    Ok(())
}

/// Parses a command-line value as the server's own enum (`postgres`, `db.t3.small`, …).
pub(crate) fn serde_arg<T: DeserializeOwned>(s: &str) -> Result<T, String> {
    serde_json::from_value(Value::String(s.to_string())).map_err(|e| {
        let msg = e.to_string();
        // serde names the accepted values: "unknown variant `x`, expected one of ..."
        msg.split(" at line").next().unwrap_or(&msg).to_string()
    })
}
