//! `watch`: poll the branch and deploy each new commit. A failed round (network, throttling, a
//! failed rollout) is reported and the loop goes on; SIGINT/SIGTERM end it between rounds (a
//! deploy in progress is stopped with its own report: what it left is found again next time).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use crate::aws::Aws;
use crate::config::Config;
use crate::error::{Kind, Result};
use crate::lifecycle::{live, logs::parse_duration};
use crate::{deploy, say, source};

pub async fn watch(config: &Config, interval: &str) -> Result<()> {
    let every = Duration::from_secs(parse_duration(interval, "--interval")?);
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
        "watching {} of {} every {interval}; Ctrl-C stops",
        config.source.branch, config.source.url
    ));
    let mut last_seen = String::new();
    let mut failed_head = String::new();
    while !stopping.load(Ordering::SeqCst) {
        match round(&aws, config, &mut last_seen, &mut failed_head, &stopping).await {
            Ok(()) => {}
            Err(e) if e.kind == Kind::Interrupted => return Err(e),
            Err(e) => {
                if let Some(detail) = &e.detail {
                    eprintln!("{}", detail.trim_end());
                }
                say(format!("this round failed: {e}; next try in {interval}"));
            }
        }
        if stopping.load(Ordering::SeqCst) {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = wake.notified() => {}
        }
    }
    say("watch stopped");
    Ok(())
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
    let deployed = deploy::deploy(config, false).await;
    if let Err(e) = &deployed
        && e.kind == Kind::Failed
    {
        say(format!("{} is not tried again until the branch moves", &head[..12]));
        *failed_head = head;
    }
    deployed
}
