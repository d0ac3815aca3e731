//! Demo mode (`dbaas serve --demo`): a simulated KubeDB cluster in-process, its state under the
//! data directory, onboarded as a provider once, with a demo tenant and project to create into.

use anyhow::Context;
use chrono::Utc;
use domain::ids::{new_id, IdKind};
use domain::model::{Project, Provider, ProviderCapacity, Tenant};
use domain::quota::Usage;
use serde_json::json;

use crate::state::AppState;

pub const DEMO_PROVIDER: &str = "demo-cluster";
pub const DEMO_TENANT: &str = "demo";
pub const DEMO_PROJECT: &str = "default";

/// Starts the simulated cluster and makes sure the platform knows it.
pub async fn start(state: &AppState) -> anyhow::Result<sim::SimHandle> {
    // The buckets hold the demo databases' backups: owner-only, like the rest of the data.
    let s3_root = state.config.data_dir.join("s3");
    crate::keys::private_dir(&s3_root)?;
    let handle = sim::start(sim::SimConfig {
        state_file: Some(state.config.data_dir.join("demo-cluster.json")),
        operator: sim::OperatorConfig {
            provisioning_delay: std::time::Duration::from_secs(state.config.demo_provisioning_secs),
            ..Default::default()
        },
        // Backups go to an S3 server of its own, its buckets under the data directory.
        s3: Some(sim::S3ServerConfig::new(s3_root)),
        ..Default::default()
    })
    .await
    .context("starting the simulated demo cluster")?;
    let provider_id = onboard(state, &handle.kubeconfig_yaml).await?;
    ensure_tenant(state).await?;
    if let Some(s3) = &handle.s3 {
        backup_storage(state, &provider_id, s3).await?;
    }
    Ok(handle)
}

/// Points the demo provider's backups at the embedded S3 server (a fresh port each start).
async fn backup_storage(
    state: &AppState,
    provider_id: &str,
    s3: &sim::S3Server,
) -> anyhow::Result<()> {
    let req = domain::backup::BackupStorageRequest {
        endpoint: s3.url.clone(),
        bucket: sim::s3::DEFAULT_BUCKET.into(),
        prefix: "demo".into(),
        region: s3.region.clone(),
        access_key_id: s3.access_key.clone(),
        secret_access_key: s3.secret_key.clone(),
        insecure_tls: false,
    };
    let ctx = state.workflows();
    let scope = domain::backup::BackupScope::Provider(provider_id.to_string());
    crate::workflows::backups::save_storage(&ctx, scope, &req, "demo")
        .await
        .context("configuring the demo backup storage")?;
    crate::workflows::backups::publish_provider_storage(&ctx, provider_id)
        .await
        .context("publishing the demo backup storage")?;
    Ok(())
}

/// Creates the demo provider on first start; later starts hand it the new kubeconfig (the
/// simulated cluster listens on a fresh port each time).
async fn onboard(state: &AppState, kubeconfig: &str) -> anyhow::Result<String> {
    let cluster = provider::Cluster::connect(kubeconfig, true)
        .await
        .context("connecting to the demo cluster")?;
    let report = cluster.probe().await.context("probing the demo cluster")?;
    let now = Utc::now();
    let kubedb = crate::catalog::kubedb_facts(&report);
    let connection = json!({"status": "connected", "last_checked_at": now, "server_version": report.server_version});
    let existing = state
        .store
        .list_providers(&Default::default())
        .await?
        .into_iter()
        .find(|p| p.name == DEMO_PROVIDER);
    match existing {
        Some(mut p) => {
            p.updated_at = now;
            p.kubedb = kubedb;
            p.connection = connection;
            state
                .store
                .update_provider(&p, Some(kubeconfig), &[])
                .await?;
            state.provider_written(&p.id).await;
            Ok(p.id)
        }
        None => {
            let p = Provider {
                id: new_id(IdKind::Provider),
                name: DEMO_PROVIDER.into(),
                region: "local".into(),
                availability_zone: Some("local-a".into()),
                cloud_provider: Some("simulated".into()),
                domain: None,
                capacity: ProviderCapacity {
                    cpu_total_cores: report.nodes.cpu_cores.max(1.0),
                    memory_total_gb: report.nodes.memory_gb.max(1.0),
                    storage_total_gb: report.nodes.ephemeral_storage_gb.max(100.0),
                    cpu_reservation_percent: 80.0,
                    memory_reservation_percent: 80.0,
                    storage_reservation_percent: 80.0,
                },
                allocated: Usage::default(),
                verify_ssl: true,
                enable_loadbalancer: false,
                is_active: true,
                is_maintenance: false,
                priority: 100,
                tags: vec!["demo".into()],
                metadata: json!({}),
                kubedb,
                connection,
                created_at: now,
                updated_at: now,
            };
            state.store.create_provider(&p, kubeconfig, &[]).await?;
            state.provider_written(&p.id).await;
            Ok(p.id)
        }
    }
}

async fn ensure_tenant(state: &AppState) -> anyhow::Result<()> {
    let now = Utc::now();
    if state.store.get_tenant(DEMO_TENANT).await?.is_none() {
        let t = Tenant {
            name: DEMO_TENANT.into(),
            display_name: "Demo".into(),
            plan: Default::default(),
            contact_email: None,
            quota: state.config.default_domain_quota(),
            metadata: json!({}),
            is_active: true,
            created_at: now,
            updated_at: now,
        };
        match state.store.create_tenant(&t).await {
            Ok(()) | Err(store::StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if state
        .store
        .get_project(DEMO_TENANT, DEMO_PROJECT)
        .await?
        .is_none()
    {
        let p = Project {
            domain: DEMO_TENANT.into(),
            name: DEMO_PROJECT.into(),
            display_name: "Default".into(),
            description: Some("Created by demo mode".into()),
            quota: state.config.default_project_quota(),
            metadata: json!({}),
            is_active: true,
            created_at: now,
            updated_at: now,
        };
        match state.store.create_project(&p).await {
            Ok(()) | Err(store::StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// What to do next, printed once the demo is up: the README's first session, filled in.
pub fn instructions(base: &str, admin_email: &str, password: Option<&str>) -> String {
    let pw = password.unwrap_or("<the admin password>");
    format!(
        r#"
  Demo mode: a simulated KubeDB cluster is onboarded as provider '{DEMO_PROVIDER}',
  with tenant '{DEMO_TENANT}' and project '{DEMO_PROJECT}'. A first session (needs curl and jq):

    AUTH="authorization: Bearer $(curl -sf {base}/api/v1/auth/login -H 'content-type: application/json' \
      -d '{{"email":"{admin_email}","password":"{pw}"}}' | jq -r .access_token)"
    DBS={base}/api/v1/domain/{DEMO_TENANT}/project/{DEMO_PROJECT}/databases
    DB=$(curl -sf $DBS -H "$AUTH" -H 'content-type: application/json' \
      -d '{{"name":"orders","engine":"postgres","version":"16.10"}}' | jq -r .id)
    curl -sf $DBS/$DB -H "$AUTH" | jq .status          # pending → provisioning → running
    curl -sf $DBS/$DB/credentials -H "$AUTH" | jq .
"#
    )
}
