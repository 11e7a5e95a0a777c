//! `logs`: the app's log lines from CloudWatch, oldest first and newest last, each with the
//! task it came from; `--follow` keeps polling until Ctrl-C.

use std::collections::HashSet;
use std::time::Duration;

use crate::aws::{Aws, found};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::outcome::Outcome;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0))
}

pub async fn logs(config: &Config, follow: bool, since: Duration) -> Result<Outcome> {
    let aws = Aws::connect(config.region.as_deref()).await?;
    let group = &config.names.log_group;
    let first = now_ms() - i64::try_from(since.as_millis()).unwrap_or(0);
    // Each poll looks back a minute before the newest line printed (CloudWatch makes lines
    // searchable late, and streams lag each other) and skips the lines it printed already.
    const LOOK_BACK_MS: i64 = 60_000;
    let mut newest = first;
    let mut printed: HashSet<String> = HashSet::new();
    let mut printed_any = false;
    let stop = crate::signals::stop_requested();
    tokio::pin!(stop);
    loop {
        let start = if printed_any { (newest - LOOK_BACK_MS).max(first) } else { first };
        let mut events = Vec::new();
        let mut token = None;
        loop {
            let out = aws
                .logs
                .filter_log_events()
                .log_group_name(group)
                .start_time(start)
                .set_next_token(token.take())
                .send()
                .await;
            let found =
                found("reading the app's logs", out, |e| e.is_resource_not_found_exception());
            let Some(out) = found? else {
                return Err(Error::failed(format!(
                    "no log group {group} in {}: nothing deployed for prefix {} (run ./aws-app.sh)",
                    aws.region, config.prefix
                )));
            };
            events.extend(out.events().iter().cloned());
            match out.next_token {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        events.sort_by_key(|e| e.timestamp().unwrap_or_default());
        for event in &events {
            let id = event.event_id().unwrap_or_default().to_string();
            if !printed.insert(id) {
                continue;
            }
            newest = newest.max(event.timestamp().unwrap_or_default());
            // Streams are `app/app/<task id>`.
            let task = event.log_stream_name().and_then(|s| s.rsplit('/').next()).unwrap_or("?");
            let task: String = task.chars().take(12).collect();
            crate::out!("{task} {}", crate::shown(event.message().unwrap_or("").trim_end()));
            printed_any = true;
        }
        if !follow {
            if !printed_any {
                crate::done(format!(
                    "no log lines in {group} since {}",
                    crate::rfc3339(first / 1000)
                ));
            }
            return Ok(Outcome::none());
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = &mut stop => return Ok(Outcome::none()),
        }
    }
}
