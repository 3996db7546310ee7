//! The accept loop behind both HTTP servers ([`super::http::serve`] and
//! [`super::http::serve_admin`]): hyper's HTTP/1.1 connection driver with read timers, a cap on
//! open connections, and graceful shutdown. It replaces `axum::serve`, which sets no timer, so a
//! client sending a byte every few seconds held its connection for ever (docs/reliability.md,
//! slow-drip clients).
//!
//! - **Request head**: a connection that has not delivered a complete request head within
//!   `header_timeout` is closed; the timer also runs while a keep-alive connection is idle between
//!   requests (hyper's `header_read_timeout`). Nothing is recorded: there is no request yet.
//! - **Request body**: every body is a [`DeadlineBody`] that fails with [`BodyTimedOut`] once
//!   `body_timeout` has passed since its head arrived. The handler reading it answers 408 and
//!   records the refusal (`http::read_body`); hyper then closes the connection, since the rest
//!   of the body was never read.
//! - **Responses are not timed**: SSE streams (progress, approval waits, GET streams) last as long
//!   as they need; the timers above only govern reading the request.
//! - **Connections**: at most `max_connections` open at once. At the cap the loop stops accepting
//!   until one closes (new clients wait in the kernel's backlog). Nothing is recorded per
//!   connection: the ledger must not amplify a flood. A warning is logged when the cap is reached,
//!   at most once a minute.
//! - **Shutdown**: once `stop` resolves the loop stops accepting and tells every connection to
//!   finish: in-flight requests run to their end, idle connections close. `serve` returns when
//!   the last connection has closed, as `axum::serve(..).with_graceful_shutdown(..)` did.
//!
//! HTTP/1.1 only, like the `axum::serve` it replaces (axum's `http2` feature is off): a TLS
//! proxy in front speaks HTTP/1.1 to us.
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tower::{Service as _, ServiceExt};

use crate::config::ServerConfig;

/// At most one "connection limit reached" warning per this long.
const SATURATION_WARN_EVERY: Duration = Duration::from_secs(60);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The read timers and the connection cap (`[server]` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub max_connections: usize,
}

impl Limits {
    pub fn of(server: &ServerConfig) -> Self {
        Self {
            header_timeout: Duration::from_secs(server.header_timeout_secs),
            body_timeout: Duration::from_secs(server.body_timeout_secs),
            max_connections: server.max_connections,
        }
    }
}

/// Serves `router` on `listener` until `stop` resolves and every connection has closed.
/// Handlers see the peer as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    stop: impl Future<Output = ()>,
) {
    let mut make_service = router.into_make_service_with_connect_info::<SocketAddr>();
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut warned_at: Option<Instant> = None;
    let mut stop = pin!(stop);
    loop {
        // A permit per open connection, taken before accepting: at the cap, nothing is accepted.
        let permit = match permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if warned_at.is_none_or(|t| t.elapsed() >= SATURATION_WARN_EVERY) {
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        "connection limit reached: not accepting until a connection closes"
                    );
                    warned_at = Some(Instant::now());
                }
                tokio::select! {
                    permit = permits.clone().acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_closed) => break,
                    },
                    () = &mut stop => break,
                }
            }
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    if accept_error_needs_backoff(&e) {
                        // Out of file descriptors or similar: wait rather than spin (as
                        // `axum::serve` and hyper 0.14 did), still listening for the stop.
                        tracing::error!(error = %e, "accept failed; retrying in 1 s");
                        tokio::select! {
                            () = tokio::time::sleep(Duration::from_secs(1)) => {}
                            () = &mut stop => break,
                        }
                    }
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let Ok(ready) = ServiceExt::<SocketAddr>::ready(&mut make_service).await;
        let Ok(tower_service) = ready.call(peer).await;
        let body_timeout = limits.body_timeout;
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let deadline = Instant::now() + body_timeout;
            let request = request.map(|body| Body::new(DeadlineBody::new(body, deadline)));
            tower_service.clone().oneshot(request)
        });
        let connection = graceful.watch(http1.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // Header timeouts, resets and hang-ups all end here; none is worth more than debug.
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Whether an accept error is about the listener or the process (back off) rather than about
/// one connection that died while queued (just accept the next).
fn accept_error_needs_backoff(e: &std::io::Error) -> bool {
    !matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// The request body did not arrive completely within `[server] body_timeout_secs`.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimedOut;

/// Whether `error` (e.g. from `axum::body::to_bytes`) or anything in its source chain is an `E`.
pub fn caused_by<E: std::error::Error + 'static>(
    error: &(dyn std::error::Error + 'static),
) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.is::<E>() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// A request body that fails with [`BodyTimedOut`] once `deadline` has passed: a total deadline,
/// not an idle one (tower-http's `TimeoutBody` restarts its timer at every frame, so a client
/// dripping a byte at a time would never trip it). The timer starts at the first read, so a
/// request whose body is never read costs no timer.
#[derive(Debug)]
pub struct DeadlineBody<B> {
    inner: B,
    deadline: Instant,
    timer: Option<Pin<Box<Sleep>>>,
}

impl<B> DeadlineBody<B> {
    pub fn new(inner: B, deadline: Instant) -> Self {
        Self {
            inner,
            deadline,
            timer: None,
        }
    }
}

impl<B> http_body::Body for DeadlineBody<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let deadline = this.deadline;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(BodyTimedOut))));
        }
        Pin::new(&mut this.inner).poll_frame(cx).map_err(Into::into)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use super::*;

    /// A body that yields one byte per `every`, `n` times.
    struct Drip {
        left: usize,
        every: Duration,
        next: Option<Pin<Box<Sleep>>>,
    }

    impl http_body::Body for Drip {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            if self.left == 0 {
                return Poll::Ready(None);
            }
            let every = self.every;
            let sleep = self
                .next
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(every)));
            std::task::ready!(sleep.as_mut().poll(cx));
            self.next = None;
            self.left -= 1;
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"x")))))
        }
    }

    fn drip(left: usize, every_ms: u64) -> Drip {
        Drip {
            left,
            every: Duration::from_millis(every_ms),
            next: None,
        }
    }

    #[tokio::test]
    async fn a_body_arriving_before_its_deadline_is_read_whole() {
        let deadline = Instant::now() + Duration::from_secs(10);
        let body = Body::new(DeadlineBody::new(drip(5, 20), deadline));
        let bytes = axum::body::to_bytes(body, 1024).await;
        assert_eq!(bytes.ok().as_deref(), Some(&b"xxxxx"[..]));
    }

    #[tokio::test]
    async fn a_dripping_body_fails_at_its_deadline_not_at_an_idle_gap() {
        // Every gap (50 ms) is short; the whole (5 s) is not.
        let start = Instant::now();
        let limit = Duration::from_millis(300);
        let body = Body::new(DeadlineBody::new(drip(100, 50), start + limit));
        let error = axum::body::to_bytes(body, 1024)
            .await
            .expect_err("timed out");
        assert!(caused_by::<BodyTimedOut>(&error), "{error}");
        // Not before the deadline; well before the body's 5 s (a generous bound for a busy CI).
        let took = start.elapsed();
        assert!(took >= limit && took < Duration::from_secs(4), "{took:?}");
    }

    #[tokio::test]
    async fn the_size_limit_is_not_mistaken_for_a_timeout() {
        let deadline = Instant::now() + Duration::from_secs(10);
        let body = Body::new(DeadlineBody::new(drip(5, 10), deadline));
        let error = axum::body::to_bytes(body, 3).await.expect_err("too large");
        assert!(!caused_by::<BodyTimedOut>(&error), "{error}");
    }
}
