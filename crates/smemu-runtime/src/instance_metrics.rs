//! Instance metrics, sampled from the engine every few seconds, off the invoke path: for each
//! instance smemu runs, `CPUUtilization`, `MemoryUtilization` and `DiskUtilization` in percent,
//! as the developer guide defines them
//! (<https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html>): endpoints in
//! `/aws/sagemaker/Endpoints` with `EndpointName` and `VariantName`, transform jobs in
//! `/aws/sagemaker/TransformJobs` with `Host` = `<TransformJobName>/<instance-id>`.
//! - CPU: "the sum of each individual CPU core's utilization ... if there are four CPUs, the
//!   CPUUtilization range is 0%–400%": the containers' CPU time between two samples over the
//!   host's, times the CPUs they may use.
//! - Memory: "the percentage of memory that is used by the containers on an instance" (0–100 %),
//!   of the instance's memory limit.
//! - Disk: "the percentage of disk space used by the containers on an instance" (0–100 %): what
//!   they wrote to their own filesystems, of the size of the filesystem holding smemu's data.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use smemu_backend::{ContainerStats, ObservedInstance, OwnerKind};
use smemu_telemetry::metrics::{Point, Recorders, SeriesKey, Stats, names, units};

use crate::launch::Launcher;

/// Samples every `interval` until the task is aborted.
pub(crate) async fn run(launcher: Launcher, recorders: Arc<Recorders>, interval: Duration, data_dir: PathBuf) {
    let mut tick = tokio::time::interval(interval.max(Duration::from_millis(500)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut previous: HashMap<String, ContainerStats> = HashMap::new();
    loop {
        tick.tick().await;
        let Ok(backend) = launcher.backend() else { continue };
        let instances = match backend.list(launcher.owner()).await {
            Ok(instances) => instances,
            Err(err) => {
                tracing::debug!(error = %err, "instance metrics: listing instances");
                continue;
            }
        };
        let disk_capacity = disk_capacity(&data_dir);
        let ts_ms = now_ms();
        let mut seen = HashMap::with_capacity(previous.len());
        for instance in &instances {
            let mut readings = Vec::with_capacity(instance.containers.len());
            for container in instance.containers.iter().filter(|c| c.running) {
                match backend.stats(&container.container_id).await {
                    Ok(stats) => readings.push((previous.get(&container.container_id).copied(), stats)),
                    Err(err) => tracing::debug!(error = %err, "instance metrics: container stats"),
                }
                if let Some((_, stats)) = readings.last() {
                    seen.insert(container.container_id.clone(), *stats);
                }
            }
            if readings.is_empty() {
                continue;
            }
            let utilization = Utilization::of(&readings, disk_capacity);
            for (key, value) in samples(instance, &utilization) {
                recorders.push_sample(
                    key,
                    Point {
                        ts_ms: ts_ms - ts_ms.rem_euclid(1000),
                        unit: units::PERCENT.into(),
                        stats: Stats::repeated(value, 1.0),
                    },
                );
            }
        }
        previous = seen;
    }
}

/// One instance's utilization in percent; CPU needs a previous reading of each container.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Utilization {
    cpu: Option<f64>,
    memory: f64,
    disk: f64,
}

impl Utilization {
    fn of(readings: &[(Option<ContainerStats>, ContainerStats)], disk_capacity: u64) -> Utilization {
        let mut cpu = Some(0.0);
        for (before, now) in readings {
            let share = before.and_then(|before| {
                let used = now.cpu_ns.checked_sub(before.cpu_ns)? as f64;
                let system = now.system_cpu_ns.checked_sub(before.system_cpu_ns)? as f64;
                (system > 0.0).then(|| used / system * f64::from(now.online_cpus.max(1)) * 100.0)
            });
            cpu = cpu.zip(share).map(|(total, share)| total + share);
        }
        let memory: u64 = readings.iter().map(|(_, s)| s.memory_bytes).sum();
        let limit = readings.iter().map(|(_, s)| s.memory_limit_bytes).max().unwrap_or(0);
        let disk: u64 = readings.iter().map(|(_, s)| s.disk_bytes).sum();
        let percent =
            |part: u64, whole: u64| if whole == 0 { 0.0 } else { (part as f64 / whole as f64 * 100.0).min(100.0) };
        Utilization { cpu, memory: percent(memory, limit), disk: percent(disk, disk_capacity) }
    }
}

/// The series an instance's utilization goes to, by what runs on it.
fn samples(instance: &ObservedInstance, utilization: &Utilization) -> Vec<(SeriesKey, f64)> {
    // `smemu.resource` is `<account>/<region>/<name>` for endpoints and jobs alike.
    let mut parts = instance.resource.splitn(3, '/');
    let (Some(account), Some(region), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
        return Vec::new();
    };
    let (namespace, dimensions) = match instance.kind {
        OwnerKind::Endpoint => (
            names::ENDPOINTS,
            vec![("EndpointName".to_owned(), name.to_owned()), ("VariantName".to_owned(), instance.variant.clone())],
        ),
        OwnerKind::TransformJob => {
            (names::TRANSFORM_JOBS, vec![("Host".to_owned(), format!("{name}/{}", instance.instance_id))])
        }
    };
    let key = |metric: &str| SeriesKey::new(account, region, namespace, metric, dimensions.clone());
    let mut out = vec![(key(names::MEMORY), utilization.memory), (key(names::DISK), utilization.disk)];
    if let Some(cpu) = utilization.cpu {
        out.push((key(names::CPU), cpu));
    }
    out
}

/// The size of the filesystem holding `dir`, in bytes (0 when it cannot be told).
fn disk_capacity(dir: &std::path::Path) -> u64 {
    rustix::fs::statvfs(dir).map_or(0, |fs| fs.f_blocks.saturating_mul(fs.f_frsize))
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(cpu_ns: u64, system_cpu_ns: u64, memory: u64) -> ContainerStats {
        ContainerStats {
            cpu_ns,
            system_cpu_ns,
            online_cpus: 4,
            memory_bytes: memory,
            memory_limit_bytes: 1000,
            disk_bytes: 10,
        }
    }

    #[test]
    fn cpu_is_the_sum_over_cores_and_memory_a_share_of_the_instance() {
        // Two containers, each using a quarter of the host's CPU time over 4 CPUs: 100 % each.
        let readings =
            [(Some(stats(0, 0, 100)), stats(250, 1000, 100)), (Some(stats(0, 0, 200)), stats(250, 1000, 200))];
        let u = Utilization::of(&readings, 100);
        assert_eq!(u.cpu, Some(200.0));
        assert_eq!(u.memory, 30.0);
        assert_eq!(u.disk, 20.0);
        // Without a previous reading there is no CPU figure yet.
        assert_eq!(Utilization::of(&[(None, stats(1, 1, 1))], 100).cpu, None);
    }
}
