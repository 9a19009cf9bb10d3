//! `smemu logs`: an endpoint's or transform job's container output from the data directory's log
//! store (`<data-dir>/logs.sqlite`, what the CloudWatch Logs API serves), one prefix and colour
//! per container (log stream), optionally followed as a running smemu writes more.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use smemu_telemetry::logs::{LOGS_FILE, LogConfig, LogStore, StoredEvent, TimeRange};
use smemu_types::limits::parse_duration;

/// Where SageMaker sends endpoints' and transform jobs' logs (smemu-runtime's `capture/names.rs`).
const ENDPOINT_GROUP_PREFIX: &str = "/aws/sagemaker/Endpoints/";
const TRANSFORM_GROUP: &str = "/aws/sagemaker/TransformJobs";
/// Events read per query.
const PAGE: i64 = 1000;
/// How often `--follow` looks for new lines.
const POLL: Duration = Duration::from_millis(500);
/// ANSI colours given to streams in the order they first appear.
const COLOURS: [&str; 6] = ["36", "33", "32", "35", "34", "91"];

/// `smemu logs` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct LogsArgs {
    /// The endpoint or transform job.
    pub name: String,
    /// Only this container's lines (its name in the pipeline: `ContainerHostname`, else `container-N`).
    #[arg(long)]
    pub container: Option<String>,
    /// Keep printing lines as they are written, until interrupted.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Only lines from this long ago on (e.g. `10m`, `2h`, `30s`).
    #[arg(long, value_parser = parse_duration)]
    pub since: Option<Duration>,
    /// The data directory (the one `smemu serve --data-dir` uses).
    #[arg(long, env = "SMEMU_DATA_DIR", default_value = ".smemu")]
    pub data_dir: PathBuf,
}

pub async fn run(args: &LogsArgs) -> anyhow::Result<()> {
    let dir = super::data_dir(&args.data_dir)?;
    let path = dir.join(LOGS_FILE);
    if !path.is_file() {
        anyhow::bail!("{} has no log store ({LOGS_FILE})", dir.display());
    }
    // Nothing is written through this handle: its retention limit never applies.
    let store = LogStore::open(&path, LogConfig { retention_bytes: u64::MAX }).await?;
    let (groups, prefix) = locate(&store, &args.name).await?;
    if groups.is_empty() {
        anyhow::bail!("no logs of an endpoint or transform job named {:?} in {}", args.name, dir.display());
    }
    let start = args.since.map(|since| now_ms().saturating_sub(i64::try_from(since.as_millis()).unwrap_or(i64::MAX)));
    let range = TimeRange { start, end: None };
    let mut printer = Printer::new(&prefix, args.container.as_deref());
    let mut after = 0;
    loop {
        let events = store.events_written_after(&groups, &prefix, after, range, PAGE).await?;
        if let Some(last) = events.last() {
            after = last.seq;
        }
        printer.print(&events)?;
        if events.len() as i64 == PAGE {
            continue;
        }
        if !args.follow {
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The groups and stream-name prefix of `name`'s lines: an endpoint's group, else the transform
/// jobs' group's streams `<name>/...`. Every account and region is searched.
async fn locate(store: &LogStore, name: &str) -> anyhow::Result<(Vec<i64>, String)> {
    let endpoint = store.groups_named(&format!("{ENDPOINT_GROUP_PREFIX}{name}")).await?;
    if !endpoint.is_empty() {
        return Ok((endpoint, String::new()));
    }
    let prefix = format!("{name}/");
    let mut jobs = Vec::new();
    for group in store.groups_named(TRANSFORM_GROUP).await? {
        if !store.streams(group, Some(&prefix), smemu_telemetry::logs::StreamOrder::Name, false, 0, 1).await?.is_empty()
        {
            jobs.push(group);
        }
    }
    Ok((jobs, prefix))
}

struct Printer {
    /// Dropped from stream names in prefixes (a transform job's name).
    strip: String,
    container: Option<String>,
    colour: bool,
    colours: HashMap<String, &'static str>,
}

impl Printer {
    fn new(strip: &str, container: Option<&str>) -> Self {
        let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Printer { strip: strip.to_owned(), container: container.map(str::to_owned), colour, colours: HashMap::new() }
    }

    fn print(&mut self, events: &[StoredEvent]) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        for event in events {
            // Pipelines' streams end in the container's name; a single container's stream has none.
            if let Some(container) = &self.container
                && event.stream.rsplit('/').next().is_none_or(|last| last != container)
            {
                continue;
            }
            let label = event.stream.strip_prefix(&self.strip).unwrap_or(&event.stream);
            let message = event.message.trim_end_matches(['\n', '\r']);
            if self.colour {
                let next = COLOURS[self.colours.len() % COLOURS.len()];
                let code = *self.colours.entry(event.stream.clone()).or_insert(next);
                writeln!(out, "\x1b[{code}m{label} |\x1b[0m {message}")?;
            } else {
                writeln!(out, "{label} | {message}")?;
            }
        }
        out.flush()?;
        Ok(())
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
