//! The HTTP listener: hyper connections with a header-read timeout, an idle timeout and a cap on
//! open connections (slowloris and connection-flood resistance), graceful shutdown, and the
//! client address handed to handlers as `ConnectInfo<SocketAddr>`.
//!
//! Timeouts follow Go's `net/http` semantics, which hyper alone does not offer: a connection that
//! has no request in flight may stay idle for `idle_timeout`; once bytes of a request head arrive
//! (or from accept, for the first request) the whole head must arrive within `header_timeout`.
//! Request bodies and handlers are bounded by the router's own request timeout.
//!
//! Connections beyond the cap are not accepted: they wait in the kernel's listen backlog until an
//! open one closes, so the number of connection tasks is always bounded.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;
use tower::{Service, ServiceExt};

use crate::metrics::Metrics;

/// Listener limits (from `DBAAS_HEADER_READ_TIMEOUT_SECS`, `DBAAS_IDLE_TIMEOUT_SECS`,
/// `DBAAS_MAX_CONNECTIONS`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// Serves `service` on `listener` until `stop` turns true, then stops accepting, lets every
/// in-flight request finish, closes idle connections, and returns once all are closed.
pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    limits: Limits,
    metrics: Metrics,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()>
where
    S: Service<axum::extract::Request, Response = axum::response::Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let max = limits.max_connections.clamp(1, u32::MAX as usize) as u32;
    let slots = Arc::new(Semaphore::new(max as usize));
    let mut builder = Builder::new(TokioExecutor::new());
    // Our own header timeout replaces hyper's (which also runs while a keep-alive connection is
    // merely idle, and so would make the idle timeout no longer than the header timeout).
    builder.http1().header_read_timeout(None);
    let builder = Arc::new(builder);
    loop {
        // A slot first, then accept: connections over the cap stay in the backlog.
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            _ = stopped(&mut stop) => break,
        };
        let (tcp, remote) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            },
            _ = stopped(&mut stop) => break,
        };
        let _ = tcp.set_nodelay(true);
        let service = service.clone();
        let builder = builder.clone();
        let metrics = metrics.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            metrics.http_open_connections.inc();
            let reason = serve_connection(&builder, tcp, remote, service, limits, stop).await;
            metrics.http_open_connections.dec();
            if let Some(reason) = reason {
                metrics
                    .http_connections_closed
                    .with_label_values(&[reason])
                    .inc();
            }
            drop(permit);
        });
    }
    drop(listener);
    // Every connection task holds a slot until it ends.
    let _all = slots.acquire_many(max).await;
    Ok(())
}

/// Serves one connection; returns why the server closed it, when it was a timeout.
async fn serve_connection<S>(
    builder: &Builder<TokioExecutor>,
    tcp: TcpStream,
    remote: SocketAddr,
    service: S,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) -> Option<&'static str>
where
    S: Service<axum::extract::Request, Response = axum::response::Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let tracker = Arc::new(Tracker::new(limits));
    let io = TokioIo::new(TrackedIo {
        inner: tcp,
        tracker: tracker.clone(),
    });
    let svc_tracker = tracker.clone();
    let hyper_service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let guard = svc_tracker.request_started();
        let mut req = req.map(Body::new);
        req.extensions_mut().insert(ConnectInfo(remote));
        let service = service.clone();
        async move {
            let resp = service.oneshot(req).await?;
            // The connection is busy until the response body is fully written (hyper drops the
            // body then), so the guard goes with the body.
            Ok::<_, Infallible>(resp.map(|inner| TrackedBody {
                inner,
                _busy: guard,
            }))
        }
    });
    let conn = builder.serve_connection_with_upgrades(io, hyper_service);
    tokio::pin!(conn);
    let mut shutting_down = false;
    // Requests never wake this loop (that would cost every request a wake-up): it looks at the
    // deadline at least every `check` instead. A deadline is always at least `check` after it is
    // set, so each one is still seen before it passes, and acted on when it does.
    let check = limits.header_timeout.min(limits.idle_timeout);
    loop {
        let wake = match tracker.deadline() {
            Some((at, _)) => at.min(Instant::now() + check),
            None => Instant::now() + check,
        };
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, %remote, "connection ended with an error");
                }
                return None;
            }
            _ = tokio::time::sleep_until(wake) => {
                if let Some(reason) = tracker.expired() {
                    tracing::debug!(%remote, reason, "closing connection");
                    return Some(reason);
                }
            }
            _ = stopped(&mut stop), if !shutting_down => {
                shutting_down = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Resolves once `stop` is true, or its sender is gone (the server was dropped).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    loop {
        let done = *stop.borrow_and_update();
        if done || stop.changed().await.is_err() {
            return;
        }
    }
}

/// What one connection is doing, for its timeouts.
struct Tracker {
    limits: Limits,
    state: Mutex<ConnState>,
    /// No request in flight and no byte of the next one seen yet (read without the lock: reads
    /// on a busy connection only look at it).
    idle: AtomicBool,
}

struct ConnState {
    in_flight: usize,
    /// When the connection will be closed unless something happens, and why.
    deadline: Option<(Instant, &'static str)>,
}

const HEADER_TIMEOUT: &str = "header_timeout";
const IDLE_TIMEOUT: &str = "idle_timeout";

impl Tracker {
    fn new(limits: Limits) -> Tracker {
        Tracker {
            limits,
            // The first request's head must arrive within the header timeout of the accept.
            state: Mutex::new(ConnState {
                in_flight: 0,
                deadline: Some((Instant::now() + limits.header_timeout, HEADER_TIMEOUT)),
            }),
            idle: AtomicBool::new(false),
        }
    }

    fn deadline(&self) -> Option<(Instant, &'static str)> {
        self.state.lock().deadline
    }

    /// The reason, when the current deadline has passed.
    fn expired(&self) -> Option<&'static str> {
        let s = self.state.lock();
        match s.deadline {
            Some((at, reason)) if at <= Instant::now() => Some(reason),
            _ => None,
        }
    }

    /// A request head has been parsed: no timeout of ours while it is served.
    fn request_started(self: &Arc<Self>) -> BusyGuard {
        let mut s = self.state.lock();
        s.in_flight += 1;
        s.deadline = None;
        self.idle.store(false, Ordering::Release);
        drop(s);
        BusyGuard(self.clone())
    }

    /// Bytes arrived: if the connection was idle, they start the next request's head.
    fn bytes_read(&self) {
        if !self.idle.swap(false, Ordering::AcqRel) {
            return;
        }
        let mut s = self.state.lock();
        // A request may have started in between: it is not to be timed out.
        if s.in_flight == 0 {
            s.deadline = Some((Instant::now() + self.limits.header_timeout, HEADER_TIMEOUT));
        }
    }
}

/// Held while a request is served (until its response body is written).
struct BusyGuard(Arc<Tracker>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        let mut s = self.0.state.lock();
        s.in_flight = s.in_flight.saturating_sub(1);
        if s.in_flight == 0 {
            s.deadline = Some((Instant::now() + self.0.limits.idle_timeout, IDLE_TIMEOUT));
            self.0.idle.store(true, Ordering::Release);
        }
    }
}

/// A response body that keeps its connection busy until hyper has written and dropped it.
struct TrackedBody {
    inner: Body,
    _busy: BusyGuard,
}

impl hyper::body::Body for TrackedBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// The TCP stream, telling the tracker when bytes arrive.
struct TrackedIo {
    inner: TcpStream,
    tracker: Arc<Tracker>,
}

impl AsyncRead for TrackedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.tracker.bytes_read();
        }
        r
    }
}

impl AsyncWrite for TrackedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 4,
        }
    }

    #[test]
    fn deadlines_follow_the_connection_phase() {
        let t = Arc::new(Tracker::new(limits()));
        // From accept, the head must come within the header timeout.
        assert_eq!(t.deadline().unwrap().1, HEADER_TIMEOUT);
        assert_eq!(t.expired(), None);
        let guard = t.request_started();
        assert!(t.deadline().is_none(), "no timeout of ours while serving");
        // Bytes while busy (a pipelined request, the body) change nothing.
        t.bytes_read();
        assert!(t.deadline().is_none());
        let before = Instant::now();
        drop(guard);
        let (at, why) = t.deadline().unwrap();
        assert_eq!(why, IDLE_TIMEOUT);
        assert!(at >= before + Duration::from_secs(60));
        // The first byte of the next request starts its header timeout, once.
        t.bytes_read();
        let (at, why) = t.deadline().unwrap();
        assert_eq!(why, HEADER_TIMEOUT);
        assert!(at <= Instant::now() + Duration::from_secs(10));
        t.bytes_read();
        assert_eq!(
            t.deadline().unwrap().0,
            at,
            "trickling bytes do not extend it"
        );
    }

    #[test]
    fn a_passed_deadline_names_its_reason() {
        let t = Tracker::new(Limits {
            header_timeout: Duration::ZERO,
            ..limits()
        });
        assert_eq!(t.expired(), Some(HEADER_TIMEOUT));
    }
}
