//! The event log's writer: events and call records from every call are committed together, a
//! transaction per batch, so a busy switch pays one durable commit for many writes. Each write
//! returns only once it is committed.

use crate::CcError;
use tokio::sync::{mpsc, oneshot};
use yunhu_store::{Db, StoreError, TenantId};

use yunhu_core::call::CallRecord;

/// What the writer commits: an event (answered with its id) or a call record.
enum Job {
    Event((TenantId, String, &'static str, i64, String), oneshot::Sender<Result<i64, String>>),
    Record(Box<(TenantId, String, CallRecord)>, oneshot::Sender<Result<i64, String>>),
}

/// Handle on the writer task.
#[derive(Clone)]
pub(crate) struct EventLog {
    tx: mpsc::UnboundedSender<Job>,
}

/// Largest batch committed at once.
const MAX_BATCH: usize = 512;

impl EventLog {
    pub(crate) fn start(db: Db) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        tokio::spawn(async move {
            let mut batch: Vec<Job> = Vec::new();
            while let Some(first) = rx.recv().await {
                batch.push(first);
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                let mut events = Vec::new();
                let mut records = Vec::new();
                for job in &batch {
                    match job {
                        Job::Event(row, _) => events.push(row.clone()),
                        Job::Record(row, _) => records.push((**row).clone()),
                    }
                }
                let result = db.write_batch(&events, &records).await;
                if let Err(e) = &result {
                    tracing::error!(error = %e, "event log write failed");
                }
                let mut ids = result.as_ref().map(|ids| ids.iter()).ok();
                for job in batch.drain(..) {
                    let (reply, id) = match job {
                        Job::Event(_, reply) => (reply, ids.as_mut().and_then(|i| i.next()).copied().unwrap_or(0)),
                        Job::Record(_, reply) => (reply, 0),
                    };
                    let _ = reply.send(result.as_ref().map(|_| id).map_err(|e| e.to_string()));
                }
            }
        });
        Self { tx }
    }

    /// Appends one event and waits until it is committed.
    pub(crate) async fn append(
        &self,
        tenant: TenantId,
        stream: &str,
        kind: &'static str,
        at: i64,
        data: String,
    ) -> Result<i64, CcError> {
        let (reply, done) = oneshot::channel();
        self.tx.send(Job::Event((tenant, stream.to_string(), kind, at, data), reply)).map_err(|_| gone())?;
        wait(done).await
    }

    /// Writes a call record in the next batch and waits until it is committed.
    pub(crate) async fn put_record(&self, tenant: TenantId, call_id: &str, record: CallRecord) -> Result<(), CcError> {
        let (reply, done) = oneshot::channel();
        self.tx.send(Job::Record(Box::new((tenant, call_id.to_string(), record)), reply)).map_err(|_| gone())?;
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
