//! Where appenders wait: a batch's [`Slot`], and the [`AppendTicket`] each appender holds —
//! waited on by blocking, or polled as a plain `std::future::Future`.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};

use super::{AppendError, Appended, lock};

/// Where the appenders of one batch wait for its outcome: one wake-up per batch, not one per
/// appender, keeps the writer's serial path short.
#[derive(Debug, Default)]
pub(super) struct Slot {
    pub(super) outcome: Mutex<Option<Result<Vec<Appended>, AppendError>>>,
    pub(super) ready: Condvar,
    /// Async waiters (see [`AppendTicket`]'s `Future` impl).
    pub(super) wakers: Mutex<Vec<Waker>>,
}

/// A submitted entry: [`AppendTicket::wait`] blocks until it is durable (or refused); as a
/// `std::future::Future` it completes then without holding a thread — no async runtime needed by
/// this crate, any executor's waker works.
#[derive(Debug)]
#[must_use = "an entry is acknowledged only when its ticket completes"]
pub struct AppendTicket {
    pub(super) slot: Arc<Slot>,
    pub(super) index: usize,
}

impl AppendTicket {
    /// Blocks until the entry's batch is durable (or refused).
    pub fn wait(self) -> Result<Appended, AppendError> {
        let mut outcome = lock(&self.slot.outcome);
        while outcome.is_none() {
            outcome = self
                .slot
                .ready
                .wait(outcome)
                .unwrap_or_else(|e| e.into_inner());
        }
        Self::pick(outcome.as_ref(), self.index)
    }

    pub(super) fn pick(
        outcome: Option<&Result<Vec<Appended>, AppendError>>,
        index: usize,
    ) -> Result<Appended, AppendError> {
        match outcome {
            Some(Ok(appended)) => appended.get(index).copied().ok_or(AppendError::Closed),
            Some(Err(e)) => Err(e.clone()),
            None => Err(AppendError::Closed),
        }
    }
}

impl Future for AppendTicket {
    type Output = Result<Appended, AppendError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Register before looking, under the wakers lock that `wake` takes after setting the
        // outcome: either we see the outcome, or `wake` sees our waker.
        let mut wakers = lock(&self.slot.wakers);
        if let Some(outcome) = lock(&self.slot.outcome).as_ref() {
            return Poll::Ready(Self::pick(Some(outcome), self.index));
        }
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

pub(super) fn wake(slot: &Slot, outcome: Result<Vec<Appended>, AppendError>) {
    *lock(&slot.outcome) = Some(outcome);
    slot.ready.notify_all();
    let wakers = std::mem::take(&mut *lock(&slot.wakers));
    for w in wakers {
        w.wake();
    }
}
