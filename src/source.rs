//! The app's source, through git2: resolve the branch HEAD with a remote listing, then fetch
//! the branch (shallow where the transport allows) into a temporary directory and check it
//! out, and find when its requirements.txt last changed (the dependency lock's cut-off for apps
//! that pin nothing; deepening a shallow fetch only as far as that needs). git2 is blocking: every call runs on tokio's blocking pool, never on the async workers,
//! bounded by a deadline. This module never writes outside its own temporary directory.

use std::path::Path;
use std::time::Duration;

use git2::{
    Cred, CredentialType, Direction, ErrorClass, ErrorCode, FetchOptions, Oid, ProxyOptions,
    Remote, RemoteCallbacks, Repository,
};
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
    /// Committer time of the newest commit (first-parent history) that changed
    /// `requirements.txt`; None when the commit has no such file.
    pub requirements_time: Option<i64>,
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
    let fetched =
        blocking(&spec.url, FETCH_DEADLINE, move || fetch_blocking(&task_spec, &path)).await?;
    Ok(Checkout {
        dir,
        commit: fetched.commit,
        commit_time: fetched.commit_time,
        requirements_time: fetched.requirements_time,
        url: spec.url.clone(),
        branch: spec.branch.clone(),
    })
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

/// A token for private repositories over https (with `AWS_APP_GIT_USER`, default
/// `x-access-token`, which GitHub and GitLab take with any token).
pub const TOKEN_ENV: &str = "AWS_APP_GIT_TOKEN";
pub const USER_ENV: &str = "AWS_APP_GIT_USER";

/// Answers a repository that asks for credentials (HTTP 401), each source once, in turn: the
/// user and password given in `--repo` (taken out of the URL by config.rs), the token in
/// `AWS_APP_GIT_TOKEN`, then git's credential helper (`credential.helper`: the macOS keychain,
/// git-credential-manager, `gh auth setup-git`). None left: an Auth error, said by
/// `unreachable` with the remedy. The URL libgit2 sees and prints never holds a secret.
fn credentials(spec: &SourceSpec) -> RemoteCallbacks<'static> {
    let login = spec.login.clone();
    let mut tried = 0;
    let mut callbacks = RemoteCallbacks::new();
    callbacks.credentials(move |url, user_from_url, allowed| {
        if !allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
            return Err(needs_credentials());
        }
        let user = login.as_ref().map(|l| l.user.clone()).filter(|u| !u.is_empty());
        loop {
            tried += 1;
            match tried {
                1 => {
                    if let Some(login) = login.as_ref().filter(|l| !l.secret.is_empty()) {
                        return Cred::userpass_plaintext(&login.user, &login.secret);
                    }
                }
                2 => {
                    if let Some(token) = std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty()) {
                        let user = std::env::var(USER_ENV)
                            .ok()
                            .filter(|u| !u.is_empty())
                            .or_else(|| user.clone())
                            .unwrap_or_else(|| "x-access-token".to_string());
                        return Cred::userpass_plaintext(&user, &token);
                    }
                }
                3 => {
                    if let Ok(config) = git2::Config::open_default()
                        && let Ok(cred) =
                            Cred::credential_helper(&config, url, user_from_url.or(user.as_deref()))
                    {
                        return Ok(cred);
                    }
                }
                _ => return Err(needs_credentials()),
            }
        }
    });
    callbacks
}

fn needs_credentials() -> git2::Error {
    git2::Error::new(ErrorCode::Auth, ErrorClass::Http, "credentials missing or refused")
}

fn unreachable(spec: &SourceSpec, e: &git2::Error) -> Error {
    if e.code() == ErrorCode::Auth {
        return Error::input(format!(
            "the repository {} asks for credentials that were missing or refused: set \
             {TOKEN_ENV} to a token that may read it (and {USER_ENV} if your host needs the \
             user name), or configure a git credential helper",
            spec.url
        ));
    }
    Error::input(format!(
        "cannot read the repository {}: {}; check --repo and your network",
        spec.url,
        e.message().trim_end_matches('.')
    ))
}

fn head_of(remote: &mut Remote<'_>, spec: &SourceSpec) -> Result<Oid> {
    let connection = remote
        .connect_auth(Direction::Fetch, Some(credentials(spec)), Some(proxy()))
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

/// What `fetch_blocking` checked out.
struct Fetched {
    commit: String,
    commit_time: i64,
    requirements_time: Option<i64>,
}

/// Depths of the shallow fetches over http(s): the branch HEAD with some history first (enough
/// to see when requirements.txt last changed in most apps), deeper only when that needs it;
/// `i32::MAX` is libgit2's "unshallow": the whole history.
const DEPTHS: [i32; 3] = [16, 512, i32::MAX];

/// The file whose last change dates the dependency lock.
const REQUIREMENTS: &str = "requirements.txt";

/// Fetches the branch into a new repository at `dir` and checks it out; the commit, its time,
/// and when requirements.txt last changed.
fn fetch_blocking(spec: &SourceSpec, dir: &Path) -> Result<Fetched> {
    // Once the remote answered, a failure is the work failing (exit 1), not bad input.
    let git_failed = |what: &str, e: git2::Error| {
        Error::failed(format!("{what} {} failed: {}", spec.url, e.message()))
    };
    let repo = Repository::init(dir).map_err(|e| git_failed("init for", e))?;
    let mut remote = repo.remote_anonymous(&spec.url).map_err(|e| unreachable(spec, &e))?;
    let head = head_of(&mut remote, spec)?;

    let refspec = format!("+refs/heads/{0}:refs/remotes/origin/{0}", spec.branch);
    // Smart transports fetch a shallow history; libgit2's local transport has no shallow
    // support and a local clone costs no network anyway.
    let shallow = spec.url.starts_with("https://") || spec.url.starts_with("http://");
    let fetch = |depth: Option<i32>| {
        let mut options = FetchOptions::new();
        options.download_tags(git2::AutotagOption::None);
        options.proxy_options(proxy());
        options.remote_callbacks(credentials(spec));
        if let Some(depth) = depth {
            options.depth(depth);
        }
        let mut remote = repo.remote_anonymous(&spec.url).map_err(|e| unreachable(spec, &e))?;
        remote.fetch(&[&refspec], Some(&mut options), None).map_err(|e| match e.code() {
            ErrorCode::Auth => unreachable(spec, &e),
            _ => git_failed("fetch from", e),
        })
    };
    fetch(shallow.then_some(DEPTHS[0]))?;

    let fetched = repo
        .find_reference(&format!("refs/remotes/origin/{}", spec.branch))
        .and_then(|r| r.peel_to_commit())
        .map_err(|e| git_failed("fetch of", e))?;
    if fetched.id() != head {
        // The branch moved between the listing and the fetch: build what was fetched.
        crate::note(format!("{} moved to {} while fetching; using it", spec.branch, fetched.id()));
    }
    let mut checkout = git2::build::CheckoutBuilder::new();
    checkout.force();
    repo.checkout_tree(fetched.as_object(), Some(&mut checkout))
        .map_err(|e| git_failed("checkout of", e))?;

    let mut depths = DEPTHS.iter().peekable();
    let requirements_time = loop {
        // Opened anew: a Repository keeps the shallow boundary it read when it was opened.
        let fresh = Repository::open(dir).map_err(|e| git_failed("reading the fetch of", e))?;
        let fetched_depth = depths.next();
        match last_change(&fresh, fetched.id(), REQUIREMENTS) {
            Ok(found) => break found,
            // The history ends at a shallow boundary before the change: fetch deeper, when the
            // transport can (a shallow local clone cannot be deepened: libgit2's local transport
            // has no shallow support).
            Err(Boundary) => match (shallow, fetched_depth, depths.peek()) {
                (true, Some(had), Some(&&depth)) => {
                    crate::note(format!(
                        "{REQUIREMENTS} last changed before the {had} commits fetched: fetching {}",
                        if depth == i32::MAX {
                            "the whole history".to_string()
                        } else {
                            format!("{depth}")
                        }
                    ));
                    fetch(Some(depth))?;
                }
                _ => {
                    crate::note(format!(
                        "the history of {} is cut short before {REQUIREMENTS} last changed: \
                         dependencies of an app without pins resolve as of the build",
                        spec.url
                    ));
                    break None;
                }
            },
        }
    };
    Ok(Fetched {
        commit: fetched.id().to_string(),
        commit_time: fetched.time().seconds(),
        requirements_time,
    })
}

/// The walk reached a commit whose parent was not fetched.
struct Boundary;

/// Committer time of the newest first-parent commit from `from` whose `path` differs from its
/// parent's (a root commit that has it counts as a change). None when `from` has no such file.
fn last_change(
    repo: &Repository,
    from: Oid,
    path: &str,
) -> std::result::Result<Option<i64>, Boundary> {
    let blob_of = |commit: &git2::Commit<'_>| {
        commit.tree().ok().and_then(|t| t.get_path(Path::new(path)).ok()).map(|e| e.id())
    };
    // A shallow fetch's oldest commits look like roots (or lack their parents): git lists them.
    let shallow: Vec<Oid> = std::fs::read_to_string(repo.path().join("shallow"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| Oid::from_str(l.trim()).ok())
        .collect();
    let Ok(mut commit) = repo.find_commit(from) else {
        return Ok(None);
    };
    let Some(mut blob) = blob_of(&commit) else {
        return Ok(None);
    };
    loop {
        if shallow.contains(&commit.id()) {
            return Err(Boundary);
        }
        if commit.parent_count() == 0 {
            return Ok(Some(commit.time().seconds()));
        }
        let Ok(parent) = commit.parent(0) else {
            return Err(Boundary);
        };
        let before = blob_of(&parent);
        if before != Some(blob) {
            return Ok(Some(commit.time().seconds()));
        }
        blob = before.unwrap_or(blob);
        commit = parent;
    }
}
