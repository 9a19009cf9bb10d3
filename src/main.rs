//! The `smemu` command.

use clap::{Parser, Subcommand};
use smemu::terminal::{logs::LogsArgs, prune::PruneArgs, ps::PsArgs};
use smemu::{AuthMode, Config, Listeners, LogFormat, ServeArgs};
use tracing_subscriber::EnvFilter;

/// glibc's malloc keeps what a batch transform freed in its arenas (an idle smemu stayed at ~170 MB
/// after `make bench`); jemalloc, with its background thread, gives it back to the system.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Debug, Parser)]
#[command(name = "smemu", version, about = "A SageMaker-compatible emulator that runs inference pipelines locally")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the SageMaker API.
    Serve(Box<ServeArgs>),
    /// List a data directory's endpoints and transform jobs with their instances and containers.
    Ps(PsArgs),
    /// Print an endpoint's or transform job's container output (one prefix and colour per container).
    Logs(LogsArgs),
    /// Remove a data directory's containers, or (--all-orphans) those of deleted data directories.
    Prune(PruneArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve(args) => serve(*args).await,
        Command::Ps(args) => smemu::terminal::ps::run(&args).await,
        Command::Logs(args) => smemu::terminal::logs::run(&args).await,
        Command::Prune(args) => smemu::terminal::prune::run(&args).await,
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    init_logging(&args);
    // Purges freed pages after jemalloc's decay time even while smemu is idle.
    if let Err(err) = tikv_jemalloc_ctl::background_thread::write(true) {
        tracing::warn!(error = %err, "jemalloc background thread");
    }
    // Before binding: a refused start serves nothing, not even for a moment.
    check_remote(&args)?;
    let config = Config::from(&args);
    smemu::check_identity(&config)?;
    let api = tokio::net::TcpListener::bind(args.listen).await?;
    let s3 = if args.no_s3 { None } else { Some(tokio::net::TcpListener::bind(args.s3_listen).await?) };
    // The one documented ready line: scripts and tests wait for it and read the addresses from it.
    let s3_url = match &s3 {
        Some(listener) => format!("http://{}", listener.local_addr()?),
        None => "off".to_owned(),
    };
    let ready_line = format!("smemu listening on http://{} s3={s3_url}", api.local_addr()?);
    // Printed once the store is open and start-up is done (see `smemu::run`), not at bind: bound
    // listeners only queue connections until then.
    let ready = move || println!("{ready_line}");
    // Boxed: the server future is deep enough to exceed the compiler's layout recursion limit inline.
    Box::pin(smemu::run(config, Listeners { api, s3 }, shutdown_signal(), ready)).await?;
    tracing::info!("smemu stopped");
    Ok(())
}

/// With `--auth any` every request is accepted and may name any account: on an address other
/// hosts can reach, anyone there could read, change and run what smemu holds (models mount host
/// files, endpoints run containers). So that needs `--auth strict`, or a deliberate `--allow-remote`.
fn check_remote(args: &ServeArgs) -> anyhow::Result<()> {
    if args.auth == AuthMode::Strict || args.allow_remote {
        return Ok(());
    }
    let mut listens = vec![("--listen", args.listen)];
    if !args.no_s3 {
        listens.push(("--s3-listen", args.s3_listen));
    }
    for (flag, addr) in listens {
        if !addr.ip().is_loopback() {
            anyhow::bail!(
                "refusing to serve on {addr} ({flag}): with --auth any, smemu accepts every request from anyone who \
                 can reach that address. Listen on a loopback address (127.0.0.1), use --auth strict with \
                 --access-keys FILE, or pass --allow-remote to serve anyway."
            );
        }
    }
    Ok(())
}

fn init_logging(args: &ServeArgs) {
    let mut filter = EnvFilter::try_new(&args.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    // s3s logs every error answer of the embedded S3 at ERROR from `s3s::ops`, a client's NoSuchKey
    // or InvalidBucketName included. `s3s::service` logs each answer too, 4xx at DEBUG and 5xx at
    // ERROR, so without `s3s::ops` client errors are logged at debug and server errors still show.
    // A filter that names s3s gets all of it.
    if !args.log_level.contains("s3s")
        && let Ok(quiet) = "s3s::ops=off".parse()
    {
        filter = filter.add_directive(quiet);
    }
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Resolves on SIGINT or SIGTERM so that in-flight requests can finish.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
