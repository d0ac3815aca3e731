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
    /// The run second by second, to tell a slow server from a slow machine.
    pub seconds: Vec<Second>,
}

/// One second of a run: the requests that fell due in it, and what the machine did meanwhile.
pub struct Second {
    pub answers: usize,
    pub p99_ms: f64,
    /// CPU time the hypervisor gave to other guests while this one wanted it (`steal` in
    /// /proc/stat, all CPUs).
    pub steal_ms: u64,
    /// CPU time used by each watched process (user and system).
    pub cpu_ms: Vec<u64>,
}

pub async fn load(
    addr: SocketAddr,
    path: &str,
    auth: Option<&str>,
    conns: usize,
    dur: Duration,
    rate: Option<f64>,
) -> anyhow::Result<LoadResult> {
    load_watching(addr, path, auth, conns, dur, rate, Watch::default()).await
}

/// How a run is watched.
#[derive(Clone, Default)]
pub struct Watch {
    /// Sent before the measured `dur`, at the same rate, and not counted (as wrk2's calibration
    /// period): the first moments at a new rate tell of the change, not of the rate.
    pub warmup: Duration,
    /// Processes whose CPU time is sampled once a second.
    pub pids: Vec<u32>,
}

/// [`load`], after a warm-up and sampling the CPU time of some processes.
pub async fn load_watching(
    addr: SocketAddr,
    path: &str,
    auth: Option<&str>,
    conns: usize,
    dur: Duration,
    rate: Option<f64>,
    watch: Watch,
) -> anyhow::Result<LoadResult> {
    let mut request = format!("GET {path} HTTP/1.1\r\nhost: localhost\r\n");
    if let Some(a) = auth {
        request.push_str(&format!("authorization: {a}\r\n"));
    }
    request.push_str("\r\n");
    tokio::task::spawn_blocking(move || {
        generate(addr, request.into_bytes(), conns, dur, rate, watch)
    })
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
    watch: Watch,
) -> anyhow::Result<LoadResult> {
    let (warmup, pids) = (watch.warmup, watch.pids);
    let end = warmup + dur;
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
    // Latencies (µs) by the second in which their request fell due.
    let mut latencies: Vec<Vec<u64>> = vec![vec![]; dur.as_secs_f64().ceil() as usize + 1];
    let mut samples = vec![];
    let mut errors = 0usize;
    let mut waiting: VecDeque<Duration> = VecDeque::new();
    let mut idle: Vec<usize> = (0..conns).rev().collect();
    let mut next_due = Duration::ZERO;
    let mut armed = None;
    let mut events = Events::with_capacity(1024);
    let mut scratch = vec![0u8; 64 * 1024];
    // A server that stops answering ends the run; what it did not answer counts as errors.
    let hard_stop = end + Duration::from_secs(30);
    let start = Instant::now();
    loop {
        let now = start.elapsed();
        if now >= warmup && now < end && (now - warmup).as_secs() >= samples.len() as u64 {
            samples.push(Sample::take(&pids));
        }
        match interval {
            Some(interval) => {
                while next_due <= now && next_due < end {
                    waiting.push_back(next_due);
                    next_due += interval;
                }
            }
            None if now < end => waiting.extend(std::iter::repeat_n(now, idle.len())),
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
            Some(_) => next_due >= end && waiting.is_empty(),
            None => now >= end,
        };
        if all_sent && idle.len() == conns {
            break;
        }
        if now >= hard_stop {
            errors += conns - idle.len() + waiting.len();
            break;
        }
        // Sleep until an answer arrives or the next request falls due.
        if interval.is_some() && next_due < end && armed != Some(next_due) {
            arm(&timer, next_due.saturating_sub(start.elapsed()))?;
            armed = Some(next_due);
        }
        // The closed loop wakes at the end of its run to stop sending; every run by its hard stop.
        let wake_by = if interval.is_none() && now < end {
            end
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
                    if status != 200 {
                        errors += 1;
                    } else if due >= warmup {
                        let second = ((due - warmup).as_secs() as usize).min(latencies.len() - 1);
                        latencies[second].push(took.as_micros() as u64);
                    }
                    idle.push(i);
                }
                Err(e) => anyhow::bail!("connection {i}: {e}"),
            }
        }
    }
    let elapsed = start.elapsed().saturating_sub(warmup).as_secs_f64();
    samples.push(Sample::take(&pids));
    let seconds = samples
        .windows(2)
        .zip(latencies.iter_mut())
        .map(|(w, l)| {
            l.sort_unstable();
            Second {
                answers: l.len(),
                p99_ms: percentile(l, 0.99),
                steal_ms: w[1].steal_ms.saturating_sub(w[0].steal_ms),
                cpu_ms: w[1]
                    .cpu_ms
                    .iter()
                    .zip(&w[0].cpu_ms)
                    .map(|(b, a)| b.saturating_sub(*a))
                    .collect(),
            }
        })
        .collect();
    let mut all: Vec<u64> = latencies.concat();
    all.sort_unstable();
    Ok(LoadResult {
        rps: all.len() as f64 / elapsed,
        p50_ms: percentile(&all, 0.50),
        p99_ms: percentile(&all, 0.99),
        errors,
        seconds,
    })
}

/// The `p` quantile of sorted latencies in µs, in ms.
fn percentile(sorted: &[u64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1));
    sorted.get(i).copied().unwrap_or(0) as f64 / 1000.0
}

/// The machine's steal time and the watched processes' CPU time at one moment, in ms.
struct Sample {
    steal_ms: u64,
    cpu_ms: Vec<u64>,
}

impl Sample {
    fn take(pids: &[u32]) -> Sample {
        // SAFETY: sysconf takes a plain integer.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        let ms = |ticks: u64| ticks * 1000 / hz;
        // `cpu  user nice system idle iowait irq softirq steal …`
        let steal = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| s.lines().next()?.split_whitespace().nth(8)?.parse().ok())
            .unwrap_or(0);
        let cpu = |pid: &u32| {
            // After the command's closing parenthesis: state is field 3, utime 14, stime 15.
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    let rest = s.rsplit_once(')')?.1;
                    let f: Vec<&str> = rest.split_whitespace().collect();
                    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
                })
                .unwrap_or(0)
        };
        Sample {
            steal_ms: ms(steal),
            cpu_ms: pids.iter().map(|p| ms(cpu(p))).collect(),
        }
    }
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
