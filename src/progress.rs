//! Progress on stderr, and results on stdout around it.
//!
//! On a terminal: each step (`step`, which `say` calls) is one line whose elapsed time updates
//! in place (indicatif), with a detail that replaces itself: the Docker build's current step
//! (its whole output goes into the error on failure, or is printed with `--verbose`), bytes
//! pushed, what a wait is waiting for. A step ends with `done` (its outcome replaces it), or
//! with the next step (it stays as a plain line with how long it took); a `note` is a line
//! above it.
//!
//! Off a terminal (CI, pipes, files): plain lines, one per event, `aws-app: <text>`, and the
//! build's output as it comes; no control characters (text from the app, AWS and the engine
//! goes through `shown`). Results (`out!`) go to stdout, with the step line lifted first so the
//! two never share a line.

use std::io::IsTerminal;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::shown;

struct Terminal {
    /// The step being shown, and its message (the detail is appended to it).
    current: Mutex<Option<(ProgressBar, String)>>,
}

enum Display {
    Plain,
    Terminal(Terminal),
}

static DISPLAY: OnceLock<Display> = OnceLock::new();
static VERBOSE: OnceLock<bool> = OnceLock::new();

/// Chooses the display once: the terminal one when stderr is a terminal (and TERM is not
/// `dumb`), else plain lines. `verbose`: the build's output is printed on a terminal too.
pub fn init(verbose: bool) {
    let _ = VERBOSE.set(verbose);
    let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
    let display = if std::io::stderr().is_terminal() && !dumb {
        Display::Terminal(Terminal { current: Mutex::new(None) })
    } else {
        Display::Plain
    };
    let _ = DISPLAY.set(display);
}

fn display() -> &'static Display {
    DISPLAY.get_or_init(|| Display::Plain)
}

/// Whether progress is drawn in place (stderr is a terminal).
pub fn on_terminal() -> bool {
    matches!(display(), Display::Terminal(_))
}

/// Whether the build's whole output is printed as it comes: off a terminal, or `--verbose`.
pub fn prints_build_output() -> bool {
    !on_terminal() || VERBOSE.get().copied().unwrap_or(false)
}

/// A new step: the one shown before stays as a line, this one is drawn with its elapsed time.
pub fn step(message: &str) {
    let message = shown(message).into_owned();
    match display() {
        Display::Plain => eprintln!("aws-app: {message}"),
        Display::Terminal(t) => {
            let Ok(mut current) = t.current.lock() else { return };
            if let Some((bar, done)) = current.take() {
                leave(&bar, &done);
            }
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template("{spinner} {wide_msg} {elapsed:>4}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            bar.set_style(style);
            bar.set_message(message.clone());
            bar.enable_steady_tick(Duration::from_millis(250));
            *current = Some((bar, message));
        }
    }
}

/// The current step is done: its live line is replaced by `message` (which says how it went).
pub fn done(message: &str) {
    let message = shown(message);
    if let Display::Terminal(t) = display()
        && let Ok(mut current) = t.current.lock()
        && let Some((bar, _)) = current.take()
    {
        bar.finish_and_clear();
    }
    eprintln!("aws-app: {message}");
}

/// A line while the current step goes on: above the step's line, which keeps running.
pub fn note(message: &str) {
    print_above(&format!("aws-app: {}", shown(message)));
}

/// What the current step is at (a build step, bytes pushed, what a wait waits for): drawn in
/// place on a terminal; nothing off one (there, events are `step` lines).
pub fn detail(text: &str) {
    if let Display::Terminal(t) = display()
        && let Ok(current) = t.current.lock()
        && let Some((bar, message)) = current.as_ref()
    {
        let text = shown(text.trim());
        bar.set_message(format!("{message} · {text}"));
    }
}

/// Where a wait stands (a rollout's task counts, why the URL does not serve yet), given when
/// it changes: the step's detail on a terminal, a line of its own off one.
pub fn status(text: &str) {
    match display() {
        Display::Plain => eprintln!("aws-app: {}", shown(text)),
        Display::Terminal(_) => detail(text),
    }
}

/// Output of a tool the step runs (the Docker build's lines): printed as it comes off a
/// terminal and with `--verbose`; else its last line is the step's detail.
pub fn output(text: &str) {
    if !on_terminal() {
        // As the tool wrote it: the engine sends a step's line and its newline apart.
        eprint!("{}", shown(text));
    } else if prints_build_output() {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            print_above(&shown(line));
        }
    } else if let Some(last) = text.lines().rev().find(|l| !l.trim().is_empty()) {
        detail(last);
    }
}

/// A line on stderr that is not a step (an error's detail, a note): above the step line.
pub fn print_above(line: &str) {
    match display() {
        Display::Plain => eprintln!("{line}"),
        Display::Terminal(t) => match t.current.lock().ok().as_ref().and_then(|c| c.as_ref()) {
            Some((bar, _)) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        },
    }
}

/// A result line on stdout, with the step line lifted so the two never share a line.
pub fn result(line: &str) {
    match display() {
        Display::Plain => println!("{line}"),
        Display::Terminal(t) => match t.current.lock().ok().as_ref().and_then(|c| c.as_ref()) {
            Some((bar, _)) => bar.suspend(|| println!("{line}")),
            None => println!("{line}"),
        },
    }
}

/// Ends the step shown (at exit, before an error is printed): it stays as a plain line.
pub fn finish() {
    if let Display::Terminal(t) = display()
        && let Ok(mut current) = t.current.lock()
        && let Some((bar, done)) = current.take()
    {
        leave(&bar, &done);
    }
}

/// Replaces a step's live line with a plain one that keeps how long the step took.
fn leave(bar: &ProgressBar, done: &str) {
    bar.finish_and_clear();
    eprintln!("aws-app: {done} ({})", seconds(bar.elapsed()));
}

/// A step's duration as it is read: `0.4 s`, `12 s`, `3 min 05 s`.
fn seconds(d: Duration) -> String {
    match d.as_secs() {
        s if s >= 60 => format!("{} min {:02} s", s / 60, s % 60),
        s if s >= 10 => format!("{s} s"),
        _ => format!("{:.1} s", d.as_secs_f64()),
    }
}

/// `1.2 s` since `start`, for progress lines (the benchmark reads them too).
pub fn seconds_since(start: std::time::Instant) -> String {
    format!("{:.1} s", start.elapsed().as_secs_f64())
}

/// Prints a result line on stdout (`println!`'s arguments) without breaking the progress line.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::progress::result(&format!($($arg)*))
    };
}

/// Bytes as a person reads them: `12.3 MB`.
pub fn bytes(n: u64) -> String {
    match n {
        n if n >= 1_000_000_000 => format!("{:.2} GB", n as f64 / 1e9),
        n if n >= 1_000_000 => format!("{:.1} MB", n as f64 / 1e6),
        n if n >= 1_000 => format!("{:.0} kB", n as f64 / 1e3),
        n => format!("{n} B"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn bytes_read_as_people_say_them() {
        assert_eq!(super::bytes(512), "512 B");
        assert_eq!(super::bytes(63_289), "63 kB");
        assert_eq!(super::bytes(76_262_657), "76.3 MB");
        assert_eq!(super::bytes(2_500_000_000), "2.50 GB");
    }

    #[test]
    fn step_durations_read_as_people_say_them() {
        use std::time::Duration;
        assert_eq!(super::seconds(Duration::from_millis(420)), "0.4 s");
        assert_eq!(super::seconds(Duration::from_secs(12)), "12 s");
        assert_eq!(super::seconds(Duration::from_secs(185)), "3 min 05 s");
    }
}
