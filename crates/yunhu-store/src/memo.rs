//! A read-through cache of the directory reads every API request makes (tenant, credential,
//! token, staff roster): each request then costs only its own query. Every directory write
//! through this store empties it at once; writes by another process (the admin CLI on the same
//! database) show within [`MAX_AGE`].

use crate::Result;
use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a cached read is trusted without a write through this store.
pub const MAX_AGE: Duration = Duration::from_secs(2);

/// Entries beyond this are dropped wholesale rather than tracked.
const MAX_ENTRIES: usize = 10_000;

type Entry = (u64, Instant, Arc<dyn Any + Send + Sync>);

/// The cache: entries stamped with the write generation they were read in.
#[derive(Debug, Default)]
pub(crate) struct Memo {
    inner: Mutex<MemoInner>,
}

#[derive(Default)]
struct MemoInner {
    generation: u64,
    entries: HashMap<String, Entry>,
}

impl std::fmt::Debug for MemoInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoInner").field("generation", &self.generation).field("entries", &self.entries.len()).finish()
    }
}

impl Memo {
    /// The cached value of `key`, or what `load` reads (then cached, unless a write raced it).
    pub(crate) async fn get<T, F>(&self, key: String, load: F) -> Result<T>
    where
        T: Clone + Send + Sync + 'static,
        F: Future<Output = Result<T>>,
    {
        let generation = {
            let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((g, at, v)) = inner.entries.get(&key)
                && *g == inner.generation
                && at.elapsed() < MAX_AGE
                && let Some(v) = v.downcast_ref::<T>()
            {
                return Ok(v.clone());
            }
            inner.generation
        };
        let value = load.await?;
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.generation == generation {
            if inner.entries.len() >= MAX_ENTRIES {
                inner.entries.clear();
            }
            inner.entries.insert(key, (generation, Instant::now(), Arc::new(value.clone())));
        }
        Ok(value)
    }

    /// Forgets everything: the directory changed.
    pub(crate) fn invalidate(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.generation += 1;
        inner.entries.clear();
    }
}
