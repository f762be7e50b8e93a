//! The event log's writer: events and call records from every call are committed together, a
//! transaction per batch, so a busy switch pays one commit for many writes.
//!
//! An event someone waits on (its id is needed, or a request's answer depends on it) is committed
//! at once, with whatever is queued before it. A call's progress events are not waited on: they
//! join the next commit, which waits up to [`GROUP_WINDOW`] for company (longer only while the
//! commit before it is still being written), so a call in progress never waits on the disk and a
//! busy switch commits a few times per call rather than once per event. Records and flushes come
//! at a call's end and ride the next commit the same way. Order is kept (one queue), and a call's
//! record is projected only after a flush, so from all of its call's events. What a `kill -9` can
//! lose is the progress events still queued, of calls still up, whose records are then rebuilt
//! from the rest on the next start; a stop writes them first.

use crate::CcError;
use crate::bus::{EventBus, FeedEvent, on_bus};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use yunhu_store::calls::EventRow;
use yunhu_store::{Db, StoreError, TenantId};

use yunhu_core::call::CallRecord;

/// Who waits on a job: answered with the event's id (0 for other jobs) once committed.
type Reply = oneshot::Sender<Result<i64, String>>;

/// What the writer commits: an event (answered with its id when someone waits), a call record, or
/// nothing (a flush of what is queued; `true`: on disk, safe from a power cut).
enum Job {
    Event(EventRow, Option<Reply>),
    Record(Box<(TenantId, String, CallRecord)>, Reply),
    Flush(Reply, bool),
}

impl Job {
    /// An event someone waits on to go on (its id, or an answer to a request): committed at once.
    /// Records and flushes come at the end of a call and can share the next window's commit.
    fn urgent(&self) -> bool {
        matches!(self, Job::Event(_, Some(_)))
    }

    /// Must survive a power cut once answered: records, events someone waits on, flushes to disk.
    /// Progress events and other flushes only need to be in the database.
    fn durable(&self) -> bool {
        self.urgent() || matches!(self, Job::Record(..) | Job::Flush(_, true))
    }
}

/// Handle on the writer task.
#[derive(Clone)]
pub(crate) struct EventLog {
    tx: mpsc::UnboundedSender<(Instant, Job)>,
    health: Arc<Health>,
}

/// How far behind the writer is, for `/metrics`.
#[derive(Default)]
struct Health {
    /// Jobs sent and not yet committed.
    pending: AtomicU64,
    /// When the oldest job of the batch being written was sent; `None` while idle.
    oldest: std::sync::Mutex<Option<Instant>>,
    /// Events committed since the start.
    committed: AtomicU64,
    /// Batches whose commit failed.
    failed: AtomicU64,
}

/// The event log writer's figures now.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EventLogHealth {
    /// Events, records and flushes queued and not yet committed.
    pub pending: u64,
    /// How long the oldest of them has waited (s); 0 when none waits.
    pub lag_secs: f64,
    /// Events committed since the start.
    pub committed: u64,
    /// Batches whose commit failed since the start.
    pub failed_batches: u64,
}

/// Largest batch committed at once.
const MAX_BATCH: usize = 512;

/// Longest a progress event, a flush or a record waits for others to share its commit (counted
/// from when the writer takes it): a busy switch then flushes the disk once for many calls.
pub(crate) const GROUP_WINDOW: Duration = Duration::from_millis(10);

impl EventLog {
    /// Starts the writer; what it commits of the streams the bus carries is published on `bus`.
    pub(crate) fn start(db: Db, bus: Arc<dyn EventBus>) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Job)>();
        let health = Arc::new(Health::default());
        let gauge = health.clone();
        tokio::spawn(async move {
            let mut batch: Vec<Job> = Vec::new();
            while let Some((sent, first)) = rx.recv().await {
                // Jobs come in order: the batch's first is the oldest waiting until it commits.
                *gauge.oldest.lock().unwrap_or_else(|e| e.into_inner()) = Some(sent);
                let deadline = tokio::time::Instant::now() + GROUP_WINDOW;
                let mut urgent = first.urgent();
                batch.push(first);
                while batch.len() < MAX_BATCH {
                    let next = match rx.try_recv() {
                        Ok(job) => Some(job),
                        Err(_) if urgent => None,
                        Err(_) => tokio::time::timeout_at(deadline, rx.recv()).await.ok().flatten(),
                    };
                    let Some((_, job)) = next else { break };
                    urgent |= job.urgent();
                    batch.push(job);
                }
                let mut events = Vec::new();
                let mut records = Vec::new();
                // Positions (in `events`) of the events the bus carries.
                let mut published = Vec::new();
                // Each waiter, and whether an event's id is theirs.
                let mut replies = Vec::with_capacity(batch.len());
                let durable = batch.iter().any(Job::durable);
                let jobs = batch.len() as u64;
                for job in batch.drain(..) {
                    match job {
                        Job::Event(row, reply) => {
                            if on_bus(&row.1) {
                                published.push(events.len());
                            }
                            events.push(row);
                            replies.push((reply, true));
                        }
                        Job::Record(row, reply) => {
                            records.push(*row);
                            replies.push((Some(reply), false));
                        }
                        Job::Flush(reply, _) => replies.push((Some(reply), false)),
                    }
                }
                let kept: Vec<EventRow> = published.iter().map(|&i| events[i].clone()).collect();
                let result = db.write_batch(events, records, durable).await;
                *gauge.oldest.lock().unwrap_or_else(|e| e.into_inner()) = None;
                gauge.pending.fetch_sub(jobs, Ordering::Relaxed);
                match &result {
                    Ok(ids) => _ = gauge.committed.fetch_add(ids.len() as u64, Ordering::Relaxed),
                    Err(_) => _ = gauge.failed.fetch_add(1, Ordering::Relaxed),
                }
                match &result {
                    Err(e) => tracing::error!(error = %e, "event log write failed"),
                    Ok(ids) if !kept.is_empty() => {
                        let out = published
                            .iter()
                            .zip(kept)
                            .filter_map(|(&i, (tenant, stream, kind, at, data))| {
                                let id = *ids.get(i)?;
                                Some(Arc::new(FeedEvent { id, tenant, stream, kind: kind.to_string(), at, data }))
                            })
                            .collect();
                        bus.publish(out);
                    }
                    Ok(_) => {}
                }
                let mut ids = result.as_ref().map(|ids| ids.iter()).ok();
                for (reply, is_event) in replies {
                    let id = if is_event { ids.as_mut().and_then(|i| i.next()).copied().unwrap_or(0) } else { 0 };
                    if let Some(reply) = reply {
                        let _ = reply.send(result.as_ref().map(|_| id).map_err(|e| e.to_string()));
                    }
                }
            }
        });
        Self { tx, health }
    }

    fn send(&self, job: Job) -> Result<(), CcError> {
        self.health.pending.fetch_add(1, Ordering::Relaxed);
        self.tx.send((Instant::now(), job)).map_err(|_| {
            self.health.pending.fetch_sub(1, Ordering::Relaxed);
            gone()
        })
    }

    /// How far behind the writer is now.
    pub(crate) fn health(&self) -> EventLogHealth {
        let oldest = *self.health.oldest.lock().unwrap_or_else(|e| e.into_inner());
        EventLogHealth {
            pending: self.health.pending.load(Ordering::Relaxed),
            lag_secs: oldest.map_or(0.0, |t| t.elapsed().as_secs_f64()),
            committed: self.health.committed.load(Ordering::Relaxed),
            failed_batches: self.health.failed.load(Ordering::Relaxed),
        }
    }

    /// Appends one event (tenant, stream, kind, time, data) and waits until it is committed.
    pub(crate) async fn append(&self, event: EventRow) -> Result<i64, CcError> {
        let (reply, done) = oneshot::channel();
        self.send(Job::Event(event, Some(reply)))?;
        wait(done).await
    }

    /// Queues one event for the next commit without waiting for it; a failed commit is logged.
    pub(crate) fn append_later(&self, event: EventRow) -> Result<(), CcError> {
        self.send(Job::Event(event, None))
    }

    /// Waits until everything queued before it is committed; `to_disk`: and flushed to disk.
    pub(crate) async fn flush(&self, to_disk: bool) -> Result<(), CcError> {
        let (reply, done) = oneshot::channel();
        self.send(Job::Flush(reply, to_disk))?;
        wait(done).await.map(|_| ())
    }

    /// Writes a call record in the next batch and waits until it is committed.
    pub(crate) async fn put_record(&self, tenant: TenantId, call_id: &str, record: CallRecord) -> Result<(), CcError> {
        let (reply, done) = oneshot::channel();
        self.send(Job::Record(Box::new((tenant, call_id.to_string(), record)), reply))?;
        wait(done).await.map(|_| ())
    }
}

fn gone() -> CcError {
    CcError::Store(StoreError::Conflict("event log writer stopped".into()))
}

async fn wait(done: oneshot::Receiver<Result<i64, String>>) -> Result<i64, CcError> {
    match done.await {
        Ok(Ok(id)) => Ok(id),
        Ok(Err(e)) => Err(CcError::Invalid(format!("event log: {e}"))),
        Err(_) => Err(gone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn stored(db: &Db, tenant: TenantId, call: &str) -> Vec<(i64, String)> {
        db.call_events(tenant, call).await.unwrap().into_iter().map(|(id, kind, _, _)| (id, kind)).collect()
    }

    #[tokio::test]
    async fn progress_events_wait_for_a_flush_or_their_window_and_keep_their_order() {
        let db = Db::open(&yunhu_store::testing::scratch_sqlite_url()).await.unwrap();
        let (t, _) = db.put_tenant("777777", "A", "Asia/Shanghai", "a.yunhu", 1).await.unwrap();
        let log = EventLog::start(db.clone(), Arc::new(crate::bus::LocalBus::default()));

        log.append_later((t, "c1".into(), "leg_created", 1, "{}".into())).unwrap();
        log.append_later((t, "c1".into(), "ringing", 2, "{}".into())).unwrap();
        log.flush(false).await.unwrap();
        let kinds: Vec<String> = stored(&db, t, "c1").await.into_iter().map(|(_, k)| k).collect();
        assert_eq!(kinds, ["leg_created", "ringing"]);

        // An event someone waits on takes the queued ones with it, after them.
        log.append_later((t, "c1".into(), "answered", 3, "{}".into())).unwrap();
        let id = log.append((t, "agent/1001".into(), "agent_login", 4, "{}".into())).await.unwrap();
        let events = stored(&db, t, "c1").await;
        assert_eq!(events.last().map(|(_, k)| k.as_str()), Some("answered"));
        assert!(events.iter().all(|(other, _)| *other < id), "{events:?} before {id}");

        // A lone progress event is written by its window, with nobody flushing.
        log.append_later((t, "c2".into(), "bridged", 5, "{}".into())).unwrap();
        let written = tokio::time::timeout(Duration::from_secs(10), async {
            while stored(&db, t, "c2").await.is_empty() {
                tokio::time::sleep(GROUP_WINDOW).await;
            }
        });
        assert!(written.await.is_ok(), "a queued event was never written");

        // A record is written with the batch it joins, and its waiter answered.
        let record = CallRecord { customer: "13800000001".into(), ..Default::default() };
        log.put_record(t, "c1", record).await.unwrap();
        assert_eq!(db.call_record(t, "c1").await.unwrap().map(|r| r.record.customer).as_deref(), Some("13800000001"));
        db.close().await;
    }
}
