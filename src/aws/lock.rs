//! One deploy (or destroy) at a time per prefix, with a lock AWS holds: an ECR repository named
//! `<prefix>-aws-app-lock`. Creating a repository that exists fails, so of two runs exactly one
//! gets it; the holder ("<host>:<pid>") and a heartbeat time are tags on it, refreshed every
//! minute. A run that finds another's live lock waits; a lock whose heartbeat is older than the
//! lease (its run died) is deleted and created again, the create still deciding who wins.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_ecr::Client;
use aws_sdk_ecr::types::Tag;

use super::{Tags, failed};
use crate::error::{Error, Result};
use crate::say;

const HOLDER_TAG: &str = "aws-app:lock-holder";
const HEARTBEAT_TAG: &str = "aws-app:lock-heartbeat";
/// A lock without a heartbeat for this long belongs to a run that died: take it over.
const LEASE: Duration = Duration::from_secs(5 * 60);
const HEARTBEAT: Duration = Duration::from_secs(60);
/// How long a run waits for another before giving up.
const WAIT: Duration = Duration::from_secs(45 * 60);

/// Successful writes the lock itself made (create, heartbeat, delete): not changes of the
/// deployment, so `deploy` leaves them out of `changed`.
pub(crate) static WRITES: AtomicUsize = AtomicUsize::new(0);

fn wrote() {
    WRITES.fetch_add(1, Ordering::Relaxed);
}

/// A held lock: its heartbeat runs until `release`.
pub struct Lock {
    name: String,
    holder: String,
    heartbeat: tokio::task::JoinHandle<()>,
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn tag(key: &str, value: &str) -> Result<Tag> {
    Tag::builder()
        .key(key)
        .value(value)
        .build()
        .map_err(|e| Error::failed(format!("lock tag: {e}")))
}

/// The lock's name for a prefix's image repository.
pub fn lock_name(repo: &str) -> String {
    format!("{repo}-lock")
}

/// Holder and heartbeat of the lock, if it exists.
async fn read(ecr: &Client, name: &str) -> Result<Option<(String, String, u64)>> {
    let found = ecr.describe_repositories().repository_names(name).send().await;
    let arn = match found {
        Ok(out) => out.repositories().first().and_then(|r| r.repository_arn()).map(str::to_string),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_repository_not_found_exception()) => {
            None
        }
        Err(e) => return Err(failed("reading the deploy lock", e)),
    };
    let Some(arn) = arn else {
        return Ok(None);
    };
    // Released (deleted) between the two reads: free.
    let tags = match ecr.list_tags_for_resource().resource_arn(&arn).send().await {
        Ok(tags) => tags,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_repository_not_found_exception()) => {
            return Ok(None);
        }
        Err(e) => return Err(failed("reading the deploy lock", e)),
    };
    let get =
        |key: &str| tags.tags().iter().find(|t| t.key() == key).map(|t| t.value().to_string());
    let holder = get(HOLDER_TAG).unwrap_or_default();
    let beat = get(HEARTBEAT_TAG).and_then(|v| v.parse().ok()).unwrap_or(0);
    Ok(Some((arn, holder, beat)))
}

/// Takes the prefix's lock, waiting while another live run holds it.
pub async fn acquire(ecr: &Client, repo: &str, prefix: &str, tags: &Tags) -> Result<Lock> {
    let name = lock_name(repo);
    let holder = format!("{}:{}", host_name(), std::process::id());
    let started = Instant::now();
    let mut told = false;
    loop {
        let mut create = ecr.create_repository().repository_name(&name);
        create = create
            .tags(tag(HOLDER_TAG, &holder)?)
            .tags(tag(HEARTBEAT_TAG, &unix_now().to_string())?);
        for (key, value) in tags.pairs() {
            create = create.tags(tag(key, &value)?);
        }
        match create.send().await {
            Ok(_) => {
                wrote();
                if told {
                    say("the other run finished; going on");
                }
                let heartbeat = tokio::spawn(beat(ecr.clone(), name.clone()));
                return Ok(Lock { name, holder, heartbeat });
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_repository_already_exists_exception()) => {}
            Err(e) => return Err(failed("taking the deploy lock", e)),
        }
        let Some((_, other, beat)) = read(ecr, &name).await? else {
            continue; // released meanwhile: try again at once
        };
        let silent = unix_now().saturating_sub(beat);
        if silent > LEASE.as_secs() || died_here(&other) {
            say(format!(
                "the deploy lock of {other} is left by a run that is gone (last heartbeat \
                 {silent} s ago): taking it over"
            ));
            if ecr.delete_repository().repository_name(&name).force(true).send().await.is_ok() {
                wrote();
            }
            continue;
        }
        if started.elapsed() > WAIT {
            return Err(Error::failed(format!(
                "another run for prefix {prefix} ({other}) has held the deploy lock for over {} min; \\
                 try again later",
                WAIT.as_secs() / 60
            )));
        }
        if !told {
            say(format!("another deploy of prefix {prefix} is running ({other}): waiting for it"));
            told = true;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
}

/// Refreshes the heartbeat tag until aborted.
async fn beat(ecr: Client, name: String) {
    loop {
        tokio::time::sleep(HEARTBEAT).await;
        if let Ok(Some((arn, _, _))) = read(&ecr, &name).await
            && let Ok(t) = tag(HEARTBEAT_TAG, &unix_now().to_string())
            && ecr.tag_resource().resource_arn(arn).tags(t).send().await.is_ok()
        {
            wrote();
        }
    }
}

impl Lock {
    /// Stops the heartbeat and deletes the lock if it is still this run's.
    pub async fn release(self, ecr: &Client) {
        self.heartbeat.abort();
        if let Ok(Some((_, holder, _))) = read(ecr, &self.name).await
            && holder == self.holder
        {
            match ecr.delete_repository().repository_name(&self.name).force(true).send().await {
                Ok(_) => wrote(),
                Err(e) => {
                    say(format!("could not release the deploy lock: {}", failed("releasing", e)))
                }
            }
        }
    }
}

/// Whether the holder was a run on this machine whose process is gone (killed without a chance
/// to release): its lock need not wait for the lease to run out.
fn died_here(holder: &str) -> bool {
    let Some((host, pid)) = holder.rsplit_once(':') else {
        return false;
    };
    if host != host_name() || pid.parse::<u32>().is_err() {
        return false;
    }
    let alive = std::process::Command::new("kill")
        .args(["-0", pid])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    !alive
}

/// This machine's name, for the holder tag (read by people waiting on the lock).
fn host_name() -> String {
    std::process::Command::new("hostname")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .map(|s| tag_safe(&s))
        .unwrap_or_else(|| "unknown-host".to_string())
}

/// Text as an ECR tag value may carry it: letters, digits, spaces and `_ . : / = + - @`, at
/// most 256 characters; anything else becomes `-`.
fn tag_safe(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_alphanumeric() || " _.:/=+-@".contains(c) { c } else { '-' })
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn host_names_become_valid_tag_values() {
        assert_eq!(super::tag_safe("build-01.example.com"), "build-01.example.com");
        assert_eq!(super::tag_safe("Annes MacBook (2)"), "Annes MacBook -2-");
        assert_eq!(super::tag_safe("hôte"), "h-te");
    }
}
