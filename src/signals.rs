//! Stop requests from the operator (Ctrl-C) or a supervisor (SIGTERM). Commands race their work
//! against `stop_requested` and clean up what they started before they exit.

use tokio::signal::unix::{SignalKind, signal};

/// Resolves with the signal's name once SIGINT or SIGTERM arrives.
pub async fn stop_requested() -> &'static str {
    let (Ok(mut int), Ok(mut term)) =
        (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    else {
        // Without signal handlers the default (immediate exit) stays in force.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}
