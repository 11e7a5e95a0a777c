//! The command line as clap sees it: raw input only. Nothing here touches the network, Docker or
//! the file system; `config` turns this into checked settings.

use clap::{Args, Parser, Subcommand, ValueEnum};

pub const DEFAULT_REPO: &str = "https://github.com/wvchallenges/opseng-challenge-app";
pub const DEFAULT_BRANCH: &str = "master";
pub const DEFAULT_BASE_IMAGE: &str = "python:3.11-slim";
pub const DEFAULT_LOCAL_PORT: u16 = 8000;

#[derive(Debug, Parser)]
#[command(
    name = "aws-app",
    version,
    about = "From a git branch of a Python web app to a verified URL on ECS Fargate behind an ALB",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    /// What to do; without a subcommand, `deploy`.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options every subcommand takes, before or after its name.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Git URL of the app (https:// or file://, or a local path).
    #[arg(long, env = "AWS_APP_REPO", global = true, default_value = DEFAULT_REPO)]
    pub repo: String,

    /// Branch whose HEAD is deployed.
    #[arg(long, env = "AWS_APP_BRANCH", global = true, default_value = DEFAULT_BRANCH)]
    pub branch: String,

    /// Name prefix of every resource [default: first name from `git config user.name`, else $USER].
    #[arg(long, env = "AWS_APP_PREFIX", global = true)]
    pub prefix: Option<String>,

    /// AWS region [default: the standard AWS resolution: AWS_REGION, profile, ...].
    #[arg(long, global = true)]
    pub region: Option<String>,

    /// Base image of the app image (needs python3 with the venv module).
    #[arg(long, env = "AWS_APP_BASE_IMAGE", global = true, default_value = DEFAULT_BASE_IMAGE)]
    pub base_image: String,

    /// Text the app's page must contain [default: the page must equal the smoke test's page].
    #[arg(long, global = true, value_name = "TEXT")]
    pub expect: Option<String>,

    /// Print one JSON object on stdout instead of the URL.
    #[arg(long, global = true)]
    pub json: bool,

    /// Print the Docker build's whole output on a terminal too (off a terminal it always is).
    #[arg(long, short, global = true)]
    pub verbose: bool,

    /// Fargate task CPU units (256, 512, 1024, 2048, 4096).
    #[arg(long, env = "AWS_APP_CPU", global = true, default_value_t = 256)]
    pub cpu: u32,

    /// Fargate task memory in MiB (must suit --cpu, e.g. 512-2048 for 256).
    #[arg(long, env = "AWS_APP_MEMORY", global = true, default_value_t = 512)]
    pub memory: u32,

    /// Number of tasks the service runs (1); with --min/--max, the size it starts at (--min).
    #[arg(long, env = "AWS_APP_COUNT", global = true)]
    pub count: Option<u32>,

    /// Autoscaling: the fewest tasks Application Auto Scaling may scale the service to (with
    /// --max).
    #[arg(long, env = "AWS_APP_MIN", global = true)]
    pub min: Option<u32>,

    /// Autoscaling: the most tasks (with --min); scales on requests per task and on CPU.
    #[arg(long, env = "AWS_APP_MAX", global = true)]
    pub max: Option<u32>,

    /// Images ECR keeps: this many of the deployed ones (what runs and what rollback returns
    /// to), and as many others (builds never deployed); older ones expire.
    #[arg(long, env = "AWS_APP_KEEP_IMAGES", global = true, default_value_t = 10)]
    pub keep_images: u32,

    /// Where deploy builds the image: the local Docker engine, an EC2 instance made for the
    /// build (terminated after it), or auto: local when a Docker engine answers, else EC2.
    #[arg(long, env = "AWS_APP_BUILDER", global = true, value_enum, default_value_t = Builder::Auto)]
    pub builder: Builder,

    /// Who may reach the EC2 builder's Docker API (TLS, client certificate) [default: this
    /// machine's public IPv4 address as https://checkip.amazonaws.com sees it, /32].
    #[arg(long, env = "AWS_APP_BUILDER_CIDR", global = true, value_name = "CIDR")]
    pub builder_cidr: Option<String>,

    /// Take over resources of this prefix's names that lack its tags (made by hand, by another
    /// tool, or by an older aws-app): they are tagged, then updated and deleted as aws-app's.
    #[arg(long, global = true)]
    pub adopt: bool,

    /// Deploy this --repo under a prefix that runs another app, replacing that app.
    #[arg(long, global = true)]
    pub replace_app: bool,

    /// A variable for the app's container, KEY=VALUE (repeatable; overrides --env-file's).
    /// Plain configuration: it is in the task definition as written.
    #[arg(long = "env", value_name = "KEY=VALUE", global = true)]
    pub env_vars: Vec<String>,

    /// A variable whose value ECS reads from a secret when a task starts, KEY=REF (repeatable):
    /// REF is an SSM parameter or a Secrets Manager secret, by its name in the deploy's region or
    /// by ARN (a secret's JSON key as `NAME:json-key`). aws-app never reads the value.
    #[arg(long = "secret", value_name = "KEY=REF", global = true)]
    pub secrets: Vec<String>,

    /// A file of KEY=VALUE lines for the app's container (`#` comments, blank lines and a
    /// leading `export` are allowed; a value may be quoted).
    #[arg(long, env = "AWS_APP_ENV_FILE", global = true, value_name = "PATH")]
    pub env_file: Option<std::path::PathBuf>,

    /// Serve the app on https://NAME/ (a name in a Route 53 hosted zone of the account): an ACM
    /// certificate validated by DNS, HTTPS on :443, :80 redirects to it.
    #[arg(long, env = "AWS_APP_DOMAIN", global = true, value_name = "NAME")]
    pub domain: Option<String>,
}

/// Where `deploy` builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Builder {
    /// The local engine when one answers, else an EC2 builder.
    Auto,
    /// The local Docker engine (DOCKER_HOST or the default socket).
    Local,
    /// An ephemeral EC2 instance in the account.
    Ec2,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Clone, build, push to ECR, run on Fargate behind an ALB, verify, print the URL (default).
    Deploy {
        /// Build even when the service already runs this commit's build: resolve the
        /// dependencies and pull the base image again.
        #[arg(long)]
        rebuild: bool,
        /// Show what deploy would do and cost, changing nothing (the same as `plan`).
        #[arg(long)]
        dry_run: bool,
    },
    /// Show what deploy would do, resource by resource (create, update and what differs,
    /// unchanged), whether it would build and roll out, and a monthly cost estimate. Reads only.
    Plan {
        /// Plan as `deploy --rebuild` would run.
        #[arg(long)]
        rebuild: bool,
    },
    /// Clone and build the image, smoke-test it; with --run, serve it on localhost.
    Build {
        /// Keep the image running on localhost and print its URL (`./aws-app.sh --local`).
        #[arg(long)]
        run: bool,
        /// Local port for --run.
        #[arg(long, requires = "run", default_value_t = DEFAULT_LOCAL_PORT)]
        port: u16,
    },
    /// Deploy only when the branch moved; otherwise print the live URL.
    Redeploy {
        /// Deploy even when the service already runs the branch HEAD, rebuilding it like
        /// `deploy --rebuild`.
        #[arg(long)]
        force: bool,
    },
    /// Poll the branch and redeploy each new commit.
    Watch {
        /// Time between polls, e.g. 30s, 5m.
        #[arg(long, default_value = "60s")]
        interval: String,
    },
    /// Show what runs: commit, image, revision, tasks, rollout, target health, URL.
    Status,
    /// Print the app's log lines.
    Logs {
        /// Keep printing new lines.
        #[arg(long)]
        follow: bool,
        /// How far back to start, e.g. 10m, 2h.
        #[arg(long, default_value = "10m")]
        since: String,
    },
    /// Return the service to the previous task definition revision.
    Rollback {
        /// Go back to the newest revision that runs this commit (a SHA or its prefix).
        #[arg(long, value_name = "COMMIT")]
        to: Option<String>,
    },
    /// Delete every resource of the prefix.
    Destroy {
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// Remove the local container and images instead of the AWS resources.
        #[arg(long)]
        local: bool,
    },
}
