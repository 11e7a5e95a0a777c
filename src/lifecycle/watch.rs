//! `watch`: poll the branch and deploy each new commit. A failed round is reported and the loop
//! goes on: a commit whose build, smoke test or rollout failed waits for the branch to move;
//! any other failure (the network, throttling past the retries, a lock held too long) is tried
//! again after a backoff. SIGINT/SIGTERM end it between rounds (a deploy in progress is stopped
//! with its own report: what it left is found again next time).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use crate::aws::Aws;
use crate::config::Config;
use crate::error::{Kind, Result};
use crate::lifecycle::live;
use crate::outcome::Outcome;
use crate::{deploy, say, source};

pub async fn watch(config: &Config, every: Duration) -> Result<Outcome> {
    let aws = Aws::connect(config.region.as_deref()).await?;
    let stopping = Arc::new(AtomicBool::new(false));
    let wake = Arc::new(Notify::new());
    {
        let (stopping, wake) = (stopping.clone(), wake.clone());
        tokio::spawn(async move {
            let signal = crate::signals::stop_requested().await;
            say(format!("{signal}: stopping after this round"));
            stopping.store(true, Ordering::SeqCst);
            wake.notify_one();
        });
    }
    say(format!(
        "watching {} of {} every {}; Ctrl-C stops",
        config.source.branch,
        config.source.url,
        humantime::format_duration(every)
    ));
    let mut last_seen = String::new();
    let mut failed_head = String::new();
    let mut failures = 0;
    while !stopping.load(Ordering::SeqCst) {
        let pause = match round(&aws, config, &mut last_seen, &mut failed_head, &stopping).await {
            Ok(()) => {
                failures = 0;
                every
            }
            Err(e) if e.kind == Kind::Interrupted => return Err(e),
            Err(e) => {
                if let Some(detail) = &e.detail {
                    crate::progress::print_above(&crate::shown(detail.trim_end()));
                }
                let pause = if e.kind == Kind::CommitFailed {
                    failures = 0;
                    every
                } else {
                    failures += 1;
                    backoff(failures, every)
                };
                crate::note(format!("this round failed: {e}; next try in {} s", pause.as_secs()));
                pause
            }
        };
        if stopping.load(Ordering::SeqCst) {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = wake.notified() => {}
        }
    }
    crate::done("watch stopped");
    Ok(Outcome::none())
}

/// The pause after the `failures`-th failure in a row that was not the commit's: 5 s, doubling,
/// up to the interval or 5 min, whichever is longer (a network back soon is used soon; an
/// outage is not hammered).
fn backoff(failures: u32, every: Duration) -> Duration {
    let cap = every.max(Duration::from_secs(300));
    Duration::from_secs(5).saturating_mul(2u32.saturating_pow(failures.saturating_sub(1))).min(cap)
}

/// One poll: deploy when the branch HEAD is not what runs. A commit whose deploy failed is not
/// tried again every interval (its rollout would fail again): the next commit is.
async fn round(
    aws: &Aws,
    config: &Config,
    last_seen: &mut String,
    failed_head: &mut String,
    stopping: &AtomicBool,
) -> Result<()> {
    let head = source::resolve_head(&config.source).await?;
    let live = live::find(aws, config).await?;
    if live.as_ref().and_then(|l| l.commit.as_deref()) == Some(head.as_str()) {
        if *last_seen != head {
            say(format!("{} runs {}: waiting for a new commit", config.names.service, &head[..12]));
            *last_seen = head;
        }
        return Ok(());
    }
    if *failed_head == head {
        return Ok(());
    }
    if stopping.load(Ordering::SeqCst) {
        return Ok(());
    }
    say(format!("new commit {} on {}: deploying", &head[..12], config.source.branch));
    // The next round confirms it ("runs ...") from AWS.
    let deployed = deploy::deploy(config, false).await.map(|outcome| outcome.print(config.json));
    if let Err(e) = &deployed
        && e.kind == Kind::CommitFailed
    {
        crate::note(format!("{} is not tried again until the branch moves", &head[..12]));
        *failed_head = head;
    }
    deployed
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn failures_not_the_commits_back_off_up_to_a_cap() {
        let minute = Duration::from_secs(60);
        let got: Vec<u64> = (1..=9).map(|n| super::backoff(n, minute).as_secs()).collect();
        assert_eq!(got, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(super::backoff(3, Duration::from_secs(3600)).as_secs(), 20);
        assert_eq!(super::backoff(40, Duration::from_secs(3600)).as_secs(), 3600);
        assert_eq!(super::backoff(u32::MAX, minute).as_secs(), 300);
    }
}
