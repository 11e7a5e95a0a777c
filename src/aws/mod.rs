//! The AWS side: one `SdkConfig` from the standard chain (environment, profiles, SSO, process
//! credentials; `--region` over the chain's region; `AWS_ENDPOINT_URL` as the SDK defines it),
//! every service client made from it, and the tag set every resource carries. A module per
//! concern; each "ensure" describes first and creates only what is missing, so a second run
//! creates nothing and an interrupted run converges.

pub mod alb;
pub mod change;
pub mod domain;
pub mod ecr;
pub mod ecs;
pub mod iam;
pub mod lock;
pub mod logs;
pub mod network;
pub mod owner;
pub mod scaling;
pub mod secrets;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::ProvideCredentials;
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::error::{Error, Result};

/// The clients of one run, all from one `SdkConfig`.
#[derive(Clone)]
pub struct Aws {
    pub region: String,
    /// `--domain`: the certificate of the name.
    pub acm: aws_sdk_acm::Client,
    /// `--min`/`--max`: the service as a scalable target, its target tracking policies.
    pub autoscaling: aws_sdk_applicationautoscaling::Client,
    /// The deploy lock's table (`lock`).
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub iam: aws_sdk_iam::Client,
    /// `--secret`: the KMS keys of the app's parameters and secrets (described, never used).
    pub kms: aws_sdk_kms::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    /// `--domain`: the hosted zone of the name, its validation and alias records.
    pub route53: aws_sdk_route53::Client,
    /// `--secret`: the app's secrets' metadata (their values are never read).
    pub secretsmanager: aws_sdk_secretsmanager::Client,
    /// The EC2 builder's AMI (a public SSM parameter); `--secret`'s parameters' metadata.
    pub ssm: aws_sdk_ssm::Client,
    pub sts: aws_sdk_sts::Client,
}

/// The tags on everything aws-app creates: found again by them, without a state file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tags {
    pub prefix: String,
    pub app: String,
}

pub const TAG_PREFIX: &str = "aws-app:prefix";
pub const TAG_APP: &str = "aws-app:app";
pub const TAG_MANAGED: &str = "managed-by";

impl Tags {
    pub fn pairs(&self) -> [(&'static str, String); 3] {
        [
            (TAG_PREFIX, self.prefix.clone()),
            (TAG_APP, self.app.clone()),
            (TAG_MANAGED, "aws-app".to_string()),
        ]
    }
}

impl Aws {
    /// Loads the configuration and checks, before anything is built, that there is a region and
    /// that credentials resolve. Both failures are exit 2 with the remedy.
    pub async fn connect(region: Option<&str>) -> Result<Aws> {
        check_endpoint_variables()?;
        let config = load(region).await;
        let Some(region) = config.region().map(|r| r.to_string()) else {
            return Err(Error::input(
                "no AWS region: pass --region, set AWS_REGION, or set a region in ~/.aws/config",
            ));
        };
        let Some(provider) = config.credentials_provider() else {
            return Err(no_credentials("no provider in the configuration"));
        };
        let checked = tokio::time::timeout(Duration::from_secs(30), provider.provide_credentials());
        match checked.await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(no_credentials(&DisplayErrorContext(&e).to_string())),
            Err(_) => return Err(no_credentials("no answer within 30 s")),
        }
        // Every client counts its calls (`api_calls`): the README's numbers and the end of a
        // deploy report them.
        macro_rules! client {
            ($sdk:ident) => {
                $sdk::Client::from_conf(
                    $sdk::config::Builder::from(&config).interceptor(CallCounter).build(),
                )
            };
        }
        Ok(Aws {
            region,
            acm: client!(aws_sdk_acm),
            autoscaling: client!(aws_sdk_applicationautoscaling),
            dynamodb: client!(aws_sdk_dynamodb),
            ec2: client!(aws_sdk_ec2),
            ecr: client!(aws_sdk_ecr),
            ecs: client!(aws_sdk_ecs),
            elb: client!(aws_sdk_elasticloadbalancingv2),
            iam: client!(aws_sdk_iam),
            kms: client!(aws_sdk_kms),
            logs: client!(aws_sdk_cloudwatchlogs),
            route53: client!(aws_sdk_route53),
            secretsmanager: client!(aws_sdk_secretsmanager),
            ssm: client!(aws_sdk_ssm),
            sts: client!(aws_sdk_sts),
        })
    }
}

static API_CALLS: AtomicUsize = AtomicUsize::new(0);
static WRITES: AtomicUsize = AtomicUsize::new(0);
static WRITES_TRIED: AtomicUsize = AtomicUsize::new(0);
/// Set by `read_only`: every write is refused before it is sent.
static READ_ONLY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// From now on this process sends no write to AWS: the call counter refuses it before it is
/// signed (`plan`, `deploy --dry-run`). `writes_tried` stays 0 when none was attempted.
pub fn read_only() {
    READ_ONLY.store(true, Ordering::Relaxed);
}

/// Writes this process started (refused by `read_only` or not).
pub fn writes_tried() -> usize {
    WRITES_TRIED.load(Ordering::Relaxed)
}

/// AWS API operations this process has started (retries of one operation count once).
pub fn api_calls() -> usize {
    API_CALLS.load(Ordering::Relaxed)
}

/// Of those, the ones that change something (create, put, modify, ...): zero means this run
/// changed nothing in the account.
pub fn writes() -> usize {
    WRITES.load(Ordering::Relaxed)
}

/// Whether an operation name is one that changes state (every read is Describe/Get/List).
fn is_write(operation: &str) -> bool {
    !["Describe", "Get", "List", "Filter"].iter().any(|r| operation.starts_with(r))
}

/// Writes that change the deployment (the lock's own writes are not among them).
pub fn deployment_writes() -> usize {
    writes().saturating_sub(lock::WRITES.load(Ordering::Relaxed))
}

#[derive(Debug)]
struct CallCounter;

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "aws-app call counter"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        API_CALLS.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// A write is counted, and refused in a read-only run, before it is serialized (the
    /// operation's name is known from here on; `read_before_execution` runs before it is).
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg.load::<Metadata>().map(|m| m.name()).unwrap_or("Unknown");
        if is_write(operation) {
            WRITES_TRIED.fetch_add(1, Ordering::Relaxed);
            if READ_ONLY.load(Ordering::Relaxed) {
                return Err(format!("{operation} refused: this run only reads").into());
            }
        }
        Ok(())
    }

    /// A write counts once it succeeded (a create refused as "already exists" changed nothing).
    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg.load::<Metadata>().map(|m| m.name()).unwrap_or("Unknown");
        if is_write(operation) && matches!(context.output_or_error(), Some(Ok(_))) {
            WRITES.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>` must be URLs when set: the SDK takes an
/// empty one as an endpoint and fails deep inside (a panic), not with a message.
fn check_endpoint_variables() -> Result<()> {
    for (key, value) in std::env::vars() {
        if key != "AWS_ENDPOINT_URL" && !key.starts_with("AWS_ENDPOINT_URL_") {
            continue;
        }
        let value = value.trim();
        if !(value.starts_with("http://") || value.starts_with("https://")) || value.len() < 10 {
            return Err(Error::input(format!(
                "{key} is set to '{value}', which is not an http(s) URL: unset it or give the endpoint's URL"
            )));
        }
    }
    Ok(())
}

/// The HTTPS client of every AWS call: rustls with ring, the one TLS stack, chosen for build
/// time (aws-lc compiles C for minutes). HTTP(S)_PROXY and NO_PROXY apply.
pub fn http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .build_https()
}

async fn load(region: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .retry_config(retry_config())
        .timeout_config(timeout_config());
    if let Some(region) = region {
        loader = loader.region(Region::new(region.to_string()));
    }
    loader.load().await
}

/// Standard retries (throttling and transient errors back off and retry), with a few more
/// attempts than the default: a deploy makes dozens of control-plane calls.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(6)
}

/// Every call is bounded: a half-open connection (a laptop's Wi-Fi gone, a proxy that stalls)
/// fails an attempt after 30 s, which is then retried, and the call with its retries after
/// 2 min, so no run, heartbeat or lock release hangs. Control-plane answers take well under a
/// second.
pub fn timeout_config() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(10))
        .operation_attempt_timeout(Duration::from_secs(30))
        .operation_timeout(Duration::from_secs(120))
        .build()
}

/// One line with the remedy; the credential chain's own account of what it tried goes above it.
fn no_credentials(why: &str) -> Error {
    Error::input(
        "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, \
         run `aws configure`, or `aws sso login`",
    )
    .with_detail(why)
}

/// Sends a request again while AWS answers with an error `transient(code, message)` accepts, for
/// up to a minute: for eventual consistency (a resource created a moment ago "not found" by the
/// next call, a new IAM role refused). Any other error, or the deadline, fails the step.
pub async fn retry_while<T, E, Fut>(
    step: &str,
    transient: impl Fn(Option<&str>, Option<&str>) -> bool,
    call: impl Fn() -> Fut,
) -> Result<T>
where
    Fut: std::future::Future<Output = std::result::Result<T, E>>,
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    retry_for(step, Duration::from_secs(60), Duration::from_secs(2), transient, call).await
}

/// `retry_while` with its own deadline and pause; the wait is reported at most every 30 s.
pub async fn retry_for<T, E, Fut>(
    step: &str,
    deadline: Duration,
    pause: Duration,
    transient: impl Fn(Option<&str>, Option<&str>) -> bool,
    call: impl Fn() -> Fut,
) -> Result<T>
where
    Fut: std::future::Future<Output = std::result::Result<T, E>>,
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let started = std::time::Instant::now();
    let mut next_report = Duration::ZERO;
    loop {
        match call().await {
            Ok(out) => return Ok(out),
            Err(e) if transient(e.code(), e.message()) && started.elapsed() < deadline => {
                if started.elapsed() >= next_report {
                    crate::note(format!(
                        "{step}: {} (not settled yet; retrying)",
                        e.code().unwrap_or("")
                    ));
                    next_report = started.elapsed() + Duration::from_secs(30);
                }
                tokio::time::sleep(pause).await;
            }
            Err(e) => return Err(failed(step, e)),
        }
    }
}

/// How long a delete may wait for what holds the resource (a service's tasks, the network
/// interfaces of a load balancer or of stopped tasks) to let go.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(15 * 60);

/// Sends a delete until what holds the resource lets go (`busy`: the error codes meaning that),
/// for up to `DRAIN_DEADLINE`.
pub async fn until_released<T, E, Fut>(
    step: &str,
    busy: &[&str],
    call: impl Fn() -> Fut,
) -> Result<()>
where
    Fut: std::future::Future<Output = std::result::Result<T, E>>,
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let in_use = |code: Option<&str>, _: Option<&str>| code.is_some_and(|c| busy.contains(&c));
    retry_for(step, DRAIN_DEADLINE, Duration::from_secs(5), in_use, call).await.map(|_| ())
}

/// An SDK call's answer.
type Answer<T, E, R> =
    std::result::Result<T, aws_smithy_runtime_api::client::result::SdkError<E, R>>;

/// What `failed` needs of an SDK error.
pub trait SdkFailure: ProvideErrorMetadata + std::error::Error + 'static {}
impl<T: ProvideErrorMetadata + std::error::Error + 'static> SdkFailure for T {}

/// Whether a delete or create changed anything: AWS's typed answer that it was already so
/// (`already` tells it: nothing there to delete, made by another run meanwhile) is `false`.
pub fn changed<T, E, R>(
    step: &str,
    answer: Answer<T, E, R>,
    already: impl FnOnce(&E) -> bool,
) -> Result<bool>
where
    aws_smithy_runtime_api::client::result::SdkError<E, R>: SdkFailure,
{
    found(step, answer, already).map(|out| out.is_some())
}

/// A lookup's answer with AWS's typed "not found" (`absent` tells it by the service error) as
/// `None`: the one place where a resource that is not there is told from a failed call.
pub fn found<T, E, R>(
    step: &str,
    answer: Answer<T, E, R>,
    absent: impl FnOnce(&E) -> bool,
) -> Result<Option<T>>
where
    aws_smithy_runtime_api::client::result::SdkError<E, R>: SdkFailure,
{
    match answer {
        Ok(out) => Ok(Some(out)),
        Err(e) if e.as_service_error().is_some_and(absent) => Ok(None),
        Err(e) => Err(failed(step, e)),
    }
}

/// EC2's "does not exist (yet)" codes, e.g. `InvalidGroup.NotFound` right after the group's
/// creation.
pub fn not_found_yet(code: Option<&str>, _message: Option<&str>) -> bool {
    code.is_some_and(|c| c.ends_with(".NotFound"))
}

/// AWS's answers to a call the credentials may not make (JSON services, awsQuery ones, EC2).
const PERMISSION_CODES: &[&str] =
    &["AccessDeniedException", "AccessDenied", "UnauthorizedOperation"];

/// What a refusal of `PERMISSION_CODES` ends with (`failed`); a caller that names the exact
/// permissions instead takes it off with `without_permission_hint`.
const PERMISSION_HINT: &str = "; these credentials lack a permission aws-app needs \
     (docs/iam-policy.json in aws-app's repository lists them all)";

/// An error's message without `failed`'s generic permission hint.
pub fn without_permission_hint(message: &str) -> &str {
    message.strip_suffix(PERMISSION_HINT).unwrap_or(message)
}

/// Error codes that mean the credentials themselves are bad (expired, unknown, wrong secret).
const CREDENTIAL_CODES: &[&str] = &[
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "InvalidSignatureException",
    "AuthFailure",
];

/// The error of an AWS call as one line naming the step: AWS's code and message when it
/// answered, else the transport's account (no debug dumps). Bad credentials are exit 2 with the
/// remedy, like missing ones.
pub fn failed<E: ProvideErrorMetadata + std::error::Error + 'static>(step: &str, e: E) -> Error {
    if let Some(code) = e.code() {
        let message = e.message().unwrap_or("no message").trim().replace('\n', " ");
        if CREDENTIAL_CODES.contains(&code) {
            return Error::input(format!(
                "AWS refused the credentials while {step} ({code}: {message}): renew them \
                 (`aws sso login`, `aws configure`) or set AWS_PROFILE"
            ));
        }
        if PERMISSION_CODES.contains(&code) {
            // EC2's encoded authorization message is kilobytes of base64: left out.
            let message = message.split(" Encoded authorization failure message").next();
            return Error::input(format!(
                "{step}: {code}: {}{PERMISSION_HINT}",
                message.unwrap_or_default().trim_end_matches(['.', ' '])
            ));
        }
        return Error::failed(format!("{step}: {code}: {message}"));
    }
    let mut chain = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !chain.contains(&text) {
            chain.push_str(": ");
            chain.push_str(&text);
        }
        source = cause.source();
    }
    Error::failed(format!("{step}: {}", chain.replace('\n', " ")))
}
