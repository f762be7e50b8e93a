//! The event log's writer: appends from every call are committed together, a transaction per
//! batch, so a busy switch pays one durable commit for many events. Each append returns only
//! once its event is committed.

use crate::CcError;
use tokio::sync::{mpsc, oneshot};
use yunhu_store::{Db, StoreError, TenantId};

type Append = ((TenantId, String, &'static str, i64, String), oneshot::Sender<Result<i64, String>>);

/// Handle on the writer task.
#[derive(Clone)]
pub(crate) struct EventLog {
    tx: mpsc::UnboundedSender<Append>,
}

/// Largest batch committed at once.
const MAX_BATCH: usize = 512;

impl EventLog {
    pub(crate) fn start(db: Db) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Append>();
        tokio::spawn(async move {
            let mut batch: Vec<Append> = Vec::new();
            while let Some(first) = rx.recv().await {
                batch.push(first);
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(a) => batch.push(a),
                        Err(_) => break,
                    }
                }
                let rows: Vec<_> = batch.iter().map(|(row, _)| row.clone()).collect();
                match db.append_events(&rows).await {
                    Ok(ids) => {
                        for ((_, reply), id) in batch.drain(..).zip(ids) {
                            let _ = reply.send(Ok(id));
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "event log write failed");
                        for (_, reply) in batch.drain(..) {
                            let _ = reply.send(Err(e.to_string()));
                        }
                    }
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
        let gone = || CcError::Store(StoreError::Conflict("event log writer stopped".into()));
        self.tx.send(((tenant, stream.to_string(), kind, at, data), reply)).map_err(|_| gone())?;
        match done.await {
            Ok(Ok(id)) => Ok(id),
            Ok(Err(e)) => Err(CcError::Invalid(format!("event log: {e}"))),
            Err(_) => Err(gone()),
        }
    }
}
