//! Raw command-line input becomes checked settings here, before any I/O that matters: the
//! prefix and every name derived from it, the repository URL, the branch name. All AWS and Docker
//! names come from `Names`, so their rules and length limits are checked in one place.

use std::time::Duration;

use crate::cli::{Cli, Command};
use crate::error::{Error, Result};

/// What one run of the tool does, with its checked settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub source: SourceSpec,
    pub prefix: String,
    pub names: Names,
    pub base_image: String,
    pub expect: Option<String>,
    pub json: bool,
    /// `--verbose`: the build's whole output on a terminal too.
    pub verbose: bool,
    pub region: Option<String>,
    pub task: TaskSize,
    /// Images the ECR lifecycle policy keeps, deployed ones and others each (2-1000).
    pub keep_images: u32,
    /// The app's name for tags: the repository's last path segment.
    pub app: String,
    /// Where deploy builds, and who may reach an EC2 builder (`a.b.c.d/n`).
    pub builder: crate::cli::Builder,
    pub builder_cidr: Option<String>,
    /// `--adopt`: resources of the prefix's names without its tags are taken over.
    pub adopt: bool,
    /// `--replace-app`: a prefix that runs another app source gets this one.
    pub replace_app: bool,
    /// `--env-file` and `--env`: the app container's variables, sorted by name.
    pub environment: Vec<(String, String)>,
    /// `--secret`: the app container's variables read from SSM or Secrets Manager, as
    /// `(variable, reference as given)`, sorted by variable (`aws::secrets` resolves them).
    pub secrets: Vec<(String, String)>,
    /// `--domain`: the name the app is served on over HTTPS (lowercase, no trailing dot).
    pub domain: Option<String>,
}

/// Fargate task size and count, checked against Fargate's valid combinations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskSize {
    pub cpu: u32,
    pub memory: u32,
    /// The tasks the service runs; with `scaling`, the count a new service starts at.
    pub count: u32,
    /// `--min`/`--max`: Application Auto Scaling sets the count within this range.
    pub scaling: Option<Range>,
}

/// The range of tasks autoscaling keeps the service in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub min: u32,
    pub max: u32,
}

/// The most tasks one service runs by aws-app (`--count`, `--max`).
const MAX_TASKS: u32 = 100;

impl TaskSize {
    fn new(
        cpu: u32,
        memory: u32,
        count: Option<u32>,
        min: Option<u32>,
        max: Option<u32>,
    ) -> Result<TaskSize> {
        let memory_range = match cpu {
            256 => 512..=2048,
            512 => 1024..=4096,
            1024 => 2048..=8192,
            2048 => 4096..=16384,
            4096 => 8192..=30720,
            _ => {
                return Err(Error::input(format!(
                    "--cpu {cpu} is not a Fargate size: use 256, 512, 1024, 2048 or 4096"
                )));
            }
        };
        let step_ok = if cpu == 256 {
            memory == 512 || memory.is_multiple_of(1024)
        } else {
            memory.is_multiple_of(1024)
        };
        if !memory_range.contains(&memory) || !step_ok {
            return Err(Error::input(format!(
                "--memory {memory} does not fit --cpu {cpu}: Fargate allows {}-{} MiB in steps of 1024{}",
                memory_range.start(),
                memory_range.end(),
                if cpu == 256 { " (or 512)" } else { "" }
            )));
        }
        let scaling = match (min, max) {
            (None, None) => None,
            (Some(_), None) | (None, Some(_)) => {
                return Err(Error::input(
                    "autoscaling needs both --min and --max (e.g. --min 1 --max 4); without \
                     either, --count tasks run",
                ));
            }
            (Some(min), Some(max)) => {
                if !(1..=MAX_TASKS).contains(&min) || !(1..=MAX_TASKS).contains(&max) {
                    return Err(Error::input(format!(
                        "--min {min} --max {max}: use 1 to {MAX_TASKS} tasks (at least one task \
                         serves the URL)"
                    )));
                }
                if min > max {
                    return Err(Error::input(format!(
                        "--min {min} is more than --max {max}: give the fewer tasks as --min"
                    )));
                }
                Some(Range { min, max })
            }
        };
        let count = count.unwrap_or(scaling.map_or(1, |r| r.min));
        if !(1..=MAX_TASKS).contains(&count) {
            return Err(Error::input(format!("--count {count}: use 1 to {MAX_TASKS} tasks")));
        }
        if let Some(range) = scaling
            && !(range.min..=range.max).contains(&count)
        {
            return Err(Error::input(format!(
                "--count {count} is outside --min {} --max {}: give a starting size within the \
                 range (or leave --count out to start at --min)",
                range.min, range.max
            )));
        }
        Ok(TaskSize { cpu, memory, count, scaling })
    }
}

/// Where the app comes from.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    /// The repository without any user-info: the only form shown, logged or stored (build
    /// args, labels, tags). Credentials travel in `login` alone.
    pub url: String,
    pub branch: String,
    /// A user and password (or token) given inside `--repo` (`https://user:TOKEN@host/...`).
    pub login: Option<Login>,
}

/// Credentials for the app's repository; never printed (Debug shows the user only).
#[derive(Clone)]
pub struct Login {
    pub user: String,
    pub secret: String,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Login {{ user: {:?}, secret: <redacted> }}", self.user)
    }
}

/// Splits the user-info off a URL (`scheme://user:secret@host/...`): the URL without it, and
/// the credentials (percent-decoded) when there was a secret. A user without a secret is kept
/// as a user name for the credential helper, but not in the URL either.
pub fn split_user_info(url: &str) -> (String, Option<Login>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_string(), None);
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let Some((info, host)) = authority.rsplit_once('@') else {
        return (url.to_string(), None);
    };
    let clean = format!("{scheme}://{host}{path}");
    let (user, secret) = match info.split_once(':') {
        Some((user, secret)) => (percent_decode(user), percent_decode(secret)),
        None => (percent_decode(info), String::new()),
    };
    (clean, Some(Login { user, secret }))
}

/// `--domain`: a DNS name ACM can issue a certificate for and Route 53 can hold, lowercased
/// and without a trailing dot: at least two labels of letters, digits and inner hyphens (each
/// 1-63 characters), 64 at most (ACM's limit); no wildcard (the app is one name).
pub fn domain(given: &str) -> Result<String> {
    let name = given.trim().trim_end_matches('.').to_ascii_lowercase();
    let bad = |why: &str| {
        Error::input(format!("--domain '{given}': {why} (give a name such as app.example.com)"))
    };
    // ACM: "The first domain name you enter cannot exceed 64 octets, including periods" (the
    // certificate's common name); DNS allows 253.
    if name.len() > 64 {
        return Err(bad("longer than 64 characters, the most ACM allows in a certificate's name"));
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() < 2 {
        return Err(bad("not a name in a domain"));
    }
    for label in &labels {
        let ok_chars =
            label.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if label.is_empty()
            || label.len() > 63
            || !ok_chars
            || label.starts_with('-')
            || label.ends_with('-')
        {
            return Err(bad(&format!(
                "'{label}' is not a DNS label (1-63 letters, digits and inner hyphens; no \
                 wildcard, no IDN: give its xn-- form)"
            )));
        }
    }
    if labels.last().is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit())) {
        return Err(bad("an IP address, not a name"));
    }
    Ok(name)
}

/// `%XX` sequences decoded (URL user-info, IAM's URL-encoded policy documents).
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) =
                (bytes.get(i + 1).and_then(|b| hex(*b)), bytes.get(i + 2).and_then(|b| hex(*b)))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Deploy { rebuild: bool },
    Plan { rebuild: bool },
    Build { run: bool, port: u16 },
    Redeploy { force: bool },
    Watch { interval: Duration },
    Status,
    Logs { follow: bool, since: Duration },
    Rollback { to: Option<String> },
    Destroy { yes: bool, local: bool },
}

/// Every name aws-app gives to something it creates. Derived from the prefix only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// Local image repository and ECR repository: `<prefix>-aws-app`.
    pub image_repo: String,
    /// The long-running local container of `build --run`.
    pub local_container: String,
    /// Label put on every container aws-app starts, with the prefix as value.
    pub label: &'static str,
    pub cluster: String,
    pub service: String,
    pub task_family: String,
    pub load_balancer: String,
    pub target_group: String,
    pub alb_security_group: String,
    pub task_security_group: String,
    pub execution_role: String,
    pub log_group: String,
    /// The EC2 builder's instance (Name tag), role, instance profile and security group.
    pub builder: String,
}

pub const PREFIX_RULE: &str =
    "a prefix is lowercase letters, digits and single hyphens, starting with a letter";

impl Names {
    pub fn new(prefix: &str) -> Result<Names> {
        check_prefix(prefix)?;
        let base = format!("{prefix}-aws-app");
        let names = Names {
            image_repo: base.clone(),
            local_container: format!("{base}-local"),
            label: "dev.aws-app.prefix",
            cluster: base.clone(),
            service: base.clone(),
            task_family: base.clone(),
            load_balancer: base.clone(),
            target_group: format!("{base}-tg"),
            alb_security_group: format!("{base}-alb"),
            task_security_group: format!("{base}-tasks"),
            execution_role: format!("{base}-task-execution"),
            log_group: format!("/aws-app/{prefix}"),
            builder: format!("{base}-builder"),
        };
        // The AWS limits the names must fit (ELBv2 names: 32; IAM role names: 64).
        let limits = [
            ("load balancer", &names.load_balancer, 32),
            ("target group", &names.target_group, 32),
            ("IAM role", &names.execution_role, 64),
        ];
        // The longest prefix every name has room for, to say in the error.
        let room = limits.iter().map(|(_, name, limit)| limit + prefix.len() - name.len()).min();
        for (what, name, limit) in limits {
            if name.len() > limit {
                return Err(Error::input(format!(
                    "prefix '{prefix}' is too long: the {what} name '{name}' would have {} \
                     characters and AWS allows {limit}; use a --prefix of at most {} characters",
                    name.len(),
                    room.unwrap_or(0)
                )));
            }
        }
        Ok(names)
    }
}

fn check_prefix(prefix: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(Error::input(format!("invalid prefix '{prefix}': {why}; {PREFIX_RULE} (set --prefix)")))
    };
    let Some(first) = prefix.chars().next() else {
        return bad("it is empty");
    };
    if !first.is_ascii_lowercase() {
        return bad("it does not start with a letter");
    }
    if let Some(c) =
        prefix.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return bad(&format!("'{c}' is not allowed"));
    }
    if prefix.ends_with('-') || prefix.contains("--") {
        return bad("hyphens must be single and inside the name");
    }
    // AWS reserves these starts: security group names `sg-…`, load balancer names `internal-…`
    // (every name is `<prefix>-…`).
    if prefix == "sg"
        || prefix.starts_with("sg-")
        || prefix == "internal"
        || prefix.starts_with("internal-")
    {
        return bad("AWS reserves names that start with it");
    }
    Ok(())
}

/// Where the prefix comes from when `--prefix`/`AWS_APP_PREFIX` are not set.
fn default_prefix() -> Option<String> {
    let from_git = git2::Config::open_default()
        .and_then(|c| c.get_string("user.name"))
        .ok()
        .and_then(|name| name.split_whitespace().next().map(str::to_string));
    from_git.or_else(|| std::env::var("USER").ok()).filter(|s| !s.trim().is_empty())
}

fn check_repo(url: &str) -> Result<()> {
    let url = url.trim();
    let supported = ["https://", "http://", "file://"];
    if supported.iter().any(|s| url.starts_with(s) && url.len() > s.len()) {
        return Ok(());
    }
    if url.starts_with('/') || url.starts_with('.') {
        return Ok(());
    }
    Err(Error::input(format!(
        "unsupported repository URL '{url}': use an https:// or file:// URL, or a local path (set --repo)"
    )))
}

/// `https://host/org/my-app.git` -> `my-app`: the tag value naming the app.
fn app_name(url: &str) -> String {
    let last = url.trim_end_matches('/').rsplit(['/', ':']).next().unwrap_or("app");
    let name: String = last
        .trim_end_matches(".git")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
        .take(128)
        .collect();
    if name.is_empty() { "app".to_string() } else { name }
}

fn check_branch(branch: &str) -> Result<()> {
    if !branch.is_empty() && git2::Reference::is_valid_name(&format!("refs/heads/{branch}")) {
        return Ok(());
    }
    Err(Error::input(format!("invalid branch name '{branch}' (set --branch)")))
}

/// An IPv4 CIDR narrower than the whole internet: the builder's Docker API is a root shell on it.
/// Returned in the form EC2 keeps (host bits cleared: `203.0.113.7/24` is `203.0.113.0/24`).
pub fn check_builder_cidr(cidr: &str) -> Result<String> {
    let bad = |why: &str| {
        Err(Error::input(format!(
            "invalid --builder-cidr '{cidr}': {why}; give the IPv4 range that may reach the \
             builder, e.g. 203.0.113.7/32"
        )))
    };
    let Some((ip, bits)) = cidr.trim().split_once('/') else {
        return bad("no /length");
    };
    let Ok(ip) = ip.parse::<std::net::Ipv4Addr>() else {
        return bad("not an IPv4 address");
    };
    match bits.parse::<u32>() {
        Ok(bits @ 8..=32) => {
            let mask = u32::MAX << (32 - bits);
            Ok(format!("{}/{bits}", std::net::Ipv4Addr::from(u32::from(ip) & mask)))
        }
        Ok(0..=7) => {
            bad("wider than /8 would open the builder's Docker API to much of the internet")
        }
        _ => bad("the length must be 8 to 32"),
    }
}

fn check_base_image(image: &str) -> Result<()> {
    if !image.is_empty() && !image.chars().any(char::is_whitespace) {
        return Ok(());
    }
    Err(Error::input(format!("invalid base image '{image}' (set --base-image)")))
}

impl Config {
    /// Checks the raw command line and returns what to do with which settings.
    pub fn from_cli(cli: Cli) -> Result<(Config, Action)> {
        let g = cli.global;
        let prefix = match g.prefix.or_else(default_prefix) {
            Some(p) => p.trim().to_lowercase(),
            None => {
                return Err(Error::input(
                    "no prefix: set --prefix or AWS_APP_PREFIX (no git user.name or $USER to derive it from)",
                ));
            }
        };
        let names = Names::new(&prefix)?;
        check_repo(&g.repo)?;
        check_branch(&g.branch)?;
        check_base_image(&g.base_image)?;
        if g.expect.as_deref() == Some("") {
            return Err(Error::input("--expect needs a non-empty text"));
        }
        let deploy = Command::Deploy { rebuild: false, dry_run: false };
        let action = match cli.command.unwrap_or(deploy) {
            Command::Deploy { rebuild, dry_run: false } => Action::Deploy { rebuild },
            Command::Deploy { rebuild, dry_run: true } | Command::Plan { rebuild } => {
                Action::Plan { rebuild }
            }
            Command::Build { run, port } => {
                if port == 0 {
                    return Err(Error::input("--port must be between 1 and 65535"));
                }
                Action::Build { run, port }
            }
            Command::Redeploy { force } => Action::Redeploy { force },
            Command::Watch { interval } => {
                Action::Watch { interval: duration(&interval, "--interval")? }
            }
            Command::Status => Action::Status,
            Command::Logs { follow, since } => {
                Action::Logs { follow, since: duration(&since, "--since")? }
            }
            Command::Rollback { to } => Action::Rollback { to },
            Command::Destroy { yes, local } => Action::Destroy { yes, local },
        };
        if let Some(region) = &g.region
            && (region.is_empty()
                || !region
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
        {
            return Err(Error::input(format!(
                "invalid --region '{region}': use a region name such as us-east-1"
            )));
        }
        let task = TaskSize::new(g.cpu, g.memory, g.count, g.min, g.max)?;
        // The lifecycle policy keeps this many deployed images: one would let the image
        // rollback returns to expire.
        if !(2..=1000).contains(&g.keep_images) {
            return Err(Error::input(format!(
                "--keep-images {}: keep 2 to 1000 images (the one that runs and the one rollback \
                 returns to)",
                g.keep_images
            )));
        }
        let builder_cidr = g.builder_cidr.as_deref().map(check_builder_cidr).transpose()?;
        let environment = environment(g.env_file.as_deref(), &g.env_vars)?;
        let secrets = secrets(&g.secrets, &environment)?;
        let domain = g.domain.as_deref().map(domain).transpose()?;
        let (repo_url, login) = split_user_info(g.repo.trim());
        let app = app_name(&repo_url);
        let config = Config {
            source: SourceSpec { url: repo_url, branch: g.branch, login },
            prefix,
            names,
            base_image: g.base_image,
            expect: g.expect,
            json: g.json,
            verbose: g.verbose,
            region: g.region,
            task,
            keep_images: g.keep_images,
            app,
            builder: g.builder,
            builder_cidr,
            adopt: g.adopt,
            replace_app: g.replace_app,
            environment,
            secrets,
            domain,
        };
        Ok((config, action))
    }
}

/// Variables aws-app sets itself: gunicorn binds `PORT`, and the load balancer, the health check
/// and the smoke test reach the app on 8000.
const RESERVED_VARIABLES: &[&str] = &["PORT"];

/// The most bytes of variables: a task definition is at most 64 KiB as JSON, and the rest of it
/// (labels, the build's record) needs room too.
const MAX_ENVIRONMENT_BYTES: usize = 32 * 1024;

/// The container's variables from `--env-file` (first) and `--env` (each overrides what came
/// before), sorted by name; exit 2 with the remedy for a malformed or reserved one.
pub fn environment(
    file: Option<&std::path::Path>,
    vars: &[String],
) -> Result<Vec<(String, String)>> {
    let mut found = std::collections::BTreeMap::new();
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::input(format!("cannot read --env-file {}: {e}", path.display())))?;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let line = line.strip_prefix("export ").map_or(line, str::trim_start);
            let what = format!("--env-file {} line {}", path.display(), n + 1);
            let (key, value) = variable(line, &what)?;
            found.insert(key, unquoted(value).to_string());
        }
    }
    for var in vars {
        let (key, value) = variable(var, "--env")?;
        found.insert(key, value.to_string());
    }
    let bytes: usize = found.iter().map(|(k, v)| k.len() + v.len()).sum();
    if bytes > MAX_ENVIRONMENT_BYTES {
        return Err(Error::input(format!(
            "the variables take {bytes} bytes, more than {MAX_ENVIRONMENT_BYTES} (a task \
             definition is at most 64 KiB): keep large configuration in a file of the app"
        )));
    }
    Ok(found.into_iter().collect())
}

/// `--secret`'s `KEY=REF` pairs, sorted by name: names as a variable's, references that read as
/// a parameter's or secret's, no name twice and none also a plain variable.
pub fn secrets(vars: &[String], environment: &[(String, String)]) -> Result<Vec<(String, String)>> {
    let mut found = std::collections::BTreeMap::new();
    for var in vars {
        let (key, reference) = variable(var, "--secret")?;
        let reference = reference.trim();
        if let Err(why) = crate::aws::secrets::Reference::parse(reference) {
            return Err(Error::input(format!("--secret {key}: {why}")));
        }
        if environment.iter().any(|(k, _)| *k == key) {
            return Err(Error::input(format!(
                "--secret {key}: {key} is also a plain variable (--env/--env-file): give it once"
            )));
        }
        if found.insert(key.clone(), reference.to_string()).is_some() {
            return Err(Error::input(format!("--secret {key} is given twice: give it once")));
        }
    }
    Ok(found.into_iter().collect())
}

/// `KEY=VALUE` with a name a shell and ECS take (letters, digits, `_`, not starting with a digit).
fn variable<'a>(text: &'a str, what: &str) -> Result<(String, &'a str)> {
    let Some((key, value)) = text.split_once('=') else {
        return Err(Error::input(format!("{what}: '{text}' is not KEY=VALUE")));
    };
    let key = key.trim();
    let named = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !named {
        return Err(Error::input(format!(
            "{what}: invalid variable name '{key}': use letters, digits and _, not starting \
             with a digit"
        )));
    }
    if RESERVED_VARIABLES.contains(&key) {
        return Err(Error::input(format!(
            "{what}: {key} is aws-app's (the app listens on 8000, where the load balancer and \
             the health check reach it): leave it out"
        )));
    }
    if value.contains('\0') {
        return Err(Error::input(format!("{what}: the value of {key} has a NUL character")));
    }
    Ok((key.to_string(), value))
}

/// A value of an env file without the quotes around it (`"a b"`, `'a b'`).
fn unquoted(value: &str) -> &str {
    let value = value.trim();
    for quote in ['"', '\''] {
        if let Some(inner) = value.strip_prefix(quote).and_then(|v| v.strip_suffix(quote)) {
            return inner;
        }
    }
    value
}

/// A duration as people write it (`30s`, `10m`, `2h`, `1d`, `1h30m`): more than zero and at
/// most ten years (CloudWatch's longest retention; FilterLogEvents' startTime must not go below
/// 0).
pub fn duration(text: &str, option: &str) -> Result<Duration> {
    const MAX: Duration = Duration::from_secs(3653 * 86_400);
    let text = text.trim();
    match humantime::parse_duration(text) {
        Ok(d) if d > MAX => Err(Error::input(format!(
            "{option} '{text}' is more than ten years (3653d): use a shorter time"
        ))),
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(Error::input(format!(
            "invalid {option} '{text}': use a number with s, m, h or d, e.g. 30s, 10m, 2h"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_come_from_the_file_then_the_options_sorted_and_checked() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("app.env");
        let text = "# config\n\nexport GREETING=\"Hello there\"\nWEB_CONCURRENCY=2\nEMPTY=\n";
        std::fs::write(&file, text).expect("write");
        let vars = ["WEB_CONCURRENCY=3".to_string(), "A_B=x=y".to_string()];
        let env = environment(Some(&file), &vars).expect("variables");
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            pairs,
            [("A_B", "x=y"), ("EMPTY", ""), ("GREETING", "Hello there"), ("WEB_CONCURRENCY", "3")]
        );
        for (bad, says) in [
            ("NOEQUALS", "is not KEY=VALUE"),
            ("1X=a", "invalid variable name '1X'"),
            ("A-B=a", "invalid variable name 'A-B'"),
            ("=a", "invalid variable name ''"),
            ("PORT=9000", "PORT is aws-app's"),
        ] {
            let err = environment(None, &[bad.to_string()]).expect_err(bad);
            assert_eq!(err.exit_code(), 2, "{bad}");
            assert!(err.message.contains(says), "{bad}: {}", err.message);
        }
        std::fs::write(&file, "OK=1\nnot a variable\n").expect("write");
        let err = environment(Some(&file), &[]).expect_err("line 2");
        assert!(err.message.contains("line 2"), "{}", err.message);
        let missing = environment(Some(&dir.path().join("none.env")), &[]).expect_err("missing");
        assert!(missing.message.starts_with("cannot read --env-file"), "{}", missing.message);
        let big = [format!("BIG={}", "x".repeat(MAX_ENVIRONMENT_BYTES))];
        assert!(environment(None, &big).expect_err("big").message.contains("64 KiB"));
        assert_eq!(environment(None, &[]).expect("none"), Vec::new());
    }

    #[test]
    fn secrets_are_named_like_variables_and_referenced_by_name_or_arn() {
        let env = [("GREETING".to_string(), "hi".to_string())];
        let given = ["TOKEN=prod/api:token", "DB=/prod/db"].map(str::to_string);
        let found = secrets(&given, &env).expect("secrets");
        let pairs: Vec<(&str, &str)> =
            found.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(pairs, [("DB", "/prod/db"), ("TOKEN", "prod/api:token")]);
        for (bad, says) in [
            ("GREETING=/x", "also a plain variable"),
            ("PORT=/x", "PORT is aws-app's"),
            ("1A=/x", "invalid variable name"),
            ("A=", "--secret A: the reference is empty"),
            ("A=arn:aws:s3:::b", "not the ARN"),
            ("NOREF", "is not KEY=VALUE"),
        ] {
            let err = secrets(&[bad.to_string()], &env).expect_err(bad);
            assert_eq!(err.exit_code(), 2, "{bad}");
            assert!(err.message.contains(says), "{bad}: {}", err.message);
        }
        let twice = ["A=/x", "A=/y"].map(str::to_string);
        assert!(secrets(&twice, &env).expect_err("twice").message.contains("given twice"));
    }

    #[test]
    fn durations_are_parsed_before_anything_runs() {
        let secs = |t: &str| duration(t, "--since").map(|d| d.as_secs());
        assert_eq!(secs("10m").ok(), Some(600));
        assert_eq!(secs("2h").ok(), Some(7200));
        assert_eq!(secs("30s").ok(), Some(30));
        assert_eq!(secs("1h30m").ok(), Some(5400));
        assert_eq!(secs("3653d").ok(), Some(3653 * 86_400));
        for bad in ["10", "0m", "m", "soon", "", "-5m"] {
            let err = secs(bad).expect_err(bad);
            assert_eq!(err.exit_code(), 2, "{bad}");
            assert!(err.message.starts_with("invalid --since"), "{bad}: {}", err.message);
        }
        for long in ["3654d", "18446744073709551615s"] {
            assert!(secs(long).expect_err(long).message.contains("more than ten years"), "{long}");
        }
        assert_eq!(secs("99999999999999999999999d").expect_err("overflow").exit_code(), 2);
    }

    #[test]
    fn a_builder_cidr_is_kept_as_ec2_keeps_it() {
        assert_eq!(check_builder_cidr("203.0.113.7/32").ok().as_deref(), Some("203.0.113.7/32"));
        assert_eq!(check_builder_cidr(" 203.0.113.7/24").ok().as_deref(), Some("203.0.113.0/24"));
        assert_eq!(check_builder_cidr("10.1.2.3/8").ok().as_deref(), Some("10.0.0.0/8"));
    }

    #[test]
    fn prefix_rules() {
        for ok in ["ann", "a", "ann-2", "x1"] {
            assert!(Names::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Ann",
            "1ann",
            "ann-",
            "a--b",
            "an_n",
            "josé",
            "-a",
            "sg",
            "internal",
            "sg-ann",
            "internal-x",
        ] {
            let err = Names::new(bad).expect_err(bad);
            assert_eq!(err.exit_code(), 2);
            assert!(err.message.contains("invalid prefix"), "{}", err.message);
        }
    }

    #[test]
    fn task_sizes_follow_fargate() {
        let fixed = |cpu, memory, count| TaskSize::new(cpu, memory, Some(count), None, None);
        assert!(fixed(256, 512, 1).is_ok());
        assert!(fixed(1024, 3072, 2).is_ok());
        assert!(fixed(300, 512, 1).expect_err("cpu").message.contains("not a Fargate size"));
        assert!(fixed(256, 4096, 1).expect_err("mem").message.contains("does not fit"));
        assert!(fixed(256, 512, 0).is_err());
        assert_eq!(TaskSize::new(256, 512, None, None, None).map(|t| t.count).ok(), Some(1));
    }

    #[test]
    fn a_domain_is_a_dns_name() {
        assert_eq!(domain("App.Example.com.").ok().as_deref(), Some("app.example.com"));
        assert_eq!(domain("xn--bcher-kva.example").ok().as_deref(), Some("xn--bcher-kva.example"));
        for bad in [
            "localhost",
            "*.example.com",
            "a..b.com",
            "-a.example.com",
            "a_b.example.com",
            "10.0.0.1",
            "bücher.example",
            &format!("{}.com", "a".repeat(64)),
        ] {
            let err = domain(bad).expect_err(bad);
            assert_eq!(err.exit_code(), 2, "{bad}");
            assert!(err.message.starts_with(&format!("--domain '{bad}'")), "{}", err.message);
        }
    }

    #[test]
    fn an_autoscaling_range_holds_the_starting_count() {
        let size = |count, min, max| TaskSize::new(256, 512, count, min, max);
        let started = size(None, Some(2), Some(6)).expect("a range");
        assert_eq!((started.count, started.scaling), (2, Some(Range { min: 2, max: 6 })));
        assert_eq!(size(Some(4), Some(2), Some(6)).map(|t| t.count).ok(), Some(4));
        assert!(size(None, Some(3), Some(3)).is_ok());
        for (count, min, max, says) in [
            (None, Some(2), None, "both --min and --max"),
            (None, None, Some(2), "both --min and --max"),
            (None, Some(0), Some(2), "use 1 to 100"),
            (None, Some(1), Some(101), "use 1 to 100"),
            (None, Some(5), Some(2), "more than --max"),
            (Some(8), Some(1), Some(4), "outside --min 1 --max 4"),
            (Some(1), Some(2), Some(4), "outside --min 2 --max 4"),
        ] {
            let err = size(count, min, max).expect_err(says);
            assert_eq!(err.exit_code(), 2, "{says}");
            assert!(err.message.contains(says), "{says}: {}", err.message);
        }
    }

    #[test]
    fn user_info_is_taken_out_of_the_url() {
        for (url, clean, login) in [
            (
                "https://ann:s3cr%2Ft@git.example.com/team/app.git",
                "https://git.example.com/team/app.git",
                Some(("ann", "s3cr/t")),
            ),
            (
                "https://x-access-token:ghp_abc@github.com/o/r",
                "https://github.com/o/r",
                Some(("x-access-token", "ghp_abc")),
            ),
            (
                "http://ann@127.0.0.1:8080/r?x=a@b",
                "http://127.0.0.1:8080/r?x=a@b",
                Some(("ann", "")),
            ),
            ("https://github.com/o/r", "https://github.com/o/r", None),
            ("https://github.com/o/r@v1", "https://github.com/o/r@v1", None),
            ("file:///tmp/a@b/repo", "file:///tmp/a@b/repo", None),
            ("/srv/git/app", "/srv/git/app", None),
        ] {
            let (got, creds) = split_user_info(url);
            assert_eq!(got, clean, "{url}");
            let creds = creds.map(|l| (l.user, l.secret));
            let want = login.map(|(u, s)| (u.to_string(), s.to_string()));
            assert_eq!(creds, want, "{url}");
        }
        let (_, login) = split_user_info("https://u:topsecret@h/r");
        assert!(!format!("{login:?}").contains("topsecret"));
    }

    #[test]
    fn app_name_is_the_repository_name() {
        assert_eq!(
            app_name("https://github.com/wvchallenges/opseng-challenge-app"),
            "opseng-challenge-app"
        );
        assert_eq!(app_name("file:///tmp/x/my-app.git/"), "my-app");
        assert_eq!(app_name("/"), "app");
    }

    #[test]
    fn names_fit_aws_limits() {
        let longest_ok = "a".repeat(21);
        let names = Names::new(&longest_ok).expect("21 characters fit");
        assert_eq!(names.target_group.len(), 32);
        let err = Names::new(&"a".repeat(22)).expect_err("22 characters are too many");
        assert!(err.message.contains("at most 21 characters"), "{}", err.message);
        assert!(err.message.contains("target group"), "{}", err.message);
    }
}
