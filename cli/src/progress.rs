//! The progress line of a long COPY on stderr (when stderr is a terminal): lines and bytes so
//! far and the rate, redrawn a few times a second once the COPY has run for a second, erased
//! at its end. The COPY data is counted as it passes through the CLI's stdin and stdout.

use std::cell::Cell;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// Shown only after this long: short COPYs print nothing.
const AFTER: Duration = Duration::from_secs(1);
/// Redrawn at most this often.
const EVERY: Duration = Duration::from_millis(250);

pub struct Progress {
    enabled: bool,
    start: Instant,
    last: Cell<Option<Instant>>,
    bytes: Cell<u64>,
    lines: Cell<u64>,
}

impl Progress {
    pub fn new(enabled: bool) -> Progress {
        Progress {
            enabled,
            start: Instant::now(),
            last: Cell::new(None),
            bytes: Cell::new(0),
            lines: Cell::new(0),
        }
    }

    fn add(&self, data: &[u8]) {
        if !self.enabled || data.is_empty() {
            return;
        }
        self.bytes.set(self.bytes.get() + data.len() as u64);
        let lines = data.iter().filter(|&&b| b == b'\n').count() as u64;
        self.lines.set(self.lines.get() + lines);
        let now = Instant::now();
        let due = match self.last.get() {
            None => now.duration_since(self.start) >= AFTER,
            Some(last) => now.duration_since(last) >= EVERY,
        };
        if due {
            self.last.set(Some(now));
            let line = line(
                self.lines.get(),
                self.bytes.get(),
                now.duration_since(self.start),
            );
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K{line}");
            let _ = err.flush();
        }
    }

    /// Erases the line, if it was drawn.
    pub fn finish(&self) {
        if self.last.get().is_some() {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
        }
    }
}

/// The progress text: `COPY: 1,234,567 lines, 63.7 MB, 85.2 MB/s`.
fn line(lines: u64, bytes: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(1e-3);
    format!(
        "COPY: {} lines, {:.1} MB, {:.1} MB/s",
        grouped(lines),
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / secs
    )
}

fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A reader or writer whose data is counted into a [`Progress`].
pub struct Counted<'p, T> {
    inner: T,
    progress: &'p Progress,
}

impl<'p, T> Counted<'p, T> {
    pub fn new(inner: T, progress: &'p Progress) -> Self {
        Counted { inner, progress }
    }
}

impl<T: Read> Read for Counted<'_, T> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.add(&buf[..n]);
        Ok(n)
    }
}

impl<T: Write> Write for Counted<'_, T> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.progress.add(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_reads_like_a_progress_report() {
        assert_eq!(
            line(1_234_567, 63_700_000, Duration::from_millis(500)),
            "COPY: 1,234,567 lines, 63.7 MB, 127.4 MB/s"
        );
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
    }

    #[test]
    fn counting_passes_the_data_through_and_draws_nothing_when_disabled() {
        let progress = Progress::new(false);
        let mut out = Vec::new();
        Counted::new(&mut out, &progress)
            .write_all(b"a\nb\n")
            .unwrap();
        assert_eq!(out, b"a\nb\n");
        assert!(progress.last.get().is_none());
        let progress = Progress::new(true);
        let mut input = Counted::new(&b"1\n2\n3\n"[..], &progress);
        let mut read = String::new();
        input.read_to_string(&mut read).unwrap();
        assert_eq!((progress.lines.get(), progress.bytes.get()), (3, 6));
        // Under a second: nothing drawn yet.
        assert!(progress.last.get().is_none());
    }
}
