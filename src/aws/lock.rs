//! One deploy at a time per prefix, with a lock AWS holds: a tag on the prefix's ECR repository
//! (`aws-app:lock` = "<holder> <unix time>"). A run that finds another's fresh lock waits for it;
//! a lock older than its lease (a run that was killed) is taken over. Taking it is write, wait,
//! read back: of two runs writing at once, the one whose value stays wins, the other waits.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_ecr::Client;
use aws_sdk_ecr::types::Tag;

use super::failed;
use crate::error::{Error, Result};
use crate::say;

pub const LOCK_TAG: &str = "aws-app:lock";
/// A lock this old belongs to a run that died: take it over.
const LEASE: Duration = Duration::from_secs(30 * 60);
/// How long a run waits for another before giving up.
const WAIT: Duration = Duration::from_secs(30 * 60);

/// A held lock; `release` it when done.
pub struct Lock {
    repo_arn: String,
    value: String,
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

async fn current(ecr: &Client, arn: &str) -> Result<Option<String>> {
    let tags = ecr
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| failed("reading the deploy lock", e))?;
    Ok(tags.tags().iter().find(|t| t.key() == LOCK_TAG).map(|t| t.value().to_string()))
}

/// Takes the prefix's lock, waiting while another run holds a fresh one.
pub async fn acquire(ecr: &Client, repo: &str, prefix: &str) -> Result<Lock> {
    let arn = ecr
        .describe_repositories()
        .repository_names(repo)
        .send()
        .await
        .map_err(|e| failed("finding the ECR repository for the deploy lock", e))?
        .repositories()
        .first()
        .and_then(|r| r.repository_arn())
        .map(str::to_string)
        .ok_or_else(|| Error::failed("the ECR repository has no ARN"))?;
    let host = host_name();
    let holder = format!("{host}:{}", std::process::id());
    let started = Instant::now();
    let mut told = false;
    loop {
        if let Some(value) = current(ecr, &arn).await? {
            let (other, since) = value.rsplit_once(' ').unwrap_or((&value, "0"));
            let since: u64 = since.parse().unwrap_or(0);
            let fresh = unix_now().saturating_sub(since) < LEASE.as_secs();
            if fresh && other != holder && !died_here(other, &host) {
                if started.elapsed() > WAIT {
                    return Err(Error::failed(format!(
                        "another deploy of prefix {prefix} ({other}) has held the lock for over {} \
                         min; if it is dead, remove the {LOCK_TAG} tag of ECR repository {repo}",
                        WAIT.as_secs() / 60
                    )));
                }
                if !told {
                    say(format!(
                        "another deploy of prefix {prefix} is running ({other}, since {}): waiting for it",
                        crate::rfc3339(i64::try_from(since).unwrap_or(0))
                    ));
                    told = true;
                }
                tokio::time::sleep(Duration::from_secs(3)).await;
                continue;
            }
        }
        let value = format!("{holder} {}", unix_now());
        let tag = Tag::builder()
            .key(LOCK_TAG)
            .value(&value)
            .build()
            .map_err(|e| Error::failed(format!("lock tag: {e}")))?;
        ecr.tag_resource()
            .resource_arn(&arn)
            .tags(tag)
            .send()
            .await
            .map_err(|e| failed("taking the deploy lock", e))?;
        // Another run may have written at the same moment: the value that stays wins.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        if current(ecr, &arn).await?.as_deref() == Some(value.as_str()) {
            if told {
                say("the other deploy finished; going on");
            }
            return Ok(Lock { repo_arn: arn, value });
        }
    }
}

/// This machine's name, to tell its own runs from others'.
fn host_name() -> String {
    std::process::Command::new("hostname")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown-host".to_string())
}

/// Whether the holder was a run on this machine whose process is gone (killed without a
/// chance to release): its lock need not wait for the lease to run out.
fn died_here(holder: &str, host: &str) -> bool {
    let Some((their_host, pid)) = holder.rsplit_once(':') else {
        return false;
    };
    if their_host != host || pid.parse::<u32>().is_err() {
        return false;
    }
    let alive = std::process::Command::new("kill")
        .args(["-0", pid])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !alive {
        say(format!("the deploy lock of {holder} is left from a run that is gone: taking it over"));
    }
    !alive
}

impl Lock {
    /// Removes the lock if it is still this run's.
    pub async fn release(self, ecr: &Client) {
        if current(ecr, &self.repo_arn).await.ok().flatten().as_deref() == Some(self.value.as_str())
        {
            let untag =
                ecr.untag_resource().resource_arn(&self.repo_arn).tag_keys(LOCK_TAG).send().await;
            if let Err(e) = untag {
                say(format!("could not remove the deploy lock: {}", failed("releasing", e)));
            }
        }
    }
}
