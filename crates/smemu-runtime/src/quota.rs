//! The local instance quota (`--max-instances`), as the real service's account-level limits: the
//! instances one account runs or is bringing up, across its endpoints and transform jobs, stay at or
//! below the limit; a request that would pass it gets `ResourceLimitExceeded` and changes nothing.
//!
//! What counts (see `EndpointDoc::instances`):
//! - every endpoint that is not `Failed` (`Creating`, `InService`, `Updating`, `Deleting`: its
//!   containers run until it is gone): each variant's larger of desired and current instances, of the
//!   current fleet and, while UpdateEndpoint brings a new fleet up beside it, of that fleet too;
//! - every transform job `InProgress` or `Stopping`: its `InstanceCount`.
//!
//! The quota is per account (all regions together): unlike the real per-region quotas it protects
//! one machine. Check and write happen under one lock per account, so two concurrent requests cannot
//! both pass with only room for one. A request that lowers what an account runs (fewer instances,
//! deletes) is never refused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use smemu_store::{Scope, Store};
use smemu_types::sagemaker::{EndpointStatus, TransformJobStatus};
use tokio::sync::OwnedMutexGuard;

use crate::endpoints::plan::EndpointDoc;
use crate::error::RuntimeError;
use crate::jobs::doc::JobDoc;

/// One lock per account: held from the quota check until the request's write is stored.
#[derive(Default)]
pub struct AccountLocks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl AccountLocks {
    /// Takes the account's quota lock; call [`QuotaGuard::admit`] once the request's delta is known.
    pub async fn lock(&self, scope: &Scope) -> QuotaGuard {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            locks.entry(scope.account.clone()).or_default().clone()
        };
        QuotaGuard { account: scope.account.clone(), _held: lock.lock_owned().await }
    }
}

/// Held while a request that adds instances checks the quota and stores its change.
pub struct QuotaGuard {
    account: String,
    _held: OwnedMutexGuard<()>,
}

impl QuotaGuard {
    /// Admits `delta` more instances for the account (of at most `limit`), or refuses.
    pub async fn admit(&self, store: &dyn Store, limit: u32, delta: u64) -> Result<(), RuntimeError> {
        if delta == 0 {
            return Ok(());
        }
        let limit = u64::from(limit);
        let used = usage(store, &self.account).await?;
        if used.saturating_add(delta) > limit {
            return Err(RuntimeError::InstanceQuota { limit, used, delta });
        }
        Ok(())
    }
}

/// The instances the account runs or is bringing up now.
async fn usage(store: &dyn Store, account: &str) -> Result<u64, RuntimeError> {
    let mut used: u64 = 0;
    for record in store.all_endpoints().await? {
        if record.scope.account != account || record.status == EndpointStatus::Failed {
            continue;
        }
        let doc: EndpointDoc = crate::error::read_doc(&record.name, record.state)?;
        used = used.saturating_add(doc.instances());
    }
    for record in
        store.transform_jobs_with_status(&[TransformJobStatus::InProgress, TransformJobStatus::Stopping]).await?
    {
        if record.scope.account != account {
            continue;
        }
        let job: JobDoc = crate::error::read_doc(&record.name, record.state)?;
        used = used.saturating_add(transform_instances(job.request.transform_resources.as_ref()));
    }
    Ok(used)
}

/// A transform job's `InstanceCount` (validated to be at least 1).
pub fn transform_instances(resources: Option<&smemu_types::sagemaker::TransformResources>) -> u64 {
    resources.and_then(|r| r.instance_count).and_then(|n| u64::try_from(n).ok()).unwrap_or(1).max(1)
}
