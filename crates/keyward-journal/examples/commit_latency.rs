//! How long one durable journal commit takes on this disk when nothing else is using it: the
//! floor under every verification's latency, since each waits for its group's `fdatasync`.
//!
//!     cargo run --release -p keyward-journal --example commit_latency -- <dir> [seconds]
//!
//! Appends one audit-event-sized record per commit into a journal in `<dir>` (which should
//! be on the filesystem the server uses), created, dropped from the page cache and reopened
//! first (as after a reboot), releasing as it goes so segments are reused as in service, and
//! prints `COMMIT <commits> <p50 µs> <p90 µs> <p99 µs> <p999 µs> <max µs>
//! <bytes> <cpu µs>`, where `<bytes>` is what the process sent to the disk per commit (Linux's
//! `/proc/self/io` `write_bytes`) and `<cpu µs>` the CPU time it spent per commit, in the
//! kernel and out (`/proc/thread-self/schedstat`); `-` where the kernel does not report one.
//! Bounded: stops after the given seconds (default 3).

use keyward_journal::{Journal, Options};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// About the size of a JSON-encoded verification event.
const PAYLOAD_BYTES: usize = 420;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next().map(PathBuf::from) else {
        eprintln!("usage: commit_latency <dir> [seconds]");
        return ExitCode::from(2);
    };
    let seconds = args.next().and_then(|s| s.parse().ok()).unwrap_or(3);
    match run(&dir, Duration::from_secs(seconds)) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("commit_latency: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(dir: &std::path::Path, duration: Duration) -> Result<String, Box<dyn std::error::Error>> {
    let journal_dir = dir.join("commit-latency-journal");
    if journal_dir.exists() {
        return Err(format!("{} exists; give an empty directory", journal_dir.display()).into());
    }
    let payload = vec![b'x'; PAYLOAD_BYTES];
    // Measured after a reopen, as a server runs after a restart: opening reads every segment
    // back, which is what could leave the page cache holding them in large folios.
    let (mut journal, _) = Journal::open(&journal_dir, Options::default(), 0)?;
    let lsns = journal.append(&[&payload])?;
    drop(journal);
    forget_cached_pages(&journal_dir)?;
    let (mut journal, _) = Journal::open(&journal_dir, Options::default(), lsns.end - 1)?;
    let mut micros = Vec::new();
    let written_before = disk_bytes_written();
    let cpu_before = cpu_nanos();
    let started = Instant::now();
    while started.elapsed() < duration {
        let commit = Instant::now();
        let lsns = journal.append(&[&payload])?;
        micros.push(commit.elapsed().as_micros() as u64);
        journal.release(lsns.end - 1);
    }
    let written = disk_bytes_written()
        .zip(written_before)
        .map(|(after, before)| after.saturating_sub(before));
    let cpu = cpu_nanos()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    drop(journal);
    std::fs::remove_dir_all(&journal_dir)?;
    if micros.is_empty() {
        return Err("no commit finished in the time given".into());
    }
    micros.sort_unstable();
    let at = |p: f64| micros[((micros.len() as f64 * p) as usize).min(micros.len() - 1)];
    let per_commit = |total: Option<u64>, unit: u64| {
        total.map_or("-".to_owned(), |total| {
            (total / unit / micros.len() as u64).to_string()
        })
    };
    Ok(format!(
        "COMMIT {} {} {} {} {} {} {} {}",
        micros.len(),
        at(0.5),
        at(0.9),
        at(0.99),
        at(0.999),
        micros.last().copied().unwrap_or(0),
        per_commit(written, 1),
        per_commit(cpu, 1000),
    ))
}

/// Drops the journal's files from the page cache, as a reboot would, so that opening it reads
/// them from the disk (Linux only; elsewhere a no-op).
fn forget_cached_pages(dir: &std::path::Path) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    for entry in std::fs::read_dir(dir)? {
        let file = std::fs::File::open(entry?.path())?;
        rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed)?;
    }
    #[cfg(not(target_os = "linux"))]
    let _ = dir;
    Ok(())
}

/// Bytes this process has caused to be sent to storage so far (Linux only).
fn disk_bytes_written() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines()
        .find_map(|line| line.strip_prefix("write_bytes:"))
        .and_then(|value| value.trim().parse().ok())
}

/// CPU time this thread has used so far, in nanoseconds (Linux only).
fn cpu_nanos() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}
