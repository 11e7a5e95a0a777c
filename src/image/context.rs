//! The build context: a tar stream with the app's checkout under `app/` (filtered by its root
//! `.dockerignore`, never `.git`) and aws-app's own build files under `aws-app/`. Modes are
//! git's: 0755 for directories and executables, 0644 for other files, whatever the operator's
//! umask did to the checkout (a 0600 app.py would be unreadable to the image's non-root user).
//! Every entry carries the commit time as mtime and uid/gid 0. The stream is written on a blocking thread
//! and handed to Docker chunk by chunk; nothing is staged on disk.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::dockerignore::DockerIgnore;

/// Directory of the checkout inside the context.
pub const APP_DIR: &str = "app";
/// Directory of aws-app's own files (Dockerfile, gunicorn config) inside the context.
pub const TOOL_DIR: &str = "aws-app";

/// A file aws-app adds to the context.
pub struct ExtraFile {
    pub path: &'static str,
    pub contents: &'static [u8],
    pub mode: u32,
}

/// The files of `docker/` that every build gets, compiled into the binary.
pub const BUILD_FILES: &[ExtraFile] = &[
    ExtraFile {
        path: "aws-app/Dockerfile",
        contents: include_bytes!("../../docker/Dockerfile"),
        mode: 0o644,
    },
    ExtraFile {
        path: "aws-app/gunicorn.conf.py",
        contents: include_bytes!("../../docker/gunicorn.conf.py"),
        mode: 0o644,
    },
    ExtraFile {
        path: "aws-app/lock.py",
        contents: include_bytes!("../../docker/lock.py"),
        mode: 0o644,
    },
];

/// Writes the whole context as an uncompressed tar to `out`.
pub fn write_context(
    checkout: &Path,
    extra: &[ExtraFile],
    mtime: u64,
    out: impl Write,
) -> io::Result<()> {
    let ignore = match read_app_file(checkout, ".dockerignore")? {
        Some(text) => {
            DockerIgnore::parse(&text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
        }
        None => DockerIgnore::default(),
    };
    let mut tar = tar::Builder::new(out);
    tar.mode(tar::HeaderMode::Deterministic);
    tar.follow_symlinks(false);
    append_dir_entry(&mut tar, APP_DIR, 0o755, mtime)?;
    walk(&mut tar, checkout, "", &ignore, mtime)?;
    append_dir_entry(&mut tar, TOOL_DIR, 0o755, mtime)?;
    for file in extra {
        let mut header = header(tar::EntryType::Regular, file.mode, mtime);
        header.set_size(file.contents.len() as u64);
        tar.append_data(&mut header, file.path, file.contents)?;
    }
    tar.into_inner()?.flush()
}

/// The most aws-app reads of a file of the app's that it interprets (.dockerignore,
/// requirements.txt): real ones are a few KiB.
pub const APP_FILE_LIMIT: u64 = 1 << 20;

/// A file of the app's repository that aws-app itself reads, `None` when absent. The repository
/// is not trusted: only a regular file (never a symbolic link, which could point at /dev/zero
/// or at a file of the operator's that an error would then echo) of at most APP_FILE_LIMIT.
pub fn read_app_file(checkout: &Path, name: &str) -> io::Result<Option<String>> {
    let path = checkout.join(name);
    let meta = match fs::symlink_metadata(&path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let refuse = |why: String| Err(io::Error::new(io::ErrorKind::InvalidData, why));
    if !meta.is_file() {
        return refuse(format!(
            "the app's {name} is not a regular file (a symbolic link, say): aws-app reads only a \
             regular {name}; commit the file itself"
        ));
    }
    if meta.len() > APP_FILE_LIMIT {
        return refuse(format!(
            "the app's {name} is {} bytes: aws-app reads at most {APP_FILE_LIMIT}",
            meta.len()
        ));
    }
    let mut text = String::new();
    io::Read::read_to_string(
        &mut io::Read::take(fs::File::open(&path)?, APP_FILE_LIMIT),
        &mut text,
    )
    .map_err(|_| {
        io::Error::new(io::ErrorKind::InvalidData, format!("the app's {name} is not UTF-8 text"))
    })?;
    Ok(Some(text))
}

fn header(kind: tar::EntryType, mode: u32, mtime: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode & 0o7777);
    header.set_mtime(mtime);
    header.set_uid(0);
    header.set_gid(0);
    header.set_size(0);
    header
}

fn append_dir_entry<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    mode: u32,
    mtime: u64,
) -> io::Result<()> {
    let mut header = header(tar::EntryType::Directory, mode, mtime);
    tar.append_data(&mut header, format!("{path}/"), io::empty())
}

/// Appends the entries under `dir` (`rel` is its path from the checkout root, "" for the root).
fn walk<W: Write>(
    tar: &mut tar::Builder<W>,
    dir: &Path,
    rel: &str,
    ignore: &DockerIgnore,
    mtime: u64,
) -> io::Result<()> {
    let mut entries = fs::read_dir(dir)?.collect::<io::Result<Vec<_>>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("file name is not UTF-8: {}", entry.path().display()),
            ));
        };
        // Git metadata is never part of an image, whatever .dockerignore says.
        if name == ".git" {
            continue;
        }
        let path = if rel.is_empty() { name.to_string() } else { format!("{rel}/{name}") };
        let excluded = ignore.is_excluded(&path);
        let meta = fs::symlink_metadata(entry.path())?;
        let executable = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 != 0;
        let mode = if meta.is_dir() || executable { 0o755 } else { 0o644 };
        let target = format!("{APP_DIR}/{path}");
        if meta.is_dir() {
            if !excluded {
                append_dir_entry(tar, &target, mode, mtime)?;
            }
            // Inside an excluded directory only a `!` pattern can bring files back.
            if !excluded || ignore.may_reinclude_below(&path) {
                walk(tar, &entry.path(), &path, ignore, mtime)?;
            }
        } else if excluded {
            continue;
        } else if meta.file_type().is_symlink() {
            let mut header = header(tar::EntryType::Symlink, 0o777, mtime);
            tar.append_link(&mut header, &target, fs::read_link(entry.path())?)?;
        } else if meta.is_file() {
            let mut header = header(tar::EntryType::Regular, mode, mtime);
            header.set_size(meta.len());
            tar.append_data(&mut header, &target, fs::File::open(entry.path())?)?;
        }
        // Sockets, fifos and devices have no place in an image context: skipped.
    }
    Ok(())
}

/// A `Write` that hands fixed-size chunks to an async receiver (the HTTP body of the build).
pub struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 256 * 1024;

impl ChannelWriter {
    pub fn new(tx: mpsc::Sender<io::Result<Bytes>>) -> Self {
        ChannelWriter { tx, buf: Vec::with_capacity(CHUNK) }
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            io::Error::new(io::ErrorKind::BrokenPipe, "Docker stopped reading the build context")
        })
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
        fs::write(path, text).expect("write");
    }

    /// Path -> (mode, mtime, contents) of every entry of the context built from `root`.
    fn entries(root: &Path) -> BTreeMap<String, (u32, u64, String)> {
        let extra = [ExtraFile { path: "aws-app/Dockerfile", contents: b"FROM x\n", mode: 0o644 }];
        let mut out = Vec::new();
        write_context(root, &extra, 1_637_000_000, &mut out).expect("context");
        let mut archive = tar::Archive::new(out.as_slice());
        let mut found = BTreeMap::new();
        for entry in archive.entries().expect("entries") {
            let mut entry = entry.expect("entry");
            let path = entry.path().expect("path").to_string_lossy().into_owned();
            let header = entry.header().clone();
            let mut text = String::new();
            entry.read_to_string(&mut text).expect("read");
            found
                .insert(path, (header.mode().expect("mode"), header.mtime().expect("mtime"), text));
        }
        found
    }

    #[test]
    fn context_follows_dockerignore_and_keeps_modes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        write(root, "app.py", "print('hi')\n");
        write(root, "requirements.txt", "flask==2.0.2\n");
        write(root, "run.sh", "#!/bin/sh\n");
        // As a checkout under umask 077 leaves them: modes are normalised to git's.
        fs::set_permissions(root.join("run.sh"), fs::Permissions::from_mode(0o700)).expect("chmod");
        fs::set_permissions(root.join("app.py"), fs::Permissions::from_mode(0o600)).expect("chmod");
        write(root, ".git/HEAD", "ref: refs/heads/master\n");
        write(root, "notes.md", "x");
        write(root, "README.md", "x");
        write(root, "docs/guide.md", "x");
        write(root, "build/out.bin", "x");
        write(root, "build/keep.txt", "keep");
        write(root, "pkg/secret.env", "x");
        write(root, "secret.env", "x");
        write(root, "pkg/mod.pyc", "x");
        write(root, "mod.pyc", "x");
        write(
            root,
            ".dockerignore",
            "# root-only, anchored, last match wins\n*.md\n!README.md\nbuild\n!build/keep.txt\n\
             secret.env\n**/*.pyc\n.git\n!.git/HEAD\n",
        );

        let found = entries(root);
        let paths: Vec<&str> = found.keys().map(String::as_str).collect();
        assert_eq!(
            paths,
            [
                "app/",
                "app/.dockerignore",
                "app/README.md",
                "app/app.py",
                "app/build/keep.txt",
                "app/docs/",
                "app/docs/guide.md",
                "app/pkg/",
                "app/pkg/secret.env",
                "app/requirements.txt",
                "app/run.sh",
                "aws-app/",
                "aws-app/Dockerfile",
            ],
            "*.md is anchored to the root, so docs/guide.md stays; .git never goes"
        );
        assert_eq!(found["app/run.sh"].0, 0o755, "the execute bit is kept");
        assert_eq!(found["app/app.py"].0, 0o644, "readable by the image's non-root user");
        assert_eq!(found["app/docs/"].0, 0o755);
        assert_eq!(found["app/build/keep.txt"].2, "keep");
        assert!(found.values().all(|(_, mtime, _)| *mtime == 1_637_000_000));
    }

    #[test]
    fn a_dockerignore_that_is_a_link_or_huge_is_refused_unread() {
        let dir = tempfile::tempdir().expect("tempdir");
        let secret = dir.path().join("operator-secret");
        fs::write(&secret, "aws_secret_access_key = hunter2\n").expect("write");
        let app = dir.path().join("app");
        fs::create_dir(&app).expect("mkdir");
        std::os::unix::fs::symlink(&secret, app.join(".dockerignore")).expect("link");
        let err = write_context(&app, &[], 0, io::sink()).expect_err("a link is refused");
        assert!(err.to_string().contains("not a regular file"), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        fs::remove_file(app.join(".dockerignore")).expect("rm");
        std::os::unix::fs::symlink("/dev/zero", app.join(".dockerignore")).expect("link");
        assert!(write_context(&app, &[], 0, io::sink()).is_err());
        fs::remove_file(app.join(".dockerignore")).expect("rm");
        fs::write(app.join(".dockerignore"), "#".repeat(APP_FILE_LIMIT as usize + 1)).expect("w");
        let err = write_context(&app, &[], 0, io::sink()).expect_err("too big");
        assert!(err.to_string().contains("reads at most"), "{err}");
        assert_eq!(read_app_file(&app, "absent").expect("absent"), None);
    }

    #[test]
    fn an_invalid_dockerignore_fails_the_context() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "app.py", "x");
        write(dir.path(), ".dockerignore", "!\n");
        let err = write_context(dir.path(), &[], 0, Vec::new()).expect_err("invalid");
        assert!(err.to_string().contains(".dockerignore line 1"), "{err}");
    }

    #[test]
    fn no_dockerignore_sends_everything_but_git() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "app.py", "x");
        write(dir.path(), ".git/config", "x");
        write(dir.path(), "sub/.git/config", "x");
        let found = entries(dir.path());
        assert!(found.contains_key("app/app.py"));
        assert!(!found.keys().any(|p| p.contains(".git")), "{found:?}");
    }
}
