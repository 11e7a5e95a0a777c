//! The service: cluster, task definition (Fargate, awsvpc, the image by digest, the image's CPU
//! architecture, awslogs), and a service behind the target group with the deployment circuit
//! breaker. A rollout is followed through the `rolloutState` of the deployment this run started,
//! never through "services stable": a service that is stable again on the previous revision after
//! a rollback is a failed deploy.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, Compatibility, ContainerDefinition, CpuArchitecture,
    DeploymentCircuitBreaker, DeploymentConfiguration, DesiredStatus, KeyValuePair, LaunchType,
    LoadBalancer, LogConfiguration, LogDriver, NetworkConfiguration, NetworkMode, OsFamily,
    PortMapping, PropagateTags, RuntimePlatform, Secret, Tag, TransportProtocol,
};

use aws_sdk_ecs::types;

use super::change::Diff;
use super::{Tags, failed, found, retry_for, retry_while};
use crate::error::{Error, Result};
use crate::say;

/// The container's name in the task definition (and in the load balancer attachment).
pub const CONTAINER: &str = "app";
/// Seconds ECS ignores failing load balancer health checks of a new task (gunicorn boots in
/// about a second; the first checks may still race it).
pub const HEALTH_CHECK_GRACE_SECS: i32 = 30;

/// What the task definition must say.
#[derive(Debug, Clone)]
pub struct TaskSpec {
    pub family: String,
    /// `registry/repo@sha256:…`
    pub image: String,
    pub cpu: u32,
    pub memory: u32,
    /// Docker's architecture name of the image (`amd64`, `arm64`).
    pub architecture: String,
    pub execution_role_arn: String,
    pub log_group: String,
    pub region: String,
    pub port: u16,
    /// The commit the image was built from: `status` and `redeploy` read it back.
    pub commit: String,
    /// What this run knows of the build, as container labels (`*_LABEL` below and `image::lock::*_LABEL`): the page it
    /// served in its smoke test (so a later run that builds nothing can still check the URL
    /// serves this build), the commit's time, the build inputs. None: the image was not built by
    /// this run; keep what the current revision says of it.
    pub labels: Option<HashMap<String, String>>,
    /// The container's variables (`--env`), sorted by name.
    pub environment: Vec<(String, String)>,
    /// The container's variables from secrets (`--secret`): `(name, valueFrom ARN)`, sorted.
    pub secrets: Vec<(String, String)>,
}

/// The container label holding the smoke-tested page's fingerprint.
pub const PAGE_LABEL: &str = "dev.aws-app.page";
/// The container label holding the commit the image was built from.
pub const COMMIT_LABEL: &str = "dev.aws-app.commit";
/// The container label holding the commit's time.
pub const COMMIT_TIME_LABEL: &str = "dev.aws-app.commit-time";

/// What `ensure_task_definition` settled on.
#[derive(Debug, Clone)]
pub struct TaskDefinition {
    pub arn: String,
    /// Registered by this run.
    pub registered: bool,
    /// The page fingerprint the revision carries.
    pub page: Option<String>,
    /// The container's labels (commit, page, build inputs).
    pub labels: HashMap<String, String>,
}

impl TaskSpec {
    fn cpu_architecture(&self) -> Result<CpuArchitecture> {
        match self.architecture.as_str() {
            "amd64" | "x86_64" => Ok(CpuArchitecture::X8664),
            "arm64" | "aarch64" => Ok(CpuArchitecture::Arm64),
            other => Err(Error::failed(format!(
                "the image is built for {other}; Fargate runs amd64 (X86_64) and arm64 (ARM64) only"
            ))),
        }
    }
}

fn ecs_tags(tags: &Tags) -> Vec<Tag> {
    tags.pairs().into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

/// An ECS resource's tags as key and value.
pub fn tag_pairs(tags: &[Tag]) -> impl Iterator<Item = (&str, &str)> {
    tags.iter().map(|t| (t.key().unwrap_or(""), t.value().unwrap_or("")))
}

/// Puts the prefix's tags on an ECS resource (`--adopt`).
pub async fn tag(ecs: &Client, arn: &str, tags: &Tags) -> Result<()> {
    let call = ecs.tag_resource().resource_arn(arn).set_tags(Some(ecs_tags(tags)));
    call.send().await.map_err(|e| failed("tagging the ECS resource", e))?;
    Ok(())
}

/// ECS refusing a just-created execution role (IAM is eventually consistent: "ECS was unable
/// to assume the role"). AWS gives that refusal no error code of its own, so the generic code and
/// the message's subject are both checked.
fn role_not_ready(code: Option<&str>, message: Option<&str>) -> bool {
    matches!(code, Some("ClientException" | "InvalidParameterException"))
        && message.is_some_and(|m| m.contains("assume"))
}

mod cluster;
mod rollout;
mod service;
mod task_definition;
#[cfg(test)]
mod tests;

pub use cluster::*;
pub use rollout::*;
pub use service::*;
pub use task_definition::*;
