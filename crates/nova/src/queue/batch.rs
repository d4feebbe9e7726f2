//! Group commit of acceptances: every `POST …/invoke-async` hands its call to a writer, which
//! takes whatever else is waiting (up to [`MAX_BATCH`]) and stores them all in one transaction;
//! each caller gets its answer once that transaction committed, so a 202 still means durable.
//!
//! On SQLite, where one connection writes at a time, one writer turns N contending transactions
//! (each waiting on the database lock) into one; on Postgres a few writers run side by side so
//! that a slow commit does not hold every acceptance back. A failed batch is retried call by
//! call, so one bad call never fails the others.

use std::sync::Arc;

use nova_store::{AsyncInvocation, NewAsyncInvocation, QueueStore, StoreError};
use tokio::sync::{Mutex, mpsc, oneshot};

/// Most calls stored in one transaction.
pub const MAX_BATCH: usize = 256;
/// Calls waiting for a writer before an acceptance waits for room.
const BACKLOG: usize = 4096;

type Answer = Result<(AsyncInvocation, bool), StoreError>;

struct Pending {
    new: NewAsyncInvocation,
    reply: oneshot::Sender<Answer>,
}

/// The writers of one queue. Cheap to clone.
#[derive(Clone)]
pub struct Batcher {
    sender: mpsc::Sender<Pending>,
}

impl Batcher {
    /// Starts `writers` writers over `store` (at least one). Needs a Tokio runtime.
    pub fn start(store: Arc<dyn QueueStore>, writers: usize) -> Batcher {
        let (sender, receiver) = mpsc::channel(BACKLOG);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..writers.max(1) {
            tokio::spawn(write(store.clone(), receiver.clone()));
        }
        Batcher { sender }
    }

    /// Stores `new` as [`QueueStore::enqueue`] does, in a transaction shared with whatever
    /// other calls were waiting.
    pub async fn enqueue(&self, new: NewAsyncInvocation) -> Answer {
        let (reply, answer) = oneshot::channel();
        let stopped = || StoreError::Unavailable("the async queue's writer stopped".into());
        (self.sender.send(Pending { new, reply }).await).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn write(store: Arc<dyn QueueStore>, receiver: Arc<Mutex<mpsc::Receiver<Pending>>>) {
    loop {
        let mut batch = Vec::new();
        {
            let mut receiver = receiver.lock().await;
            if receiver.recv_many(&mut batch, MAX_BATCH).await == 0 {
                return;
            }
        }
        let (news, replies): (Vec<_>, Vec<_>) = batch.into_iter().map(|p| (p.new, p.reply)).unzip();
        match store.enqueue_all(&news).await {
            Ok(stored) => {
                for (reply, answer) in replies.into_iter().zip(stored) {
                    let _ = reply.send(Ok(answer));
                }
            }
            Err(e) if news.len() == 1 => {
                if let Some(reply) = replies.into_iter().next() {
                    let _ = reply.send(Err(e));
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, calls = news.len(), "a batch of acceptances failed; storing them one by one");
                for (reply, new) in replies.into_iter().zip(&news) {
                    let _ = reply.send(store.enqueue(new).await);
                }
            }
        }
    }
}
