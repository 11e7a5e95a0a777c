//! `logs`: the app's log lines from CloudWatch, oldest first and newest last, each with the
//! task it came from; `--follow` keeps polling until Ctrl-C.

use std::collections::HashSet;
use std::time::Duration;

use crate::aws::{Aws, found};
use crate::config::Config;
use crate::error::{Error, Result};

/// `30s`, `10m`, `2h`, `1d` -> seconds.
pub fn parse_duration(text: &str, option: &str) -> Result<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => 0,
    };
    // Ten years at most: CloudWatch's longest retention, and FilterLogEvents' startTime must
    // not go below 0.
    const MAX_SECS: u64 = 3653 * 86_400;
    match number.parse::<u64>() {
        Ok(n) if scale > 0 && n > 0 && n.checked_mul(scale).is_some_and(|s| s <= MAX_SECS) => {
            Ok(n * scale)
        }
        Ok(n) if scale > 0 && n > 0 => Err(Error::input(format!(
            "{option} '{text}' is more than ten years (3653d): use a shorter time"
        ))),
        _ => Err(Error::input(format!(
            "invalid {option} '{text}': use a number with s, m, h or d, e.g. 30s, 10m, 2h"
        ))),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0))
}

pub async fn logs(config: &Config, follow: bool, since: &str) -> Result<()> {
    let since = parse_duration(since, "--since")?;
    let aws = Aws::connect(config.region.as_deref()).await?;
    let group = &config.names.log_group;
    let first = now_ms() - i64::try_from(since * 1000).unwrap_or(0);
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
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = &mut stop => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations() {
        assert_eq!(super::parse_duration("10m", "--since").expect("10m"), 600);
        assert_eq!(super::parse_duration("2h", "--since").expect("2h"), 7200);
        assert_eq!(super::parse_duration("30s", "--since").expect("30s"), 30);
        assert!(super::parse_duration("10", "--since").is_err());
        assert!(super::parse_duration("0m", "--since").is_err());
        assert!(super::parse_duration("m", "--since").is_err());
        assert!(super::parse_duration("3653d", "--since").is_ok());
        assert!(super::parse_duration("3654d", "--since").is_err());
        assert!(super::parse_duration("99999999999999999d", "--since").is_err());
    }
}
