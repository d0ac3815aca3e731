//! `dbaas`: the control plane (`serve`), the simulated cluster (`sim`), chores (`migrate`, `admin`),
//! and the client of the REST API (`login`, `db`, `ops`, … – see `server::cli`).

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};
use server::Config;

// glibc malloc spent a quarter of a busy server's time in its own locks and consolidation.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "dbaas",
    version,
    about = "kubedb-dbaas: a database-as-a-service control plane on Kubernetes and KubeDB"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the control plane: REST API, docs, metrics and background jobs.
    Serve {
        #[command(flatten)]
        config: Config,
    },
    /// Apply the store's migrations and exit.
    Migrate {
        #[command(flatten)]
        config: Config,
    },
    /// Run the simulated Kubernetes cluster with its simulated KubeDB operator.
    Sim(sim::cli::SimArgs),
    /// Operator chores.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    #[command(flatten)]
    Client(server::cli::ClientCommand),
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a platform admin. Refuses when the e-mail already belongs to an account, unless
    /// --promote-existing is given.
    CreateAdmin {
        #[arg(long)]
        email: String,
        /// Read from DBAAS_NEW_ADMIN_PASSWORD so it never shows in the process list; generated
        /// (and printed once) when absent.
        #[arg(long, env = "DBAAS_NEW_ADMIN_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Grant the role to an existing account with that e-mail (its password is not changed).
        /// Only for an account you know is yours: anyone can register an address first.
        #[arg(long)]
        promote_existing: bool,
        #[command(flatten)]
        config: Config,
    },
    /// Set a new password for a user.
    ResetPassword {
        #[arg(long)]
        email: String,
        #[arg(long, env = "DBAAS_NEW_PASSWORD", hide_env_values = true)]
        password: String,
        #[command(flatten)]
        config: Config,
    },
    /// Check the configuration: store reachable, keys loadable, Redis reachable when set.
    CheckConfig {
        #[command(flatten)]
        config: Config,
    },
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DBAAS_LOG")
        .unwrap_or_else(|_| "info,sqlx=warn,tower_http=warn".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().expect("a Tokio runtime");
    match cli.command {
        Command::Client(cmd) => runtime.block_on(server::cli::run(cmd, Cli::command)),
        command => match runtime.block_on(run(command)) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("Error: {e:?}");
                std::process::ExitCode::FAILURE
            }
        },
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Client(_) => unreachable!("dispatched in main"),
        Command::Serve { config } => {
            init_logging(&config.log_format);
            let started = std::time::Instant::now();
            let backend = if config.database_url.is_some() {
                "postgres"
            } else {
                "sqlite"
            };
            let running = server::start(config).await?;
            tracing::info!(addr = %running.addr, store = backend, ready_ms = started.elapsed().as_millis() as u64, "kubedb-dbaas is ready");
            if let Some(pw) = &running.generated_admin_password {
                eprintln!(
                    "\n  Created the platform admin {} with password: {pw}\n  (shown once; set DBAAS_ADMIN_PASSWORD to choose it)\n",
                    running.state.config.admin_email
                );
            }
            eprintln!(
                "  API: {0}/api/v1   docs: {0}/docs   health: {0}/health",
                display_url(running.addr)
            );
            if running.demo.is_some() {
                eprintln!(
                    "{}",
                    server::demo::instructions(
                        &display_url(running.addr),
                        &running.state.config.admin_email,
                        running.generated_admin_password.as_deref().or(running
                            .state
                            .config
                            .admin_password
                            .as_deref()),
                    )
                );
            }
            shutdown_signal().await;
            tracing::info!("shutting down");
            running.shutdown().await;
        }
        Command::Migrate { config } => {
            init_logging(&config.log_format);
            server::keys::private_dir(&config.data_dir)?;
            store::run_migrations(&config.store_url())
                .await
                .context("running migrations")?;
            tracing::info!("migrations applied");
        }
        Command::Sim(args) => {
            init_logging("pretty");
            sim::cli::run(args).await?;
        }
        Command::Admin { command } => match command {
            AdminCommand::CreateAdmin {
                email,
                password,
                promote_existing,
                config,
            } => {
                init_logging(&config.log_format);
                let state = server::serve::build_state(config).await?;
                let given = password.is_some();
                match server::serve::create_admin(&state, &email, password, promote_existing).await
                {
                    Ok(server::serve::AdminOutcome::Created { generated_password }) => {
                        println!("created the platform admin {email}");
                        if let Some(pw) = generated_password {
                            println!("password (shown once): {pw}");
                        }
                    }
                    Ok(server::serve::AdminOutcome::Promoted) => {
                        println!(
                            "{email} already existed and is now a platform admin; its password was NOT changed{} \
                             (use `dbaas admin reset-password` to set one)",
                            if given { " (the password given was not used)" } else { "" }
                        );
                    }
                    Err(e) => anyhow::bail!("{e}"),
                }
            }
            AdminCommand::ResetPassword {
                email,
                password,
                config,
            } => {
                init_logging(&config.log_format);
                let state = server::serve::build_state(config).await?;
                server::serve::reset_password(&state, &email, password).await?;
                println!("password of {email} changed");
            }
            AdminCommand::CheckConfig { config } => {
                init_logging(&config.log_format);
                let state = server::serve::build_state(config).await?;
                state.store.ping().await?;
                println!("store: ok ({})", state.store.backend());
                println!(
                    "redis: {}",
                    if state.redis.is_some() {
                        "ok"
                    } else {
                        "not configured (limits kept in process)"
                    }
                );
                println!("keys: ok");
            }
        },
    }
    Ok(())
}

fn display_url(addr: std::net::SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("http://localhost:{}", addr.port())
    } else {
        format!("http://{addr}")
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
