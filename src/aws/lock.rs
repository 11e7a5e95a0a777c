//! One deploy, rollback or destroy at a time per prefix: a lease on an item of a DynamoDB table,
//! taken and handed over with conditional writes only (the way Terraform's S3 backend locked
//! state in DynamoDB, and as the AWS DynamoDB Lock Client does it).
//!
//! - The table `aws-app-locks` (one per account and region, on-demand billing: it costs nothing
//!   while idle) holds an item per prefix: the holder's id (random, one per acquisition), a
//!   record version that changes with every heartbeat, the lease, and who holds it (host, pid,
//!   command), for people waiting.
//! - Acquiring is a put on condition that no item exists: of two runs exactly one gets it.
//! - The holder renews the lease every `HEARTBEAT` with an update on condition that the item is
//!   still its own, with the version it last wrote. That failing means the lock was taken over.
//! - A waiter takes over only an item whose version did not change for a whole lease, timed on
//!   the waiter's own monotonic clock (no two machines' clocks are compared), with a put on
//!   condition that the version is still the one it watched: of two waiters, one wins.
//! - Fencing: before each step that writes, the holder checks that its last renewal is younger
//!   than `FENCE` (well inside the lease a waiter must watch). A run that stalled, lost AWS, or
//!   lost the lock stops there, before it writes anything more.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TableStatus, Tag,
};

use super::failed;
use crate::error::{Error, Result};
use crate::say;

/// The account's (and region's) lock table.
pub const TABLE: &str = "aws-app-locks";
/// The table's partition key: the prefix.
const KEY: &str = "prefix";
/// How long a holder's silence must last, on a waiter's clock, before the waiter takes over.
pub const LEASE: Duration = Duration::from_secs(20);
/// How often the holder renews.
const HEARTBEAT: Duration = Duration::from_secs(5);
/// A holder whose last renewal is older than this stops before its next write.
const FENCE: Duration = Duration::from_secs(10);
/// How often a waiter looks again.
const POLL: Duration = Duration::from_secs(2);
/// How long a run waits for another before giving up.
const WAIT: Duration = Duration::from_secs(45 * 60);
/// How long a new table may take to become ACTIVE.
const TABLE_DEADLINE: Duration = Duration::from_secs(120);

/// Successful writes the lock itself made (acquire, renew, release, the table): not changes of
/// the deployment, so `deploy` leaves them out of `changed`.
pub(crate) static WRITES: AtomicUsize = AtomicUsize::new(0);

fn wrote() {
    WRITES.fetch_add(1, Ordering::Relaxed);
}

/// What the holder's heartbeat shares with its run.
struct Lease {
    /// The version this holder last wrote.
    version: Mutex<String>,
    /// When the last renewal was sent that then succeeded (this machine's monotonic clock).
    renewed: Mutex<Instant>,
    /// Set when a renewal found the item no longer ours.
    lost: AtomicBool,
    /// Who took it, when known.
    taker: Mutex<Option<String>>,
}

/// A held lock: its heartbeat runs until `release`.
pub struct Lock {
    client: Client,
    prefix: String,
    holder: String,
    lease: Arc<Lease>,
    heartbeat: tokio::task::JoinHandle<()>,
}

/// An id no other acquisition has: 128 bits from the standard library's per-process random
/// hash keys, mixed with the time and the process.
fn random_id() -> String {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let part = || {
        let count = COUNT.fetch_add(1, Ordering::Relaxed);
        std::collections::hash_map::RandomState::new().hash_one((
            std::time::SystemTime::now(),
            std::process::id(),
            count,
        ))
    };
    format!("{:016x}{:016x}", part(), part())
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_string())
}

/// The item as read: holder, version, and who it says holds it.
struct Held {
    holder: String,
    version: String,
    owner: String,
}

fn conditional_failed<E: ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("ConditionalCheckFailedException")
}

fn no_table<E: ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("ResourceNotFoundException")
}

/// Runs `work` holding the prefix's lock for `command` (deploy, rollback, destroy), and
/// releases the lock however the work ends: done, failed, or stopped by SIGINT/SIGTERM (while
/// waiting for the lock too); on a signal, `stopped` cleans up what the work started and gives
/// the error that says what is left.
pub async fn holding<T>(
    client: &Client,
    prefix: &str,
    command: &str,
    work: impl AsyncFnOnce(&Fence) -> Result<T>,
    stopped: impl AsyncFnOnce(&'static str) -> Error,
) -> Result<T> {
    let stop = crate::signals::stop_requested();
    tokio::pin!(stop);
    let lock = tokio::select! {
        taken = acquire(client, prefix, command) => taken?,
        signal = &mut stop => return Err(stopped(signal).await),
    };
    let fence = lock.fence();
    let result = tokio::select! {
        done = work(&fence) => done,
        signal = &mut stop => Err(stopped(signal).await),
    };
    lock.release().await;
    result
}

/// Takes the prefix's lock for `command` (deploy, rollback, destroy), waiting while another
/// run holds it. The table is made on first use.
async fn acquire(client: &Client, prefix: &str, command: &str) -> Result<Lock> {
    let holder = random_id();
    let owner = format!("{} on {} (pid {})", command, host_name(), std::process::id());
    let started = Instant::now();
    // The version being watched, and since when (this machine's clock).
    let mut watched: Option<(String, Instant)> = None;
    let mut told = String::new();
    let mut table_checked = false;
    loop {
        let version = random_id();
        let taken = put(client, prefix, &holder, &version, &owner, None).await;
        match taken {
            Ok(()) => return Ok(held(client, prefix, holder, version, !told.is_empty())),
            Err(e) if conditional_failed(&e) => {}
            // Made (or waited for) once: a table that is ACTIVE and still "not found" is AWS's
            // problem to report, not a loop.
            Err(e) if no_table(&e) && !table_checked => {
                ensure_table(client).await?;
                table_checked = true;
                continue;
            }
            Err(e) => return Err(failed("taking the deploy lock", e)),
        }
        let Some(other) = read(client, prefix).await? else {
            continue; // released meanwhile: try again at once
        };
        match &watched {
            Some((version, since)) if *version == other.version => {
                if since.elapsed() >= LEASE {
                    let version = random_id();
                    let expected = Some(other.version.as_str());
                    match put(client, prefix, &holder, &version, &owner, expected).await {
                        Ok(()) => {
                            say(format!(
                                "took over the deploy lock of prefix {prefix} from {}: it was \
                                 not renewed for {} s (its run is gone or stalled)",
                                other.owner,
                                LEASE.as_secs()
                            ));
                            return Ok(held(client, prefix, holder, version, false));
                        }
                        Err(e) if conditional_failed(&e) => {}
                        Err(e) => return Err(failed("taking over the deploy lock", e)),
                    }
                }
            }
            _ => watched = Some((other.version.clone(), Instant::now())),
        }
        if started.elapsed() > WAIT {
            return Err(Error::failed(format!(
                "the deploy lock of prefix {prefix} has been held by {} for over {} min \
                 (renewed all along): try again later",
                other.owner,
                WAIT.as_secs() / 60
            )));
        }
        if told != other.holder {
            say(format!(
                "{} holds the deploy lock of prefix {prefix}: waiting for it",
                other.owner
            ));
            told = other.holder.clone();
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The held lock, its heartbeat started.
fn held(client: &Client, prefix: &str, holder: String, version: String, waited: bool) -> Lock {
    wrote();
    if waited {
        crate::done("the other run finished; going on");
    }
    let lease = Arc::new(Lease {
        version: Mutex::new(version),
        renewed: Mutex::new(Instant::now()),
        lost: AtomicBool::new(false),
        taker: Mutex::new(None),
    });
    let heartbeat =
        tokio::spawn(beat(client.clone(), prefix.to_string(), holder.clone(), lease.clone()));
    Lock { client: client.clone(), prefix: prefix.to_string(), holder, lease, heartbeat }
}

/// Writes the item: when `expected` is None, only if there is none; else only if its version
/// is `expected`.
async fn put(
    client: &Client,
    prefix: &str,
    holder: &str,
    version: &str,
    owner: &str,
    expected: Option<&str>,
) -> std::result::Result<(), SdkError<PutItemError>> {
    let request = client
        .put_item()
        .table_name(TABLE)
        .item(KEY, s(prefix))
        .item("holder", s(holder))
        .item("version", s(version))
        .item("owner", s(owner))
        .item("lease_seconds", AttributeValue::N(LEASE.as_secs().to_string()))
        .item("since", s(&crate::rfc3339(crate::unix_now())));
    let request = match expected {
        None => request
            .condition_expression("attribute_not_exists(#k)")
            .expression_attribute_names("#k", KEY),
        Some(version) => request
            .condition_expression("#v = :v")
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":v", s(version)),
    };
    request.send().await.map(|_| ())
}

/// The item of the prefix, read strongly consistent.
async fn read(client: &Client, prefix: &str) -> Result<Option<Held>> {
    let out = client
        .get_item()
        .table_name(TABLE)
        .key(KEY, s(prefix))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| failed("reading the deploy lock", e))?;
    let Some(item) = out.item else { return Ok(None) };
    let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
    Ok(Some(Held { holder: text("holder"), version: text("version"), owner: text("owner") }))
}

/// Creates the lock table unless it exists, and waits until it is ACTIVE.
async fn ensure_table(client: &Client) -> Result<()> {
    let described = client.describe_table().table_name(TABLE).send().await;
    let exists = match described {
        Ok(_) => true,
        Err(e) if no_table(&e) => false,
        Err(e) => return Err(failed("finding the lock table", e)),
    };
    if !exists {
        say(format!(
            "creating the DynamoDB table {TABLE} for deploy locks (once per account and region)"
        ));
        let key = |name: &str| {
            KeySchemaElement::builder().attribute_name(name).key_type(KeyType::Hash).build()
        };
        let attribute = AttributeDefinition::builder()
            .attribute_name(KEY)
            .attribute_type(ScalarAttributeType::S)
            .build();
        let mut create = client
            .create_table()
            .table_name(TABLE)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key(KEY).map_err(|e| Error::failed(format!("lock table: {e}")))?)
            .attribute_definitions(
                attribute.map_err(|e| Error::failed(format!("lock table: {e}")))?,
            );
        // Shared by every prefix: it carries aws-app's mark, not one prefix's.
        let tag = Tag::builder().key(super::TAG_MANAGED).value("aws-app").build();
        create = create.tags(tag.map_err(|e| Error::failed(format!("lock table tag: {e}")))?);
        match create.send().await {
            Ok(_) => wrote(),
            Err(e) if e.code() == Some("ResourceInUseException") => {} // made beside this run
            Err(e) => return Err(failed("creating the lock table", e)),
        }
    }
    let started = Instant::now();
    loop {
        let out = client
            .describe_table()
            .table_name(TABLE)
            .send()
            .await
            .map_err(|e| failed("reading the lock table", e))?;
        if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            return Ok(());
        }
        if started.elapsed() > TABLE_DEADLINE {
            return Err(Error::failed(format!(
                "the DynamoDB table {TABLE} did not become ACTIVE within {} s: see it in the \
                 DynamoDB console, then run again",
                TABLE_DEADLINE.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Renews the lease every HEARTBEAT until aborted or the item is found not ours.
async fn beat(client: Client, prefix: String, holder: String, lease: Arc<Lease>) {
    loop {
        tokio::time::sleep(HEARTBEAT).await;
        let Ok(current) = lease.version.lock().map(|v| v.clone()) else { return };
        let next = random_id();
        let sent = Instant::now();
        let renewed = client
            .update_item()
            .table_name(TABLE)
            .key(KEY, s(&prefix))
            .update_expression("SET #v = :next")
            .condition_expression("#h = :me AND #v = :current")
            .expression_attribute_names("#v", "version")
            .expression_attribute_names("#h", "holder")
            .expression_attribute_values(":next", s(&next))
            .expression_attribute_values(":me", s(&holder))
            .expression_attribute_values(":current", s(&current))
            .send()
            .await;
        match renewed {
            Ok(_) => {
                wrote();
                if let (Ok(mut v), Ok(mut r)) = (lease.version.lock(), lease.renewed.lock()) {
                    *v = next;
                    *r = sent;
                }
            }
            Err(e) if conditional_failed(&e) => {
                let taker = read(&client, &prefix).await.ok().flatten().map(|h| h.owner);
                if let Ok(mut t) = lease.taker.lock() {
                    *t = taker;
                }
                lease.lost.store(true, Ordering::SeqCst);
                return;
            }
            // AWS out of reach: the next beat tries again; the fence counts the silence.
            Err(_) => {}
        }
    }
}

/// The fence of a held lock, for the steps of its run that write.
#[derive(Clone)]
pub struct Fence {
    prefix: String,
    lease: Arc<Lease>,
}

impl Fence {
    /// Before a step that writes: an error when this run may no longer hold the lock (taken
    /// over, or not renewed for FENCE: a waiter may be about to take it).
    pub fn check(&self, step: &str) -> Result<()> {
        let silent = self.lease.renewed.lock().map_or(FENCE, |r| r.elapsed());
        let lost = self.lease.lost.load(Ordering::SeqCst);
        if !lost && silent < FENCE {
            return Ok(());
        }
        let why = match self.lease.taker.lock().ok().and_then(|t| t.clone()) {
            Some(taker) if lost => format!("{taker} took it over"),
            _ if lost => "another run took it over".to_string(),
            _ => format!(
                "it was not renewed for {} s (AWS out of reach, or this run stalled)",
                silent.as_secs()
            ),
        };
        Err(Error::failed(format!(
            "lost the deploy lock of prefix {} before {step}: {why}; stopped before changing \
             anything more. Run the command again",
            self.prefix
        )))
    }
}

impl Lock {
    pub fn fence(&self) -> Fence {
        Fence { prefix: self.prefix.clone(), lease: self.lease.clone() }
    }

    /// Stops the heartbeat and deletes the item if it is still this run's.
    pub async fn release(self) {
        self.heartbeat.abort();
        let deleted = self
            .client
            .delete_item()
            .table_name(TABLE)
            .key(KEY, s(&self.prefix))
            .condition_expression("#h = :me")
            .expression_attribute_names("#h", "holder")
            .expression_attribute_values(":me", s(&self.holder))
            .send()
            .await;
        match deleted {
            Ok(_) => wrote(),
            Err(e) if conditional_failed(&e) => {} // taken over: not ours to delete
            Err(e) => crate::note(format!(
                "could not release the deploy lock (the next run takes it over after {} s): {}",
                LEASE.as_secs(),
                failed("releasing", e)
            )),
        }
    }
}

/// This machine's name, for the lock's owner text (read by people waiting on the lock).
fn host_name() -> String {
    std::process::Command::new("hostname")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().chars().filter(|c| !c.is_control()).take(200).collect::<String>())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown-host".to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_differ() {
        let ids: std::collections::HashSet<String> =
            (0..1000).map(|_| super::random_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|id| id.len() == 32));
    }
}
