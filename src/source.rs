//! The app's source, through git2: resolve the branch HEAD with a remote listing, then fetch
//! that one commit (shallow where the transport allows) into a temporary directory and check it
//! out. git2 is blocking: every call runs on tokio's blocking pool, never on the async workers,
//! bounded by a deadline. This module never writes outside its own temporary directory.

use std::path::Path;
use std::time::Duration;

use git2::{Direction, FetchOptions, Oid, ProxyOptions, Remote, Repository};
use tempfile::TempDir;

use crate::config::SourceSpec;
use crate::error::{Error, Result};

/// How long listing the remote's refs and fetching one commit may take.
const FETCH_DEADLINE: Duration = Duration::from_secs(600);

/// A checked-out commit. The directory is removed when this is dropped.
#[derive(Debug)]
pub struct Checkout {
    pub dir: TempDir,
    pub commit: String,
    /// Committer time, seconds since the Unix epoch.
    pub commit_time: i64,
    pub url: String,
    pub branch: String,
}

impl Checkout {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn short(&self) -> &str {
        &self.commit[..12.min(self.commit.len())]
    }
}

/// The commit the branch points to on the remote: a listing only, nothing is fetched.
pub async fn resolve_head(spec: &SourceSpec) -> Result<String> {
    let task_spec = spec.clone();
    blocking(&spec.url, FETCH_DEADLINE, move || {
        let mut remote = Remote::create_detached(task_spec.url.as_str())
            .map_err(|e| unreachable(&task_spec, &e))?;
        head_of(&mut remote, &task_spec).map(|oid| oid.to_string())
    })
    .await
}

/// Fetches the branch HEAD into a new temporary directory and checks it out. The directory is
/// owned here, on the async side, so it goes away even when the caller stops waiting.
pub async fn fetch(spec: &SourceSpec) -> Result<Checkout> {
    let dir = tempfile::Builder::new()
        .prefix("aws-app-src-")
        .tempdir()
        .map_err(|e| Error::failed(format!("cannot create a temporary directory: {e}")))?;
    let path = dir.path().to_path_buf();
    let task_spec = spec.clone();
    let (commit, commit_time) =
        blocking(&spec.url, FETCH_DEADLINE, move || fetch_blocking(&task_spec, &path)).await?;
    Ok(Checkout { dir, commit, commit_time, url: spec.url.clone(), branch: spec.branch.clone() })
}

/// Runs git2 work on the blocking pool with a deadline (libgit2 itself waits forever on a
/// stalled server).
async fn blocking<T: Send + 'static>(
    url: &str,
    deadline: Duration,
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    match tokio::time::timeout(deadline, tokio::task::spawn_blocking(work)).await {
        Ok(Ok(result)) => result,
        Ok(Err(e)) => Err(Error::failed(format!("git worker stopped: {e}"))),
        Err(_) => Err(Error::failed(format!(
            "no answer from {url} within {} s; check the network and --repo",
            deadline.as_secs()
        ))),
    }
}

/// Proxy settings as git's own: `http.proxy`, else HTTPS_PROXY/HTTP_PROXY (libgit2 looks for
/// them only when asked to).
fn proxy() -> ProxyOptions<'static> {
    let mut proxy = ProxyOptions::new();
    proxy.auto();
    proxy
}

fn unreachable(spec: &SourceSpec, e: &git2::Error) -> Error {
    Error::input(format!(
        "cannot read the repository {}: {}; check --repo and your network",
        spec.url,
        e.message().trim_end_matches('.')
    ))
}

fn head_of(remote: &mut Remote<'_>, spec: &SourceSpec) -> Result<Oid> {
    let connection = remote
        .connect_auth(Direction::Fetch, None, Some(proxy()))
        .map_err(|e| unreachable(spec, &e))?;
    let heads = connection.list().map_err(|e| unreachable(spec, &e))?;
    let wanted = format!("refs/heads/{}", spec.branch);
    if let Some(head) = heads.iter().find(|h| h.name() == wanted) {
        return Ok(head.oid());
    }
    let branches: Vec<&str> =
        heads.iter().filter_map(|h| h.name().strip_prefix("refs/heads/")).collect();
    let listing = if branches.is_empty() { "none".to_string() } else { branches.join(", ") };
    Err(Error::input(format!(
        "branch '{}' not found in {}; its branches: {listing} (set --branch)",
        spec.branch, spec.url
    )))
}

/// Fetches the branch into a new repository at `dir` and checks it out; the commit and its time.
fn fetch_blocking(spec: &SourceSpec, dir: &Path) -> Result<(String, i64)> {
    // Once the remote answered, a failure is the work failing (exit 1), not bad input.
    let git_failed = |what: &str, e: git2::Error| {
        Error::failed(format!("{what} {} failed: {}", spec.url, e.message()))
    };
    let repo = Repository::init(dir).map_err(|e| git_failed("init for", e))?;
    let mut remote = repo.remote_anonymous(&spec.url).map_err(|e| unreachable(spec, &e))?;
    let head = head_of(&mut remote, spec)?;

    let refspec = format!("+refs/heads/{0}:refs/remotes/origin/{0}", spec.branch);
    let mut options = FetchOptions::new();
    options.download_tags(git2::AutotagOption::None);
    options.proxy_options(proxy());
    // Smart transports fetch one commit; libgit2's local transport has no shallow support and a
    // local clone costs no network anyway.
    if spec.url.starts_with("https://") || spec.url.starts_with("http://") {
        options.depth(1);
    }
    remote.fetch(&[&refspec], Some(&mut options), None).map_err(|e| git_failed("fetch from", e))?;

    let fetched = repo
        .find_reference(&format!("refs/remotes/origin/{}", spec.branch))
        .and_then(|r| r.peel_to_commit())
        .map_err(|e| git_failed("fetch of", e))?;
    if fetched.id() != head {
        // The branch moved between the listing and the fetch: build what was fetched.
        crate::say(format!("{} moved to {} while fetching; using it", spec.branch, fetched.id()));
    }
    let mut checkout = git2::build::CheckoutBuilder::new();
    checkout.force();
    repo.checkout_tree(fetched.as_object(), Some(&mut checkout))
        .map_err(|e| git_failed("checkout of", e))?;
    Ok((fetched.id().to_string(), fetched.time().seconds()))
}
