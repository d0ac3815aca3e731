//! `dbaas db …`: the databases of a project, addressed by name (resolved to their id through the
//! listing). Mutations take `--wait` (follow the operations they queue until they end, with a
//! progress bar) and `--dry-run` (print the request, or with `=server` the server's plan).

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use domain::backup::{NewDatabaseTarget, RestoreRequest, RestoreTarget};
use domain::day2::Resize;
use domain::engine::{Engine, Size};
use domain::requests::DatabaseCreate;
use domain::status::OperationStatus;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Method;
use serde::Serialize;
use serde_json::Value;

use super::client::{CliError, CliResult, Client};
use super::output::{self, s, Format};
use super::{serde_arg, DryRun};
use crate::routes::backups::{BackupList, RestoreResponse};
use crate::routes::databases::{Credentials, DatabaseList, DatabaseResponse};
use crate::routes::day2::{UpgradeRequest, UpgradesResponse};
use crate::routes::events::Timeline;
use crate::routes::operations::OperationResponse;
use crate::workflows::day2::{Day2Response, PlanResponse};

/// `--wait`, `--timeout`, `--dry-run`: what every mutation takes.
#[derive(Debug, Clone, Args)]
pub struct Mutation {
    /// Follow the operations this queues until they end; exit 1 if one fails.
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits, in seconds.
    #[arg(long, default_value_t = 1800, value_name = "SECS")]
    pub timeout: u64,
    /// Print the request and send nothing (`--dry-run=server`: the server's plan, written nowhere).
    #[arg(long, value_enum, num_args = 0..=1, require_equals = true, default_missing_value = "client", value_name = "MODE")]
    pub dry_run: Option<DryRun>,
}

#[derive(Debug, Subcommand)]
pub enum DbCmd {
    /// The project's databases.
    List {
        /// Only this engine.
        #[arg(long, value_parser = serde_arg::<Engine>)]
        engine: Option<Engine>,
        /// Only this status (running, paused, failed, …).
        #[arg(long)]
        status: Option<String>,
    },
    /// One database.
    Get { name: String },
    /// Create a database (queued: pending → provisioning → running).
    Create {
        name: String,
        /// postgres, mysql, mariadb, mongodb, redis or elasticsearch.
        #[arg(long, value_parser = serde_arg::<Engine>)]
        engine: Engine,
        /// A version offered by the providers (`GET /api/v1/versions`).
        #[arg(long)]
        version: String,
        /// db.t3.micro (default), db.t3.small, db.t3.medium, db.t3.large, db.t3.xlarge, db.t3.2xlarge.
        #[arg(long, value_parser = serde_arg::<Size>)]
        size: Option<Size>,
        /// Volume size per replica, in GB (10–10000; default 20).
        #[arg(long)]
        storage_gb: Option<i64>,
        /// 1–9 (default 1).
        #[arg(long)]
        replicas: Option<i64>,
        /// High availability (needs at least 3 replicas, an odd number).
        #[arg(long)]
        ha: bool,
        /// No scheduled backups.
        #[arg(long)]
        no_backup: bool,
        /// hourly, daily (default) or weekly.
        #[arg(long)]
        backup_schedule: Option<String>,
        /// Refuse deletes until turned off.
        #[arg(long)]
        deletion_protection: bool,
        /// A label of the KubeDB object, KEY=VALUE (repeatable).
        #[arg(long = "label", value_name = "KEY=VALUE", value_parser = key_value)]
        labels: Vec<(String, String)>,
        /// Place it in this region.
        #[arg(long)]
        region: Option<String>,
        /// Place it in this availability zone.
        #[arg(long)]
        zone: Option<String>,
        #[command(flatten)]
        m: Mutation,
    },
    /// Delete a database (KubeDB WipeOut; the record stays as `deleted`).
    Delete {
        name: String,
        #[command(flatten)]
        m: Mutation,
    },
    /// Change replicas, size or storage (storage never shrinks).
    Scale {
        name: String,
        #[arg(long)]
        replicas: Option<i64>,
        #[arg(long, value_parser = serde_arg::<Size>)]
        size: Option<Size>,
        #[arg(long)]
        storage_gb: Option<i64>,
        #[command(flatten)]
        m: Mutation,
    },
    /// Halt a database, keeping its volumes (only its storage counts against the quota).
    Pause {
        name: String,
        #[command(flatten)]
        m: Mutation,
    },
    /// Run a paused database again.
    Resume {
        name: String,
        #[command(flatten)]
        m: Mutation,
    },
    /// Restart a database's pods.
    Restart {
        name: String,
        #[command(flatten)]
        m: Mutation,
    },
    /// The versions a database may be upgraded to.
    Upgrades { name: String },
    /// Upgrade a database to a version from `upgrades`.
    Upgrade {
        name: String,
        #[arg(long)]
        to: String,
        #[command(flatten)]
        m: Mutation,
    },
    /// User, password, host, port and connection string (every read is audited).
    Credentials { name: String },
    /// Give the database user a new generated password (read it with `credentials`); clients
    /// holding the old one are refused once it is done.
    RotateCredentials {
        name: String,
        #[command(flatten)]
        m: Mutation,
    },
    /// Back a database up now.
    Backup {
        name: String,
        #[command(flatten)]
        m: Mutation,
    },
    /// A database's backups.
    Backups { name: String },
    /// Restore a backup in place, or into a new database with --into.
    Restore {
        name: String,
        /// A backup id from `backups`, or `latest`.
        #[arg(long)]
        backup: String,
        /// Restore into a new database of this name (a clone) instead of in place.
        #[arg(long, value_name = "NEW")]
        into: Option<String>,
        #[command(flatten)]
        m: Mutation,
    },
    /// Live metrics from the database's exporter.
    Metrics { name: String },
    /// What happened to a database, newest first; --follow prints new events as they come.
    Events {
        name: String,
        /// Keep printing new events until interrupted.
        #[arg(short, long)]
        follow: bool,
        /// How many events to show first.
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
}

fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("'{s}' is not KEY=VALUE")),
    }
}

struct Project<'a> {
    base: String,
    domain: &'a str,
    project: &'a str,
}

impl Project<'_> {
    fn db(&self, id: &str) -> String {
        format!("{}/{id}", self.base)
    }
}

fn enc(s: &str) -> String {
    urlencoding::encode(s).into_owned()
}

pub async fn run(
    c: &mut Client,
    out: Format,
    domain: &str,
    project: &str,
    cmd: DbCmd,
) -> CliResult<()> {
    let p = Project {
        base: format!(
            "/api/v1/domain/{}/project/{}/databases",
            enc(domain),
            enc(project)
        ),
        domain,
        project,
    };
    match cmd {
        DbCmd::List { engine, status } => {
            let mut query = String::new();
            if let Some(e) = engine {
                query.push_str(&format!("&engine={}", s(&e)));
            }
            if let Some(st) = status {
                query.push_str(&format!("&status={}", enc(&st)));
            }
            let all = list_all(c, &p, &query).await?;
            output::list(out, &all);
            Ok(())
        }
        DbCmd::Get { name } => {
            let db = resolve(c, &p, &name).await?;
            output::one(out, &db);
            Ok(())
        }
        DbCmd::Create {
            name,
            engine,
            version,
            size,
            storage_gb,
            replicas,
            ha,
            no_backup,
            backup_schedule,
            deletion_protection,
            labels,
            region,
            zone,
            m,
        } => {
            let req = DatabaseCreate {
                name,
                engine,
                version,
                size: size.unwrap_or_default(),
                storage_gb: storage_gb.unwrap_or(20),
                replicas: replicas.unwrap_or(if ha { 3 } else { 1 }),
                high_availability: ha,
                backup_enabled: !no_backup,
                backup_schedule: backup_schedule.unwrap_or_else(|| "daily".into()),
                backup_retention_days: 7,
                monitoring_enabled: true,
                username: None,
                password: None,
                provider_id: None,
                deletion_protection,
                labels: (!labels.is_empty())
                    .then(|| labels.into_iter().collect::<BTreeMap<_, _>>()),
                annotations: None,
            };
            let mut headers = Vec::new();
            if let Some(r) = region {
                headers.push(("X-Region", r));
            }
            if let Some(z) = zone {
                headers.push(("X-Availability-Zone", z));
            }
            let body = serde_json::to_value(&req)?;
            mutate(
                c,
                out,
                &p,
                Method::POST,
                p.base.clone(),
                Some(body),
                &headers,
                &m,
            )
            .await
        }
        DbCmd::Delete { name, m } => {
            let db = resolve(c, &p, &name).await?;
            mutate(c, out, &p, Method::DELETE, p.db(&db.id), None, &[], &m).await
        }
        DbCmd::Scale {
            name,
            replicas,
            size,
            storage_gb,
            m,
        } => {
            let resize = Resize {
                replicas,
                size,
                storage_gb,
            };
            if resize == Resize::default() {
                return Err(CliError::Other(anyhow::anyhow!(
                    "give at least one of --replicas, --size, --storage-gb"
                )));
            }
            let db = resolve(c, &p, &name).await?;
            let body = serde_json::to_value(resize)?;
            let path = format!("{}/scale", p.db(&db.id));
            mutate(c, out, &p, Method::POST, path, Some(body), &[], &m).await
        }
        DbCmd::Pause { name, m } => action(c, out, &p, &name, "pause", &m).await,
        DbCmd::Resume { name, m } => action(c, out, &p, &name, "resume", &m).await,
        DbCmd::Restart { name, m } => action(c, out, &p, &name, "restart", &m).await,
        DbCmd::RotateCredentials { name, m } => {
            action(c, out, &p, &name, "rotate-credentials", &m).await
        }
        DbCmd::Backup { name, m } => action(c, out, &p, &name, "backup", &m).await,
        DbCmd::Upgrades { name } => {
            let db = resolve(c, &p, &name).await?;
            let u: UpgradesResponse = c
                .get(&format!("{}/available-upgrades", p.db(&db.id)))
                .await?;
            if out == Format::Table {
                eprintln!("{} runs {}", db.name, u.current_version);
                output::list(out, &u.available_upgrades);
            } else {
                output::data(out, &u);
            }
            Ok(())
        }
        DbCmd::Upgrade { name, to, m } => {
            let db = resolve(c, &p, &name).await?;
            let body = serde_json::to_value(UpgradeRequest { target_version: to })?;
            let path = format!("{}/upgrade", p.db(&db.id));
            mutate(c, out, &p, Method::POST, path, Some(body), &[], &m).await
        }
        DbCmd::Credentials { name } => {
            let db = resolve(c, &p, &name).await?;
            let cr: Credentials = c.get(&format!("{}/credentials", p.db(&db.id))).await?;
            output::one(out, &cr);
            Ok(())
        }
        DbCmd::Backups { name } => {
            let db = resolve(c, &p, &name).await?;
            let mut all = Vec::new();
            for page in 1.. {
                let l: BackupList = c
                    .get(&format!(
                        "{}/backups?page={page}&page_size=100",
                        p.db(&db.id)
                    ))
                    .await?;
                let done = l.backups.is_empty() || page * 100 >= l.page.total;
                all.extend(l.backups);
                if done {
                    break;
                }
            }
            output::list(out, &all);
            Ok(())
        }
        DbCmd::Restore {
            name,
            backup,
            into,
            m,
        } => {
            let db = resolve(c, &p, &name).await?;
            let req = RestoreRequest {
                backup_id: backup,
                target: match into {
                    None => RestoreTarget::InPlace,
                    Some(name) => RestoreTarget::NewDatabase(NewDatabaseTarget {
                        name,
                        project: None,
                        size: None,
                        storage_gb: None,
                    }),
                },
            };
            let body = serde_json::to_value(&req)?;
            let path = format!("{}/restore", p.db(&db.id));
            mutate(c, out, &p, Method::POST, path, Some(body), &[], &m).await
        }
        DbCmd::Metrics { name } => {
            let db = resolve(c, &p, &name).await?;
            // The route's answer type lives with the live-metrics layers; shown as the server
            // sends it.
            let v: Value = c.get(&format!("{}/metrics", p.db(&db.id))).await?;
            if out != Format::Table {
                output::data(out, &v);
                return Ok(());
            }
            let mut pairs = vec![
                (
                    "source",
                    v["source"].as_str().unwrap_or_default().to_string(),
                ),
                (
                    "collected_at",
                    v["collected_at"].as_str().unwrap_or_default().to_string(),
                ),
            ];
            let metrics: Vec<(String, String)> = v["metrics"]
                .as_object()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), metric_text(v))).collect())
                .unwrap_or_default();
            pairs.extend(metrics.iter().map(|(k, v)| (k.as_str(), v.clone())));
            output::fields(pairs);
            Ok(())
        }
        DbCmd::Events {
            name,
            follow,
            limit,
        } => {
            let db = resolve(c, &p, &name).await?;
            let limit = limit.clamp(1, 100);
            let path = format!("{}/events?page_size={limit}", p.db(&db.id));
            let t: Timeline = c.get(&path).await?;
            if let Some(why) = &t.kubernetes_events_unavailable {
                eprintln!("(Kubernetes events unavailable: {why})");
            }
            if !follow {
                output::list(out, &t.events);
                return Ok(());
            }
            let mut seen: HashSet<String> = t.events.iter().map(event_key).collect();
            // Oldest first while following, as a log reads.
            let mut first = t.events;
            first.reverse();
            print_events(out, &first);
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                let t: Timeline = c.get(&path).await?;
                let mut fresh: Vec<_> = t
                    .events
                    .into_iter()
                    .filter(|e| seen.insert(event_key(e)))
                    .collect();
                fresh.reverse();
                print_events(out, &fresh);
            }
        }
    }
}

fn metric_text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        v => v.to_string(),
    }
}

fn event_key(e: &crate::routes::events::TimelineEvent) -> String {
    format!("{}|{}|{}", e.at.to_rfc3339(), e.kind, e.message)
}

/// Events while following: one line each (JSON lines with `-o json`).
fn print_events(out: Format, events: &[crate::routes::events::TimelineEvent]) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    for e in events {
        let _ = match out {
            // Fixed-width columns, so that lines printed later stay aligned.
            Format::Table => writeln!(
                stdout,
                "{}  {:<10}  {}",
                e.at.format("%Y-%m-%d %H:%M:%S"),
                e.kind,
                e.message
            ),
            Format::Json => writeln!(
                stdout,
                "{}",
                serde_json::to_string(e).expect("events serialise")
            ),
            Format::Yaml => writeln!(
                stdout,
                "---\n{}",
                serde_yaml::to_string(e).expect("events serialise")
            ),
        };
    }
    let _ = stdout.flush();
}

/// Every database of the project (all pages).
async fn list_all(
    c: &mut Client,
    p: &Project<'_>,
    query: &str,
) -> CliResult<Vec<DatabaseResponse>> {
    let mut all = Vec::new();
    for page in 1.. {
        let l: DatabaseList = c
            .get(&format!("{}?page={page}&page_size=100{query}", p.base))
            .await?;
        let done = l.databases.is_empty() || page * 100 >= l.meta.total;
        all.extend(l.databases);
        if done {
            break;
        }
    }
    Ok(all)
}

/// The database of this name in the project (the listing filters by name; the match is exact).
async fn resolve(c: &mut Client, p: &Project<'_>, name: &str) -> CliResult<DatabaseResponse> {
    let found = list_all(c, p, &format!("&name={}", enc(name))).await?;
    found
        .into_iter()
        .find(|d| d.name == name)
        .ok_or_else(|| CliError::Api {
            status: 404,
            code: "not_found".into(),
            message: format!(
                "Database '{name}' not found in project {}/{}",
                p.domain, p.project
            ),
            details: Value::Null,
        })
}

/// pause, resume, restart, backup: a POST without a body.
async fn action(
    c: &mut Client,
    out: Format,
    p: &Project<'_>,
    name: &str,
    what: &str,
    m: &Mutation,
) -> CliResult<()> {
    let db = resolve(c, p, name).await?;
    let path = format!("{}/{what}", p.db(&db.id));
    mutate(c, out, p, Method::POST, path, None, &[], m).await
}

/// What a client-side dry run prints: the request it would send.
#[derive(Serialize)]
struct PlannedRequest<'a> {
    method: &'a str,
    url: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    headers: BTreeMap<&'a str, &'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<&'a Value>,
}

/// What a mutation answers: a database (create, delete), a day-2 answer (its operations), or a
/// restore into a new database.
enum Answer {
    Database(DatabaseResponse),
    Day2(Day2Response),
    Restore(RestoreResponse),
}

impl Answer {
    fn parse(v: Value) -> CliResult<Answer> {
        Ok(if v.get("changed").is_some() {
            Answer::Day2(serde_json::from_value(v)?)
        } else if v.get("backup_id").is_some() {
            Answer::Restore(serde_json::from_value(v)?)
        } else {
            Answer::Database(serde_json::from_value(v)?)
        })
    }

    fn operations(&self) -> Vec<String> {
        match self {
            Answer::Database(d) => d.operation_id.iter().cloned().collect(),
            Answer::Day2(d) => d.operations.iter().map(|o| o.id.clone()).collect(),
            Answer::Restore(r) => vec![r.operation_id.clone()],
        }
    }

    /// The database to show once the operations ended.
    fn database_id(&self) -> String {
        match self {
            Answer::Database(d) => d.id.clone(),
            Answer::Day2(d) => d.database.id.clone(),
            Answer::Restore(r) => r.database_id.clone().unwrap_or_default(),
        }
    }

    fn print(&self, out: Format) {
        match self {
            Answer::Database(d) if out == Format::Table => {
                eprintln!(
                    "database {} ({}): {}, operation {}",
                    d.name,
                    d.id,
                    s(&d.status),
                    d.operation_id.as_deref().unwrap_or("-")
                );
            }
            Answer::Database(d) => output::data(out, d),
            Answer::Day2(d) if out == Format::Table => {
                if d.operations.is_empty() {
                    eprintln!(
                        "database {}: applied ({})",
                        d.database.name,
                        d.changed.join(", ")
                    );
                }
                for o in &d.operations {
                    eprintln!(
                        "database {}: {} {} ({})",
                        d.database.name,
                        s(&o.op_type),
                        s(&o.status),
                        o.id
                    );
                }
            }
            Answer::Day2(d) => output::data(out, d),
            Answer::Restore(r) if out == Format::Table => {
                eprintln!(
                    "restore of {} queued ({}){}",
                    r.backup_id,
                    r.operation_id,
                    r.database_id
                        .as_deref()
                        .map(|d| format!(" into the new database {d}"))
                        .unwrap_or_default()
                );
            }
            Answer::Restore(r) => output::data(out, r),
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn mutate(
    c: &mut Client,
    out: Format,
    p: &Project<'_>,
    method: Method,
    path: String,
    body: Option<Value>,
    headers: &[(&str, String)],
    m: &Mutation,
) -> CliResult<()> {
    match m.dry_run {
        Some(DryRun::Client) => {
            let plan = PlannedRequest {
                method: method.as_str(),
                url: c.url(&path),
                headers: headers.iter().map(|(k, v)| (*k, v.as_str())).collect(),
                body: body.as_ref(),
            };
            if out == Format::Table {
                println!("{} {}", plan.method, plan.url);
                for (k, v) in &plan.headers {
                    println!("{k}: {v}");
                }
                if let Some(b) = plan.body {
                    println!("{}", serde_json::to_string_pretty(b)?);
                }
            } else {
                output::data(out, &plan);
            }
            return Ok(());
        }
        Some(DryRun::Server) => {
            let path = format!("{path}?dry_run=true");
            let (_, v) = c
                .send_raw_with(method, &path, body.as_ref(), headers)
                .await?;
            let plan: PlanResponse = serde_json::from_value(v)?;
            if out == Format::Table {
                let ops: Vec<String> = plan
                    .operations
                    .iter()
                    .map(|o| o["type"].as_str().unwrap_or("?").to_string())
                    .collect();
                let kinds: Vec<String> = plan
                    .kubernetes_objects
                    .iter()
                    .map(|o| {
                        format!(
                            "{}/{}",
                            o["kind"].as_str().unwrap_or("?"),
                            o["metadata"]["name"].as_str().unwrap_or("?")
                        )
                    })
                    .collect();
                output::fields([
                    ("dry run", "nothing was written".to_string()),
                    ("database", plan.database_id.clone()),
                    ("changes", plan.changed.join(", ")),
                    ("operations", ops.join(", ")),
                    ("kubernetes objects", kinds.join(", ")),
                    ("quota delta", serde_json::to_string(&plan.quota_delta)?),
                ]);
            } else {
                output::data(out, &plan);
            }
            return Ok(());
        }
        None => {}
    }
    let (_, v) = c
        .send_raw_with(method, &path, body.as_ref(), headers)
        .await?;
    let answer = Answer::parse(v)?;
    if !m.wait {
        answer.print(out);
        if out == Format::Table {
            if let Answer::Database(d) = &answer {
                output::one(out, d);
            }
        }
        return Ok(());
    }
    if out == Format::Table {
        answer.print(out);
    }
    let deadline = Instant::now() + Duration::from_secs(m.timeout);
    for op in answer.operations() {
        follow(c, &op, deadline).await?;
    }
    let id = answer.database_id();
    if id.is_empty() {
        return Ok(());
    }
    let db: DatabaseResponse = c.get(&p.db(&id)).await?;
    output::one(out, &db);
    Ok(())
}

/// Follows an operation until it ends: a progress bar on a terminal, a line per change
/// otherwise. A failed, cancelled or timed-out operation is an error (exit code 1).
pub async fn follow(
    c: &mut Client,
    op_id: &str,
    deadline: Instant,
) -> CliResult<OperationResponse> {
    let bar = ProgressBar::new(100);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {prefix} [{bar:30}] {pos:>3}% {wide_msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let path = format!("/api/v1/operations/{}", enc(op_id));
    let mut last: Option<OperationStatus> = None;
    let op = loop {
        let op: OperationResponse = c.get(&path).await?;
        bar.set_prefix(format!("{} {}", s(&op.op_type), op.id));
        bar.set_position(op.progress.clamp(0, 100) as u64);
        bar.set_message(format!(
            "{}{}",
            s(&op.status),
            op.message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        ));
        if last != Some(op.status) {
            if bar.is_hidden() {
                eprintln!("{} {}: {}", s(&op.op_type), op.id, s(&op.status));
            }
            last = Some(op.status);
        }
        if op.status.is_terminal() {
            break op;
        }
        if Instant::now() > deadline {
            bar.abandon();
            return Err(CliError::OperationFailed(format!(
                "gave up waiting for operation {} ({} {}, {}%); it goes on: `dbaas ops get {}`",
                op.id,
                s(&op.op_type),
                s(&op.status),
                op.progress,
                op.id
            )));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    bar.finish_and_clear();
    if op.status == OperationStatus::Completed {
        if !bar.is_hidden() {
            eprintln!("{} {}: completed", s(&op.op_type), op.id);
        }
        Ok(op)
    } else {
        Err(CliError::OperationFailed(format!(
            "operation {} ({}) {}: {}",
            op.id,
            s(&op.op_type),
            s(&op.status),
            op.error_message
                .as_deref()
                .or(op.message.as_deref())
                .unwrap_or("no reason given")
        )))
    }
}
