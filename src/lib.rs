//! aws-app: from a git branch of a Python web app to a verified URL. `run` is the whole program
//! behind `main`, and what the tests call through the binary.

pub mod aws;
pub mod builder;
pub mod cli;
pub mod config;
pub mod cost;
pub mod deploy;
pub mod error;
pub mod http;
pub mod image;
pub mod lifecycle;
pub mod local;
pub mod outcome;
pub mod progress;
pub mod signals;
pub mod source;

use crate::cli::Cli;
use crate::config::{Action, Config};
use crate::error::Result;

/// Runs one command line. Progress goes to stderr; the result (URL or JSON) to stdout, once.
pub async fn run(cli: Cli) -> Result<()> {
    let (config, action) = Config::from_cli(cli)?;
    progress::init(config.verbose);
    let outcome = match action {
        Action::Deploy { rebuild } => deploy::deploy(&config, rebuild).await,
        Action::Plan { rebuild } => lifecycle::plan::plan(&config, rebuild).await,
        Action::Build { run, port } => local::build(&config, run.then_some(port)).await,
        Action::Redeploy { force } => lifecycle::redeploy::redeploy(&config, force).await,
        Action::Watch { interval } => lifecycle::watch::watch(&config, interval).await,
        Action::Status => lifecycle::status::status(&config).await,
        Action::Logs { follow, since } => lifecycle::logs::logs(&config, follow, since).await,
        Action::Rollback { to } => lifecycle::rollback::rollback(&config, to.as_deref()).await,
        Action::Destroy { local: true, .. } => local::destroy(&config).await,
        Action::Destroy { yes, local: false } => lifecycle::destroy::destroy(&config, yes).await,
    }?;
    outcome.print(config.json);
    Ok(())
}

/// A step begins (`fetching …`, `rolling out …`): on stderr, drawn in place with its elapsed
/// time on a terminal, a plain line off one (see `progress`).
pub fn say(message: impl std::fmt::Display) {
    progress::step(&message.to_string());
}

/// The current step is done, and this says how it went (`built … in 4.7 s`): the step's live
/// line gives way to this one.
pub fn done(message: impl std::fmt::Display) {
    progress::done(&message.to_string());
}

/// Something worth knowing while the current step goes on (a warning, what a wait waits for):
/// a line above the step's, which keeps running.
pub fn note(message: impl std::fmt::Display) {
    progress::note(&message.to_string());
}

/// Text of the app's or of AWS's (build lines, container logs, CloudWatch lines, page bodies,
/// events) as it may be printed: control characters other than newline and tab, and the
/// Unicode controls that reorder text, are written as escapes (`\x1b`, `\u{202e}`). An app's
/// output must not move the cursor, retitle the terminal or hide what is printed after it; the
/// same holds off a terminal, since a saved log is read on one later.
pub fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    let hostile = |c: char| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.contains(hostile) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            c if !hostile(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Now, in Unix seconds (0 if the clock is before 1970).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// The Unix time of an RFC 3339 UTC time as `rfc3339` writes it (`2021-11-15T20:31:05Z`).
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let at = humantime::parse_rfc3339(text).ok()?;
    i64::try_from(at.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs()).ok()
}

/// RFC 3339 UTC time of a Unix timestamp (`2021-11-15T20:31:05Z`). A time before 1970 or after
/// 9999 (a commit may claim either) is written as the nearest one RFC 3339 can say.
pub fn rfc3339(secs: i64) -> String {
    const LAST: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    let secs = std::time::Duration::from_secs(secs.clamp(0, LAST).unsigned_abs());
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + secs).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_are_shown_escaped() {
        assert_eq!(super::shown("plain\ttext\nnext"), "plain\ttext\nnext");
        assert_eq!(super::shown("\x1b[2J\x1b]0;owned\x07"), "\\x1b[2J\\x1b]0;owned\\x07");
        assert_eq!(super::shown("a\rb\x7f"), "a\\x0db\\x7f");
        assert_eq!(super::shown("\u{9b}31m \u{202e}txt"), "\\u{9b}31m \\u{202e}txt");
        assert_eq!(super::shown("naïve ünïcode ✓"), "naïve ünïcode ✓");
    }

    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_637_008_265), "2021-11-15T20:31:05Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        for t in [0, 951_782_400, 1_637_008_265, 4_102_444_799] {
            assert_eq!(super::parse_rfc3339(&super::rfc3339(t)), Some(t));
        }
        assert_eq!(super::parse_rfc3339("yesterday"), None);
        assert_eq!(super::rfc3339(-1), "1970-01-01T00:00:00Z", "before 1970: no panic");
        assert_eq!(super::rfc3339(i64::MAX), "9999-12-31T23:59:59Z", "after 9999: no panic");
    }
}
