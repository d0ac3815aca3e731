//! The benchmarks' HTTP/1.1 load generator, built like wrk2: one thread runs one event loop over
//! every connection, so the generator costs the machine a write and a read per request and no
//! thread hand-offs (on a 2-core machine its wake-ups would otherwise compete with the server's).
//!
//! Closed loop (`rate = None`): each connection sends its next request as soon as its answer is
//! in. Open loop: requests fall due at a fixed total rate, paced by a timerfd (nanosecond
//! precision, no timer slack), and go out on the first idle connection; latency counts from the
//! time a request fell due, so a request that waited for a connection carries its wait (no
//! coordinated omission).

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

pub struct LoadResult {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: usize,
}

pub async fn load(
    addr: SocketAddr,
    path: &str,
    auth: Option<&str>,
    conns: usize,
    dur: Duration,
    rate: Option<f64>,
) -> anyhow::Result<LoadResult> {
    let mut request = format!("GET {path} HTTP/1.1\r\nhost: localhost\r\n");
    if let Some(a) = auth {
        request.push_str(&format!("authorization: {a}\r\n"));
    }
    request.push_str("\r\n");
    tokio::task::spawn_blocking(move || generate(addr, request.into_bytes(), conns, dur, rate))
        .await?
}

/// One connection: the request it is sending (bytes still to write), when that request fell due,
/// and what has arrived of its answer.
struct Link {
    stream: TcpStream,
    due: Option<Duration>,
    unwritten: usize,
    answer: Vec<u8>,
}

const TIMER: Token = Token(usize::MAX);

fn generate(
    addr: SocketAddr,
    request: Vec<u8>,
    conns: usize,
    dur: Duration,
    rate: Option<f64>,
) -> anyhow::Result<LoadResult> {
    // Timers of this thread fire when asked, not up to 50 µs later.
    // SAFETY: prctl with PR_SET_TIMERSLACK takes a plain integer.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
    let mut poll = Poll::new()?;
    let mut links = vec![];
    // Connected before the clock starts, so no request waits on a handshake.
    for i in 0..conns {
        let s = std::net::TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        s.set_nonblocking(true)?;
        let mut stream = TcpStream::from_std(s);
        poll.registry().register(
            &mut stream,
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        links.push(Link {
            stream,
            due: None,
            unwritten: 0,
            answer: Vec::with_capacity(16 * 1024),
        });
    }
    // SAFETY: timerfd_create returns a new descriptor (or -1, checked), owned from here on.
    let timer = unsafe {
        let fd = libc::timerfd_create(
            libc::CLOCK_MONOTONIC,
            libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
        );
        anyhow::ensure!(
            fd >= 0,
            "timerfd_create: {}",
            std::io::Error::last_os_error()
        );
        OwnedFd::from_raw_fd(fd)
    };
    poll.registry()
        .register(&mut SourceFd(&timer.as_raw_fd()), TIMER, Interest::READABLE)?;
    let interval = rate.map(|r| Duration::from_secs_f64(1.0 / r));
    let mut latencies: Vec<u64> = Vec::with_capacity(200_000);
    let mut errors = 0usize;
    let mut waiting: VecDeque<Duration> = VecDeque::new();
    let mut idle: Vec<usize> = (0..conns).rev().collect();
    let mut next_due = Duration::ZERO;
    let mut armed = None;
    let mut events = Events::with_capacity(1024);
    let mut scratch = vec![0u8; 64 * 1024];
    // A server that stops answering ends the run; what it did not answer counts as errors.
    let hard_stop = dur + Duration::from_secs(30);
    let start = Instant::now();
    loop {
        let now = start.elapsed();
        match interval {
            Some(interval) => {
                while next_due <= now && next_due < dur {
                    waiting.push_back(next_due);
                    next_due += interval;
                }
            }
            None if now < dur => waiting.extend(std::iter::repeat_n(now, idle.len())),
            None => {}
        }
        while !waiting.is_empty() && !idle.is_empty() {
            let (due, i) = (waiting.pop_front().unwrap(), idle.pop().unwrap());
            let link = &mut links[i];
            link.due = Some(due);
            link.unwritten = request.len();
            flush(link, &request).map_err(|e| anyhow::anyhow!("connection {i}: {e}"))?;
        }
        let all_sent = match interval {
            Some(_) => next_due >= dur && waiting.is_empty(),
            None => now >= dur,
        };
        if all_sent && idle.len() == conns {
            break;
        }
        if now >= hard_stop {
            errors += conns - idle.len() + waiting.len();
            break;
        }
        // Sleep until an answer arrives or the next request falls due.
        if interval.is_some() && next_due < dur && armed != Some(next_due) {
            arm(&timer, next_due.saturating_sub(start.elapsed()))?;
            armed = Some(next_due);
        }
        // The closed loop wakes at the end of its run to stop sending; every run by its hard stop.
        let wake_by = if interval.is_none() && now < dur {
            dur
        } else {
            hard_stop
        };
        let timeout = Some(wake_by.saturating_sub(now));
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(e.into());
        }
        for event in events.iter() {
            if event.token() == TIMER {
                let mut expirations = [0u8; 8];
                // SAFETY: reads at most 8 bytes into an 8-byte buffer.
                unsafe { libc::read(timer.as_raw_fd(), expirations.as_mut_ptr().cast(), 8) };
                continue;
            }
            let i = event.token().0;
            let link = &mut links[i];
            if link.due.is_none() {
                continue;
            }
            if link.unwritten > 0 {
                flush(link, &request).map_err(|e| anyhow::anyhow!("connection {i}: {e}"))?;
            }
            match receive(link, &mut scratch) {
                Ok(None) => {}
                Ok(Some(status)) => {
                    let due = link.due.take().expect("a request in flight");
                    let took = start.elapsed().saturating_sub(due);
                    if status == 200 {
                        latencies.push(took.as_micros() as u64);
                    } else {
                        errors += 1;
                    }
                    idle.push(i);
                }
                Err(e) => anyhow::bail!("connection {i}: {e}"),
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    Ok(LoadResult {
        rps: latencies.len() as f64 / elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        errors,
    })
}

/// Writes what the socket takes of the rest of the request.
fn flush(link: &mut Link, request: &[u8]) -> std::io::Result<()> {
    while link.unwritten > 0 {
        match link
            .stream
            .write(&request[request.len() - link.unwritten..])
        {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => link.unwritten -= n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads what has arrived; the answer's status once it is complete (Content-Length bodies only:
/// the routes measured answer JSON).
fn receive(link: &mut Link, scratch: &mut [u8]) -> anyhow::Result<Option<u16>> {
    loop {
        match link.stream.read(scratch) {
            Ok(0) => anyhow::bail!("the server closed the connection"),
            Ok(n) => link.answer.extend_from_slice(&scratch[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut head = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(head_len) = head.parse(&link.answer)? else {
        return Ok(None);
    };
    let length = head
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| {
            std::str::from_utf8(h.value)
                .ok()?
                .trim()
                .parse::<usize>()
                .ok()
        })
        .ok_or_else(|| anyhow::anyhow!("an answer without Content-Length"))?;
    if link.answer.len() < head_len + length {
        return Ok(None);
    }
    anyhow::ensure!(
        link.answer.len() == head_len + length,
        "more bytes than one answer (the generator does not pipeline)"
    );
    let status = head.code.unwrap_or(0);
    link.answer.clear();
    Ok(Some(status))
}

/// Sets the timer to fire once, `after` from now (at once when zero).
fn arm(timer: &OwnedFd, after: Duration) -> std::io::Result<()> {
    let after = after.max(Duration::from_nanos(1));
    let spec = libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: libc::timespec {
            tv_sec: after.as_secs() as libc::time_t,
            tv_nsec: after.subsec_nanos() as libc::c_long,
        },
    };
    // SAFETY: a valid timerfd and a fully initialised itimerspec.
    let r = unsafe { libc::timerfd_settime(timer.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
