//! The app's source, through git2: resolve the branch HEAD with a remote listing, then fetch
//! that one commit (shallow where the transport allows) into a temporary directory and check it
//! out. git2 is blocking: every call runs on tokio's blocking pool, never on the async workers.
//! This module never writes outside its own temporary directory.

use std::path::Path;

use git2::{Direction, FetchOptions, Oid, Remote, Repository};
use tempfile::TempDir;

use crate::config::SourceSpec;
use crate::error::{Error, Result};

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

/// The commit the branch points to on the remote, without fetching anything.
pub async fn resolve_head(spec: &SourceSpec) -> Result<String> {
    let spec = spec.clone();
    blocking(move || {
        let mut remote =
            Remote::create_detached(spec.url.as_str()).map_err(|e| unreachable(&spec, &e))?;
        head_of(&mut remote, &spec).map(|oid| oid.to_string())
    })
    .await
}

/// Fetches the branch HEAD into a new temporary directory and checks it out.
pub async fn fetch(spec: &SourceSpec) -> Result<Checkout> {
    let spec = spec.clone();
    blocking(move || fetch_blocking(&spec)).await
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::failed(format!("git worker stopped: {e}")))?
}

fn unreachable(spec: &SourceSpec, e: &git2::Error) -> Error {
    Error::input(format!(
        "cannot read the repository {}: {}; check --repo and your network",
        spec.url,
        e.message().trim_end_matches('.')
    ))
}

fn head_of(remote: &mut Remote<'_>, spec: &SourceSpec) -> Result<Oid> {
    let connection =
        remote.connect_auth(Direction::Fetch, None, None).map_err(|e| unreachable(spec, &e))?;
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

fn fetch_blocking(spec: &SourceSpec) -> Result<Checkout> {
    let dir = tempfile::Builder::new()
        .prefix("aws-app-src-")
        .tempdir()
        .map_err(|e| Error::failed(format!("cannot create a temporary directory: {e}")))?;
    let git_failed = |what: &str, e: git2::Error| {
        Error::failed(format!("{what} {} failed: {}", spec.url, e.message()))
    };
    let repo = Repository::init(dir.path()).map_err(|e| git_failed("init for", e))?;
    let mut remote = repo.remote_anonymous(&spec.url).map_err(|e| unreachable(spec, &e))?;
    let head = head_of(&mut remote, spec)?;

    let refspec = format!("+refs/heads/{0}:refs/remotes/origin/{0}", spec.branch);
    let mut options = FetchOptions::new();
    options.download_tags(git2::AutotagOption::None);
    // Smart transports fetch one commit; libgit2's local transport has no shallow support and a
    // local clone costs no network anyway.
    let shallow = spec.url.starts_with("https://") || spec.url.starts_with("http://");
    if shallow {
        options.depth(1);
    }
    remote.fetch(&[&refspec], Some(&mut options), None).map_err(|e| unreachable(spec, &e))?;

    let fetched = repo
        .find_reference(&format!("refs/remotes/origin/{}", spec.branch))
        .and_then(|r| r.peel_to_commit())
        .map_err(|e| git_failed("fetch of", e))?;
    if fetched.id() != head {
        // The branch moved between the listing and the fetch: build what was fetched.
        eprintln!("aws-app: {} moved to {} while fetching; using it", spec.branch, fetched.id());
    }
    let mut checkout = git2::build::CheckoutBuilder::new();
    checkout.force();
    repo.checkout_tree(fetched.as_object(), Some(&mut checkout))
        .map_err(|e| git_failed("checkout of", e))?;

    Ok(Checkout {
        commit: fetched.id().to_string(),
        commit_time: fetched.time().seconds(),
        url: spec.url.clone(),
        branch: spec.branch.clone(),
        dir,
    })
}
