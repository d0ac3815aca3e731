//! `-o table|json|yaml`: tables for people (the default), JSON and YAML for scripts. JSON and YAML
//! are the server's own types serialised: a listing is an array of its items (every page).

use chrono::{DateTime, Utc};
use clap::ValueEnum;
use comfy_table::{presets, ContentArrangement, Table};
use serde::Serialize;
use serde_json::Value;

use crate::routes::auth::ApiKeyResponse;
use crate::routes::databases::{Credentials, DatabaseResponse};
use crate::routes::events::TimelineEvent;
use crate::routes::operations::OperationResponse;
use crate::routes::providers::ProviderResponse;
use crate::routes::tenants::{InvitationResponse, MemberResponse, ProjectResponse, TenantResponse};
use crate::routes::users::UserResponse;
use domain::audit::AuditEntry;
use domain::backup::Backup;
use domain::day2::AvailableUpgrade;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Format {
    #[default]
    Table,
    Json,
    Yaml,
}

/// A row of a table: the columns of a listing, and the fields of a single object's view.
pub trait Tabular {
    fn headers() -> Vec<&'static str>;
    fn row(&self) -> Vec<String>;
}

/// The JSON text of an enum or value (`"running"` → `running`).
pub fn s<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        Ok(Value::Null) => String::new(),
        Ok(v) => v.to_string(),
        Err(_) => String::new(),
    }
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

fn time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn opt_time(t: &Option<DateTime<Utc>>) -> String {
    t.as_ref().map(time).unwrap_or_default()
}

pub fn table() -> Table {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled);
    t
}

/// Prints a table kubectl's way: no borders, two spaces between columns, no trailing blanks.
pub fn print_table(mut t: Table) {
    for c in t.column_iter_mut() {
        c.set_padding((0, 2));
    }
    let text = t.to_string();
    for line in text.lines() {
        println!("{}", line.trim_end());
    }
}

/// Prints a serialisable value as JSON or YAML.
pub fn data<T: Serialize + ?Sized>(format: Format, v: &T) {
    match format {
        Format::Yaml => print!(
            "{}",
            serde_yaml::to_string(v).expect("answers serialise to YAML")
        ),
        _ => println!(
            "{}",
            serde_json::to_string_pretty(v).expect("answers serialise to JSON")
        ),
    }
}

/// A listing: a table of rows, or an array.
pub fn list<T: Tabular + Serialize>(format: Format, items: &[T]) {
    if format != Format::Table {
        return data(format, items);
    }
    let mut t = table();
    t.set_header(T::headers());
    for i in items {
        t.add_row(i.row());
    }
    print_table(t);
}

/// One object: its fields one per line, or the object.
pub fn one<T: Tabular + Serialize>(format: Format, item: &T) {
    if format != Format::Table {
        return data(format, item);
    }
    fields(T::headers().into_iter().zip(item.row()));
}

/// A two-column view of names and values.
pub fn fields<'a>(pairs: impl IntoIterator<Item = (&'a str, String)>) {
    let mut t = table();
    for (k, v) in pairs {
        t.add_row(vec![format!("{k}:"), v]);
    }
    print_table(t);
}

impl Tabular for DatabaseResponse {
    fn headers() -> Vec<&'static str> {
        vec![
            "NAME", "ENGINE", "VERSION", "SIZE", "STORAGE", "REPLICAS", "STATUS", "ENDPOINT", "ID",
        ]
    }
    fn row(&self) -> Vec<String> {
        vec![
            self.name.clone(),
            s(&self.engine),
            self.version.clone(),
            s(&self.size),
            format!("{}Gi", self.storage_gb),
            format!("{}/{}", self.ready_replicas, self.replicas),
            s(&self.status),
            match (&self.endpoint, self.port) {
                (Some(h), Some(p)) => format!("{h}:{p}"),
                (Some(h), None) => h.clone(),
                _ => String::new(),
            },
            self.id.clone(),
        ]
    }
}

impl Tabular for OperationResponse {
    fn headers() -> Vec<&'static str> {
        vec![
            "ID", "TYPE", "STATUS", "PROGRESS", "DATABASE", "CREATED", "MESSAGE",
        ]
    }
    fn row(&self) -> Vec<String> {
        vec![
            self.id.clone(),
            s(&self.op_type),
            s(&self.status),
            format!("{}%", self.progress),
            self.database_id.clone(),
            time(&self.created_at),
            self.error_message
                .clone()
                .or_else(|| self.message.clone())
                .unwrap_or_default(),
        ]
    }
}

impl Tabular for Backup {
    fn headers() -> Vec<&'static str> {
        vec![
            "ID", "KIND", "STATUS", "SNAPSHOT", "SIZE", "EXPIRES", "ERROR",
        ]
    }
    fn row(&self) -> Vec<String> {
        vec![
            self.id.clone(),
            s(&self.kind),
            s(&self.status),
            opt_time(&self.snapshot_time),
            self.size_bytes.map(|b| format!("{b}B")).unwrap_or_default(),
            opt_time(&self.expires_at),
            opt(&self.error),
        ]
    }
}

impl Tabular for TimelineEvent {
    fn headers() -> Vec<&'static str> {
        vec!["AT", "KIND", "MESSAGE"]
    }
    fn row(&self) -> Vec<String> {
        vec![time(&self.at), self.kind.to_string(), self.message.clone()]
    }
}

impl Tabular for AvailableUpgrade {
    fn headers() -> Vec<&'static str> {
        vec!["VERSION", "ENGINE VERSION", "KIND"]
    }
    fn row(&self) -> Vec<String> {
        vec![
            self.version.clone(),
            self.engine_version.clone(),
            s(&self.kind),
        ]
    }
}

impl Tabular for Credentials {
    fn headers() -> Vec<&'static str> {
        vec![
            "USERNAME",
            "PASSWORD",
            "HOST",
            "PORT",
            "DATABASE",
            "CONNECTION STRING",
        ]
    }
    fn row(&self) -> Vec<String> {
        vec![
            self.username.clone(),
            self.password.clone(),
            self.host.clone(),
            self.port.to_string(),
            self.database.clone(),
            self.connection_string.clone(),
        ]
    }
}

impl Tabular for ProviderResponse {
    fn headers() -> Vec<&'static str> {
        vec![
            "ID",
            "NAME",
            "REGION",
            "ACTIVE",
            "CPU FREE",
            "MEMORY FREE",
            "STORAGE FREE",
            "CONNECTION",
        ]
    }
    fn row(&self) -> Vec<String> {
        let r = &self.resources;
        vec![
            self.id.clone(),
            self.name.clone(),
            self.region.clone(),
            self.is_active.to_string(),
            format!("{}/{}", r.cpu.available_cores, r.cpu.total_cores),
            format!("{}/{}Gi", r.memory.available_gb, r.memory.total_gb),
            format!("{}/{}Gi", r.storage.available_gb, r.storage.total_gb),
            self.connection.status.clone(),
        ]
    }
}

impl Tabular for TenantResponse {
    fn headers() -> Vec<&'static str> {
        vec!["NAME", "DISPLAY NAME", "PLAN", "ACTIVE", "CREATED"]
    }
    fn row(&self) -> Vec<String> {
        vec![
            self.name.clone(),
            self.display_name.clone(),
            s(&self.plan),
            self.is_active.to_string(),
            time(&self.created_at),
        ]
    }
}

impl Tabular for ProjectResponse {
    fn headers() -> Vec<&'static str> {
        vec![
            "NAME",
            "DOMAIN",
            "DISPLAY NAME",
            "ACTIVE",
            "MAX DATABASES",
            "CREATED",
        ]
    }
    fn row(&self) -> Vec<String> {
        vec![
            self.name.clone(),
            self.domain.clone(),
            self.display_name.clone(),
            self.is_active.to_string(),
            self.quota.max_databases.to_string(),
            time(&self.created_at),
        ]
    }
}

impl Tabular for MemberResponse {
    fn headers() -> Vec<&'static str> {
        vec!["USER ID", "EMAIL", "NAME", "ROLE", "DOMAIN", "PROJECT"]
    }
    fn row(&self) -> Vec<String> {
        vec![
            self.user_id.clone(),
            self.email.clone(),
            self.full_name.clone(),
            s(&self.role),
            self.domain.clone(),
            opt(&self.project),
        ]
    }
}

impl Tabular for InvitationResponse {
    fn headers() -> Vec<&'static str> {
        vec![
            "ID", "EMAIL", "ROLE", "DOMAIN", "PROJECT", "STATUS", "EXPIRES", "CODE",
        ]
    }
    fn row(&self) -> Vec<String> {
        vec![
            self.id.clone(),
            self.email.clone(),
            s(&self.role),
            self.domain.clone(),
            opt(&self.project),
            s(&self.status),
            time(&self.expires_at),
            opt(&self.code),
        ]
    }
}

fn bindings(b: &[domain::access::Binding]) -> String {
    b.iter()
        .map(|b| {
            let scope = match (&b.domain, &b.project) {
                (Some(d), Some(p)) => format!("@{d}/{p}"),
                (Some(d), None) => format!("@{d}"),
                _ => String::new(),
            };
            format!("{}{scope}", s(&b.role))
        })
        .collect::<Vec<_>>()
        .join(",")
}

impl Tabular for UserResponse {
    fn headers() -> Vec<&'static str> {
        vec!["ID", "EMAIL", "NAME", "ACTIVE", "ROLES", "LAST LOGIN"]
    }
    fn row(&self) -> Vec<String> {
        vec![
            self.id.clone(),
            self.email.clone(),
            self.full_name.clone(),
            self.is_active.to_string(),
            bindings(&self.bindings),
            opt_time(&self.last_login_at),
        ]
    }
}

impl Tabular for ApiKeyResponse {
    fn headers() -> Vec<&'static str> {
        vec!["ID", "NAME", "PREFIX", "SCOPES", "EXPIRES", "KEY"]
    }
    fn row(&self) -> Vec<String> {
        vec![
            self.id.clone(),
            self.name.clone(),
            self.prefix.clone(),
            s(&self.scopes),
            opt_time(&self.expires_at),
            opt(&self.key),
        ]
    }
}

impl Tabular for AuditEntry {
    fn headers() -> Vec<&'static str> {
        vec![
            "TIME", "ACTION", "STATUS", "CODE", "USER", "RESOURCE", "SCOPE",
        ]
    }
    fn row(&self) -> Vec<String> {
        vec![
            time(&self.timestamp),
            self.action.clone(),
            s(&self.status),
            opt(&self.status_code),
            opt(&self.user_email),
            format!("{} {}", self.resource_type, opt(&self.resource_id)),
            match (&self.domain, &self.project) {
                (Some(d), Some(p)) => format!("{d}/{p}"),
                (Some(d), None) => d.clone(),
                _ => String::new(),
            },
        ]
    }
}

/// `bindings` for the `login` and `whoami` views.
pub fn roles(b: &[domain::access::Binding]) -> String {
    bindings(b)
}
