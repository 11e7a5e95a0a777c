//! The EC2 builder: where `deploy` builds when no Docker engine answers here (or with
//! `--builder ec2`). The pipeline stays as it is — the same context, the same Dockerfile, bollard
//! speaking the Docker Engine API — only to an engine on an instance made for this one build:
//!
//! - in the app's network (a public subnet of the service's), from the current Amazon Linux 2023
//!   AMI (AWS's public SSM parameter), IMDSv2 required with a hop limit of 1 (build containers
//!   cannot reach the instance's credentials), named and tagged with the prefix;
//! - its instance profile's role may push to the prefix's ECR repository and nothing else; the
//!   push token this run hands the builder's engine is that role's (AssumeRole), so what reaches
//!   the instance can write one repository, not what the operator's credentials can;
//! - its Docker API listens on TCP 2376 with mutual TLS: a CA made for this run signs the
//!   server's certificate (passed in user data, for the fixed name `builder.aws-app.invalid`) and
//!   this run's client certificate; the CA's key never leaves this process. Its security group
//!   admits 2376 from the operator's address only (checkip, or `--builder-cidr`);
//! - it is terminated after the push, after a failure and on Ctrl-C, and its security group goes
//!   with it. Should aws-app die, a dead-man switch bounds its life: its shutdown behaviour is
//!   `terminate` and it powers itself off `LIFETIME_MINUTES` after boot; the next run (under
//!   the prefix's deploy lock) or `destroy` terminates what is left, found by tags.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, Filter, HttpTokensState, IamInstanceProfileSpecification,
    InstanceMetadataEndpointState, InstanceMetadataOptionsRequest,
    InstanceNetworkInterfaceSpecification, InstanceStateName, InstanceType, IpPermission, IpRange,
    ResourceType, ShutdownBehavior, Tag, TagSpecification, VolumeType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};

use crate::aws::network::{self, Network};
use crate::aws::{Aws, Tags, failed, retry_for};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::image::Engine;
use crate::progress::seconds_since as seconds;
use crate::say;

/// The name the builder's server certificate is for, and the TLS client checks: the instance's
/// address is not known when its certificate is made.
pub const SERVER_NAME: &str = "builder.aws-app.invalid";
/// Docker's TLS port.
pub const DOCKER_TLS_PORT: u16 = 2376;
/// Two vCPUs and 4 GiB: pip and the image layers of a Python app build well on it.
const INSTANCE_TYPE: InstanceType = InstanceType::T3Medium;
/// x86_64, so the image runs on Fargate's default (X86_64) platform.
const AMI_PARAMETER: &str = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64";
/// The root volume: the AMI's 8 GiB is tight for the classic builder's stages of a larger app.
const ROOT_GIB: i32 = 30;
/// The dead-man switch: the instance powers off (and so terminates) this long after boot.
pub const LIFETIME_MINUTES: u32 = 60;
/// The tag that tells a builder from everything else of the prefix.
pub const ROLE_TAG: (&str, &str) = ("aws-app:role", "builder");
/// How long the instance may take to run, and its engine to answer.
const BOOT_DEADLINE: Duration = Duration::from_secs(5 * 60);
const ENGINE_DEADLINE: Duration = Duration::from_secs(10 * 60);
/// How long a terminated instance may hold its security group.
const RELEASE_DEADLINE: Duration = Duration::from_secs(5 * 60);

/// Where checkip answers (AWS_APP_CHECKIP_URL overrides it, for the tests).
fn checkip_url() -> String {
    std::env::var("AWS_APP_CHECKIP_URL")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "https://checkip.amazonaws.com/".to_string())
}

// Descriptions: EC2's character set for security groups, IAM's for roles.
const GROUP_DESCRIPTION: &str = "aws-app: the build instance, Docker TLS from the operator only";
const RULE_DESCRIPTION: &str = "Docker API over TLS, client certificate required";
const ROLE_DESCRIPTION: &str = "aws-app: the build instance, push to the app image repository only";

/// A running builder: its engine, and the login its pushes use.
pub struct Builder {
    pub engine: Engine,
    pub registry: crate::aws::ecr::Registry,
}

/// What a builder leaves in the account until it is removed.
#[derive(Debug, Clone)]
pub struct Instance {
    pub id: String,
    pub group_id: String,
}

/// The builder of one deploy, from its launch to its end: what Ctrl-C must terminate, and the
/// termination that runs in the background while the deploy goes on.
#[derive(Default)]
pub struct Lifetime {
    running: std::sync::Mutex<Option<Instance>>,
    ending: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Lifetime {
    fn started(&self, instance: &Instance) {
        if let Ok(mut slot) = self.running.lock() {
            *slot = Some(instance.clone());
        }
    }

    /// The build is over: terminate the builder beside the rest of the deploy (an instance takes
    /// a minute to terminate, and its security group waits for that).
    pub fn end_in_background(&self, aws: &Aws) {
        let Some(instance) = self.running.lock().ok().and_then(|mut r| r.take()) else {
            return;
        };
        let aws = aws.clone();
        let handle = tokio::spawn(async move { finish(&aws, &instance).await });
        if let Ok(mut slot) = self.ending.lock() {
            *slot = Some(handle);
        }
    }

    /// Before the deploy exits: waits for the termination under way, or terminates a builder
    /// still running (a failure, Ctrl-C). The ID of one terminated now.
    pub async fn end(&self, aws: &Aws) -> Option<String> {
        let ending = self.ending.lock().ok().and_then(|mut e| e.take());
        if let Some(handle) = ending {
            let _ = handle.await;
        }
        let instance = self.running.lock().ok().and_then(|mut r| r.take())?;
        finish(aws, &instance).await;
        Some(instance.id)
    }
}

/// The certificates of one run.
struct Pki {
    ca_pem: String,
    server_pem: String,
    server_key_pem: String,
    ca_der: CertificateDer<'static>,
    client_der: CertificateDer<'static>,
    client_key_der: Vec<u8>,
}

fn pki() -> Result<Pki> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let broken =
        |e: rcgen::Error| Error::failed(format!("cannot make the builder's certificates: {e}"));
    let now = time::OffsetDateTime::now_utc();
    let (from, to) = (now - time::Duration::hours(1), now + time::Duration::hours(6));

    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(broken)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    ca.distinguished_name.push(DnType::CommonName, "aws-app builder CA (one run)");
    (ca.not_before, ca.not_after) = (from, to);
    let ca_key = KeyPair::generate().map_err(broken)?;
    let ca_cert = ca.self_signed(&ca_key).map_err(broken)?;
    let issuer = Issuer::new(ca, ca_key);

    let leaf = |name: Option<&str>, usage: ExtendedKeyUsagePurpose| {
        let names = name.map(|n| vec![n.to_string()]).unwrap_or_default();
        let mut params = CertificateParams::new(names).map_err(broken)?;
        params.distinguished_name.push(DnType::CommonName, name.unwrap_or("aws-app"));
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        params.use_authority_key_identifier_extension = true;
        (params.not_before, params.not_after) = (from, to);
        let key = KeyPair::generate().map_err(broken)?;
        let cert = params.signed_by(&key, &issuer).map_err(broken)?;
        Ok::<_, Error>((cert, key))
    };
    let (server, server_key) = leaf(Some(SERVER_NAME), ExtendedKeyUsagePurpose::ServerAuth)?;
    let (client, client_key) = leaf(None, ExtendedKeyUsagePurpose::ClientAuth)?;
    Ok(Pki {
        ca_pem: ca_cert.pem(),
        server_pem: server.pem(),
        server_key_pem: server_key.serialize_pem(),
        ca_der: ca_cert.der().clone(),
        client_der: client.der().clone(),
        client_key_der: client_key.serialize_der(),
    })
}

/// The instance's boot script: the dead-man switch first, then Docker with TLS on 2376.
fn user_data(prefix: &str, pki: &Pki) -> String {
    let file = |name: &str, pem: &str| {
        format!(
            "cat > /etc/docker/aws-app/{name} <<'AWS_APP_PEM'\n{}\nAWS_APP_PEM\n",
            pem.trim_end()
        )
    };
    format!(
        "#!/bin/bash\n\
         # aws-app builder of prefix {prefix}: a Docker engine for one build, reachable with that\n\
         # run's client certificate only.\n\
         set -euxo pipefail\n\
         # The dead-man switch: power off (shutdown behaviour: terminate) whatever happens.\n\
         shutdown -h +{LIFETIME_MINUTES}\n\
         umask 077\n\
         mkdir -p /etc/docker/aws-app\n\
         {}{}{}\
         dnf install -y docker\n\
         mkdir -p /etc/systemd/system/docker.service.d\n\
         cat > /etc/systemd/system/docker.service.d/aws-app.conf <<'EOF'\n\
         [Service]\n\
         ExecStart=\n\
         ExecStart=/usr/bin/dockerd -H fd:// -H tcp://0.0.0.0:{DOCKER_TLS_PORT} --tlsverify \
         --tlscacert=/etc/docker/aws-app/ca.pem --tlscert=/etc/docker/aws-app/server.pem \
         --tlskey=/etc/docker/aws-app/server-key.pem --containerd=/run/containerd/containerd.sock \
         $OPTIONS $DOCKER_STORAGE_OPTIONS $DOCKER_ADD_RUNTIMES\n\
         EOF\n\
         systemctl daemon-reload\n\
         systemctl enable --now docker\n",
        file("ca.pem", &pki.ca_pem),
        file("server.pem", &pki.server_pem),
        file("server-key.pem", &pki.server_key_pem),
    )
}

/// The push-only policy of the builder's role: the login token (not scopable), and the push
/// actions on the prefix's repository.
fn push_policy(repository_arn: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
            {"Effect": "Allow", "Action": [
                "ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload",
                "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage",
                "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"
            ], "Resource": repository_arn}
        ]
    })
    .to_string()
}

/// EC2 may use the role (the instance profile), and so may this account's principals
/// (AssumeRole for the push token), as the account's IAM policies allow them.
fn trust_policy(partition: &str, account: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
             "Action": "sts:AssumeRole"},
            {"Effect": "Allow", "Principal": {"AWS": format!("arn:{partition}:iam::{account}:root")},
             "Action": "sts:AssumeRole"}
        ]
    })
    .to_string()
}

const POLICY_NAME: &str = "push-to-the-app-repository";

/// The operator's address as AWS sees it, as a /32 (or `--builder-cidr`).
async fn operator_cidr(config: &Config) -> Result<String> {
    if let Some(cidr) = &config.builder_cidr {
        return Ok(cidr.clone());
    }
    let url = checkip_url();
    let page = crate::http::get_url(&url, Duration::from_secs(10)).await.map_err(|e| {
        Error::failed(format!(
            "cannot learn this machine's public address from {url} ({e}): pass --builder-cidr \
             with the range the builder's Docker API may be reached from"
        ))
    })?;
    let text = page.body.trim();
    match (page.status, text.parse::<std::net::Ipv4Addr>()) {
        (200, Ok(ip)) => Ok(format!("{ip}/32")),
        _ => Err(Error::failed(format!(
            "{url} answered {} '{}', not an IPv4 address: pass --builder-cidr",
            page.status,
            text.chars().take(60).collect::<String>()
        ))),
    }
}

fn tag_spec(kind: ResourceType, name: &str, tags: &Tags) -> TagSpecification {
    let spec = network::tag_spec(kind, name, tags);
    let mut tags_with_role = spec.tags().to_vec();
    tags_with_role.push(Tag::builder().key(ROLE_TAG.0).value(ROLE_TAG.1).build());
    TagSpecification::builder()
        .set_resource_type(spec.resource_type().cloned())
        .set_tags(Some(tags_with_role))
        .build()
}

/// Finds or makes the role and its instance profile; the role's ARN, and whether it or the
/// profile is new (then EC2 and STS may not know them for some seconds).
async fn ensure_role(aws: &Aws, config: &Config, caller: &Caller) -> Result<(String, bool)> {
    let Caller { account, partition } = caller;
    let name = &config.names.builder;
    let tags = crate::deploy::tags(config);
    let trust = trust_policy(partition, account);
    let spec = crate::aws::iam::RoleSpec {
        name,
        trust_policy: &trust,
        description: ROLE_DESCRIPTION,
        what: "the builder's role",
    };
    let (arn, created) =
        crate::aws::iam::find_or_create_role(&aws.iam, &spec, &tags, &[ROLE_TAG]).await?;
    let settling = |code: Option<&str>, _: Option<&str>| created && code == Some("NoSuchEntity");
    let repository_arn = format!(
        "arn:{partition}:ecr:{}:{account}:repository/{}",
        aws.region, config.names.image_repo
    );
    let policy = push_policy(&repository_arn);
    crate::aws::retry_while("giving the builder's role its push policy", settling, || {
        aws.iam
            .put_role_policy()
            .role_name(name)
            .policy_name(POLICY_NAME)
            .policy_document(&policy)
            .send()
    })
    .await?;
    let mut created_profile = false;
    let profile = crate::aws::iam::find_instance_profile(&aws.iam, name).await?;
    let has_role = match profile {
        Some(profile) => profile.roles().iter().any(|r| r.role_name() == name),
        None => {
            created_profile = true;
            aws.iam
                .create_instance_profile()
                .instance_profile_name(name)
                .send()
                .await
                .map_err(|e| failed("creating the builder's instance profile", e))?;
            false
        }
    };
    if !has_role {
        crate::aws::retry_while(
            "putting the role in the builder's instance profile",
            settling,
            || {
                aws.iam
                    .add_role_to_instance_profile()
                    .instance_profile_name(name)
                    .role_name(name)
                    .send()
            },
        )
        .await?;
    }
    // EC2 refuses a profile made (or given its role) a moment ago for some seconds.
    Ok((arn, created || created_profile || !has_role))
}

/// An ECR login whose password is the builder role's: it may push to the prefix's repository.
async fn push_registry(
    aws: &Aws,
    role_arn: &str,
    new_role: bool,
) -> Result<crate::aws::ecr::Registry> {
    // A role made a moment ago may not be assumable for some seconds (IAM is eventually
    // consistent); one that was there before is not waited for.
    let settling = |code: Option<&str>, _: Option<&str>| new_role && code == Some("AccessDenied");
    let assumed = retry_for(
        "assuming the builder's role for its push token",
        Duration::from_secs(45),
        Duration::from_secs(3),
        settling,
        || {
            aws.sts
                .assume_role()
                .role_arn(role_arn)
                .role_session_name("aws-app-build")
                .duration_seconds(3600)
                .send()
        },
    )
    .await;
    // Credentials that may not assume it (an operator without sts:AssumeRole) still deploy: the
    // builder then gets this run's own ECR login, which is said.
    let assumed = match assumed {
        Ok(assumed) => assumed,
        Err(e) if e.message.contains("AccessDenied") => {
            crate::note(format!(
                "{}: the builder pushes with these credentials' ECR login instead (allow \
                 sts:AssumeRole on {role_arn} to limit it to the app's repository)",
                crate::aws::without_permission_hint(&e.message)
            ));
            return crate::aws::ecr::registry(&aws.ecr).await;
        }
        Err(e) => return Err(e),
    };
    let creds = assumed.credentials().ok_or_else(|| {
        Error::failed("assuming the builder's role: no credentials in the answer")
    })?;
    let credentials = aws_credential_types::Credentials::new(
        creds.access_key_id(),
        creds.secret_access_key(),
        Some(creds.session_token().to_string()),
        None,
        "aws-app builder role",
    );
    let ecr = aws_sdk_ecr::Client::from_conf(
        aws.ecr.config().to_builder().credentials_provider(credentials).build(),
    );
    crate::aws::ecr::registry(&ecr).await
}

/// The AMI the builder boots: the current Amazon Linux 2023, as AWS publishes it in SSM.
async fn current_ami(aws: &Aws) -> Result<String> {
    aws.ssm
        .get_parameter()
        .name(AMI_PARAMETER)
        .send()
        .await
        .map_err(|e| failed("finding the current Amazon Linux AMI (SSM public parameter)", e))?
        .parameter
        .and_then(|p| p.value)
        .ok_or_else(|| Error::failed(format!("SSM parameter {AMI_PARAMETER} has no value")))
}

/// The account of these credentials, and its partition (`aws`, `aws-cn`, `aws-us-gov`).
struct Caller {
    account: String,
    partition: String,
}

async fn caller(aws: &Aws) -> Result<Caller> {
    let out = aws
        .sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| failed("reading the account of these credentials", e))?;
    let account = out
        .account
        .ok_or_else(|| Error::failed("reading the account of these credentials: no account"))?;
    let partition =
        out.arn.as_deref().and_then(|a| a.split(':').nth(1)).unwrap_or("aws").to_string();
    Ok(Caller { account, partition })
}

/// Launches a builder in `network` and waits for its engine. `lifetime` learns the instance as
/// soon as it exists, so a run stopped while it boots still removes it.
pub async fn launch(
    aws: &Aws,
    config: &Config,
    network: &Network,
    lifetime: &Lifetime,
) -> Result<Builder> {
    start(aws, config, network, lifetime)
        .await
        .map_err(|e| explain_denied(e, &config.names.builder))
}

/// A builder these credentials may not make: what they lack, and the way around it (EC2's
/// encoded authorization message, kilobytes long, is left out of the line).
fn explain_denied(e: Error, role: &str) -> Error {
    if !["UnauthorizedOperation", "AccessDenied"]
        .iter()
        .any(|c| e.message.contains(&format!(": {c}")))
    {
        return e;
    }
    let message = crate::aws::without_permission_hint(&e.message);
    let message = message.split(" Encoded authorization failure message").next().unwrap_or("");
    Error::input(format!(
        "{message}: the EC2 builder needs ec2:RunInstances, ec2:CreateSecurityGroup, \
         iam:CreateRole, iam:CreateInstanceProfile and iam:PassRole on {role}; \
         use credentials that have them, or start Docker here"
    ))
}

async fn start(
    aws: &Aws,
    config: &Config,
    network: &Network,
    lifetime: &Lifetime,
) -> Result<Builder> {
    let clock = Instant::now();
    let tags = crate::deploy::tags(config);
    let name = &config.names.builder;
    // A builder an earlier run left (killed before it could terminate it): this run holds the
    // prefix's lock, so no other run uses it.
    remove(aws, config).await?;

    let (cidr, caller, ami) =
        tokio::try_join!(operator_cidr(config), caller(aws), current_ami(aws))?;
    let (role, group) = tokio::join!(ensure_role(aws, config, &caller), async {
        let rule = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(i32::from(DOCKER_TLS_PORT))
            .to_port(i32::from(DOCKER_TLS_PORT))
            .ip_ranges(IpRange::builder().cidr_ip(&cidr).description(RULE_DESCRIPTION).build())
            .build();
        let spec = network::GroupSpec { name, description: GROUP_DESCRIPTION, rules: vec![rule] };
        let group = network::ensure_group(&aws.ec2, &network.vpc_id, &spec, &tags).await?;
        Ok::<_, Error>(group)
    });
    let (role_arn, new_role) = role?;
    let group = group?;
    let pki = pki()?;
    let script = user_data(&config.prefix, &pki);
    if network.subnets.is_empty() {
        return Err(Error::failed("the network has no subnet for the builder"));
    }

    // A new instance profile is refused by RunInstances for some seconds.
    let settling = |code: Option<&str>, message: Option<&str>| {
        new_role
            && code == Some("InvalidParameterValue")
            && message.is_some_and(|m| m.contains("iamInstanceProfile"))
    };
    say(format!(
        "starting builder {name} ({} in {}; Docker API open to {cidr} only)",
        INSTANCE_TYPE.as_str(),
        network.vpc_id
    ));
    // A zone without this instance type (zone names map to other zones in each account), or
    // without capacity now: the next subnet's zone is tried.
    let mut launched = Err(Error::failed("no subnet tried"));
    for subnet in &network.subnets {
        launched = run_instance(aws, &ami, subnet, &group, name, &tags, &script, settling).await;
        match &launched {
            Err(e) if UNAVAILABLE.iter().any(|code| e.message.contains(code)) => {
                crate::note(format!("{} (subnet {subnet}); trying the next zone", e.message));
            }
            _ => break,
        }
    }
    let instance_id = match launched {
        Ok(out) => out.instances().first().and_then(|i| i.instance_id()).map(str::to_string),
        Err(e) => {
            delete_group(aws, &group).await;
            return Err(e);
        }
    };
    let Some(instance_id) = instance_id else {
        delete_group(aws, &group).await;
        return Err(Error::failed("starting the builder instance: no instance in the answer"));
    };
    let instance = Instance { id: instance_id.clone(), group_id: group.clone() };
    lifetime.started(&instance);
    let ready = async {
        let address = wait_running(aws, &instance_id).await?;
        say(format!(
            "builder {instance_id} runs at {address}; waiting for its Docker engine (installing Docker takes about a minute)"
        ));
        let engine = connect(&address, &pki).await?;
        crate::done(format!("builder engine ready in {}", seconds(clock)));
        let registry = push_registry(aws, &role_arn, new_role).await?;
        Ok::<_, Error>((engine, registry))
    };
    match ready.await {
        Ok((engine, registry)) => Ok(Builder { engine, registry }),
        Err(e) => {
            lifetime.end(aws).await;
            Err(e)
        }
    }
}

/// What EC2 answers when a zone cannot run the instance now.
const UNAVAILABLE: [&str; 2] = [": Unsupported:", ": InsufficientInstanceCapacity:"];

/// One RunInstances in one subnet, retried while EC2 does not know a new instance profile yet.
#[allow(clippy::too_many_arguments)]
async fn run_instance(
    aws: &Aws,
    ami: &str,
    subnet: &str,
    group: &str,
    name: &str,
    tags: &Tags,
    script: &str,
    settling: impl Fn(Option<&str>, Option<&str>) -> bool,
) -> Result<aws_sdk_ec2::operation::run_instances::RunInstancesOutput> {
    let root = BlockDeviceMapping::builder()
        .device_name("/dev/xvda")
        .ebs(
            EbsBlockDevice::builder()
                .volume_size(ROOT_GIB)
                .volume_type(VolumeType::Gp3)
                .delete_on_termination(true)
                .build(),
        )
        .build();
    retry_for(
        "starting the builder instance",
        Duration::from_secs(120),
        Duration::from_secs(3),
        settling,
        || {
            aws.ec2
                .run_instances()
                .block_device_mappings(root.clone())
                .image_id(ami)
                .instance_type(INSTANCE_TYPE)
                .min_count(1)
                .max_count(1)
                .network_interfaces(
                    InstanceNetworkInterfaceSpecification::builder()
                        .device_index(0)
                        .subnet_id(subnet)
                        .groups(group)
                        .associate_public_ip_address(true)
                        .delete_on_termination(true)
                        .build(),
                )
                .iam_instance_profile(IamInstanceProfileSpecification::builder().name(name).build())
                .metadata_options(
                    InstanceMetadataOptionsRequest::builder()
                        .http_tokens(HttpTokensState::Required)
                        .http_endpoint(InstanceMetadataEndpointState::Enabled)
                        .http_put_response_hop_limit(1)
                        .build(),
                )
                .instance_initiated_shutdown_behavior(ShutdownBehavior::Terminate)
                .user_data(aws_smithy_types::base64::encode(script))
                .tag_specifications(tag_spec(ResourceType::Instance, name, tags))
                .tag_specifications(tag_spec(ResourceType::Volume, name, tags))
                .send()
        },
    )
    .await
}

/// Waits until the instance runs with a public address; the address.
async fn wait_running(aws: &Aws, id: &str) -> Result<String> {
    let clock = Instant::now();
    loop {
        let found = aws.ec2.describe_instances().instance_ids(id).send().await;
        match found {
            Ok(out) => {
                let instance = out.reservations().iter().flat_map(|r| r.instances()).next();
                let state = instance.and_then(|i| i.state()).and_then(|s| s.name()).cloned();
                match state {
                    Some(InstanceStateName::Running) => {
                        if let Some(ip) = instance.and_then(|i| i.public_ip_address()) {
                            return Ok(ip.to_string());
                        }
                    }
                    Some(
                        InstanceStateName::ShuttingDown
                        | InstanceStateName::Terminated
                        | InstanceStateName::Stopping
                        | InstanceStateName::Stopped,
                    ) => {
                        let why = instance
                            .and_then(|i| i.state_reason())
                            .and_then(|r| r.message())
                            .unwrap_or("no reason given");
                        return Err(Error::failed(format!(
                            "the builder instance {id} stopped while booting: {why}"
                        )));
                    }
                    _ => {}
                }
            }
            Err(e)
                if crate::aws::not_found_yet(
                    aws_sdk_ec2::error::ProvideErrorMetadata::code(&e),
                    None,
                ) => {}
            Err(e) => return Err(failed("waiting for the builder instance", e)),
        }
        if clock.elapsed() > BOOT_DEADLINE {
            return Err(Error::failed(format!(
                "the builder instance {id} did not run within {} min",
                BOOT_DEADLINE.as_secs() / 60
            )));
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
}

/// A TLS client for the builder's engine: this run's CA only, this run's client certificate.
fn tls_config(pki: &Pki) -> Result<rustls::ClientConfig> {
    let broken = |e: rustls::Error| Error::failed(format!("cannot set up TLS to the builder: {e}"));
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca_der.clone()).map_err(broken)?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.client_key_der.clone()));
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(broken)?
        .with_root_certificates(roots)
        .with_client_auth_cert(vec![pki.client_der.clone()], key)
        .map_err(broken)
}

/// Connects bollard to `https://address:2376` and waits until the engine answers.
async fn connect(address: &str, pki: &Pki) -> Result<Engine> {
    let name = ServerName::try_from(SERVER_NAME)
        .map_err(|e| Error::failed(format!("server name: {e}")))?
        .to_owned();
    let url = format!("https://{address}:{DOCKER_TLS_PORT}");
    let docker = crate::image::host::over_tls(&url, tls_config(pki)?, Some(name))?;
    let clock = Instant::now();
    loop {
        let attempt = tokio::time::timeout(Duration::from_secs(10), docker.ping()).await;
        let last = match attempt {
            Ok(Ok(_)) => break,
            Ok(Err(e)) => e.to_string(),
            Err(_) => "no answer within 10 s".to_string(),
        };
        if clock.elapsed() > ENGINE_DEADLINE {
            return Err(Error::failed(format!(
                "the builder's Docker engine at {address}:{DOCKER_TLS_PORT} did not answer within \
                 {} min ({last}); is {DOCKER_TLS_PORT} reachable from here (a proxy or firewall)? \
                 --builder-cidr sets who may reach it",
                ENGINE_DEADLINE.as_secs() / 60
            )));
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    let docker = docker
        .negotiate_version()
        .await
        .map_err(|e| Error::failed(format!("the builder's engine: {e}")))?;
    Ok(Engine::remote(docker))
}

/// Terminates the instance and deletes its security group once the instance lets go of it.
/// Never fails: what it cannot remove it says, and the next run or `destroy` removes it.
pub async fn finish(aws: &Aws, instance: &Instance) {
    let clock = Instant::now();
    if let Err(e) = terminate(aws, std::slice::from_ref(&instance.id)).await {
        crate::note(format!("{} (the next deploy or destroy removes it)", e.message));
        return;
    }
    delete_group(aws, &instance.group_id).await;
    crate::note(format!("builder {} terminated in {}", instance.id, seconds(clock)));
}

/// Terminates instances and waits until they are gone.
async fn terminate(aws: &Aws, ids: &[String]) -> Result<()> {
    aws.ec2
        .terminate_instances()
        .set_instance_ids(Some(ids.to_vec()))
        .send()
        .await
        .map_err(|e| failed("terminating the builder", e))?;
    let clock = Instant::now();
    loop {
        let out = aws
            .ec2
            .describe_instances()
            .set_instance_ids(Some(ids.to_vec()))
            .send()
            .await
            .map_err(|e| failed("waiting for the builder to terminate", e))?;
        let left = out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter(|i| i.state().and_then(|s| s.name()) != Some(&InstanceStateName::Terminated))
            .count();
        if left == 0 {
            return Ok(());
        }
        if clock.elapsed() > RELEASE_DEADLINE {
            return Err(Error::failed(format!(
                "the builder {} did not terminate within {} min",
                ids.join(", "),
                RELEASE_DEADLINE.as_secs() / 60
            )));
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
}

/// Deletes the builder's security group once no network interface holds it any more, and never
/// fails: what it cannot delete it says.
async fn delete_group(aws: &Aws, group: &str) {
    let step = "deleting the builder's security group";
    match network::delete_group_when_released(&aws.ec2, group, step, RELEASE_DEADLINE).await {
        Ok(()) => {}
        Err(e) if e.message.contains("InvalidGroup.NotFound") => {}
        Err(e) => crate::note(format!("{} (the next deploy or destroy removes it)", e.message)),
    }
}

/// Removes what builders of the prefix left (instances, their security groups); what it
/// removed, for `destroy`'s list.
pub async fn remove(aws: &Aws, config: &Config) -> Result<Vec<String>> {
    let prefix_filter =
        |key: &str, value: &str| Filter::builder().name(format!("tag:{key}")).values(value).build();
    let out = aws
        .ec2
        .describe_instances()
        .filters(prefix_filter(crate::aws::TAG_PREFIX, &config.prefix))
        .filters(prefix_filter(ROLE_TAG.0, ROLE_TAG.1))
        .filters(
            Filter::builder()
                .name("instance-state-name")
                .values("pending")
                .values("running")
                .values("stopping")
                .values("stopped")
                .values("shutting-down")
                .build(),
        )
        .send()
        .await
        .map_err(|e| failed("finding builder instances left by earlier runs", e))?;
    let ids: Vec<String> = out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| i.instance_id().map(str::to_string))
        .collect();
    let mut removed = Vec::new();
    if !ids.is_empty() {
        crate::note(format!(
            "terminating builder instance(s) left by an earlier run: {}",
            ids.join(", ")
        ));
        terminate(aws, &ids).await?;
        removed.push(format!("builder instance(s) {}", ids.join(", ")));
    }
    if network::delete_groups(&aws.ec2, &config.names.builder, &config.prefix).await? > 0 {
        removed.push(format!("security group {}", config.names.builder));
    }
    Ok(removed)
}

/// Deletes the builder's instance profile and role (`destroy`); what it deleted.
pub async fn remove_role(aws: &Aws, config: &Config) -> Result<Vec<String>> {
    let name = &config.names.builder;
    let mut removed = Vec::new();
    if crate::aws::iam::delete_instance_profile(&aws.iam, name).await? {
        removed.push(format!("instance profile {name}"));
    }
    if crate::aws::iam::delete_role(&aws.iam, name, &[POLICY_NAME]).await? {
        removed.push(format!("role {name}"));
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_data_carries_the_servers_certificates_and_the_dead_man_switch() {
        let pki = pki().expect("pki");
        let script = user_data("alex", &pki);
        assert!(script.starts_with("#!/bin/bash\n"));
        assert!(script.contains(&format!("shutdown -h +{LIFETIME_MINUTES}\n")));
        for file in ["ca.pem", "server.pem", "server-key.pem"] {
            assert!(
                script.contains(&format!("cat > /etc/docker/aws-app/{file} <<'AWS_APP_PEM'\n"))
            );
        }
        assert!(script.contains("--tlsverify"));
        // EC2 takes at most 16 KB of user data before base64.
        assert!(script.len() < 16 * 1024, "{}", script.len());
        // The CA's key is never in it: only the server's key.
        assert_eq!(
            script.matches("PRIVATE KEY-----").count(),
            2,
            "one key, the server's: {script}"
        );
    }

    #[test]
    fn the_client_trusts_this_runs_ca_only_and_presents_its_certificate() {
        let pki = pki().expect("pki");
        tls_config(&pki).expect("tls config");
        assert_ne!(pki.ca_der, pki.client_der);
    }

    #[test]
    fn the_policies_are_json_naming_the_repository() {
        let policy: serde_json::Value =
            serde_json::from_str(&push_policy("arn:aws:ecr:us-east-1:1:repository/a-aws-app"))
                .expect("json");
        assert_eq!(
            policy["Statement"][1]["Resource"],
            "arn:aws:ecr:us-east-1:1:repository/a-aws-app"
        );
        let trust: serde_json::Value =
            serde_json::from_str(&trust_policy("aws", "123")).expect("json");
        assert_eq!(trust["Statement"][1]["Principal"]["AWS"], "arn:aws:iam::123:root");
    }

    #[test]
    fn a_refused_launch_says_what_the_credentials_lack_in_one_line() {
        let refused = Error::failed(
            "starting the builder instance: UnauthorizedOperation: You are not authorized to \
             perform this operation. Encoded authorization failure message: AbCd0123",
        );
        let explained = explain_denied(refused, "ann-aws-app-builder").message;
        assert!(explained.contains("iam:PassRole on ann-aws-app-builder"), "{explained}");
        assert!(explained.contains("start Docker here"), "{explained}");
        assert!(!explained.contains("AbCd0123") && !explained.contains('\n'), "{explained}");
        // A refusal as `aws::failed` words it: the builder's permissions, without also the
        // generic hint.
        let denied = aws_smithy_types::error::ErrorMetadata::builder()
            .code("UnauthorizedOperation")
            .message("You are not authorized to perform this operation.")
            .build();
        let denied = crate::aws::failed("starting the builder instance", denied);
        let explained = explain_denied(denied, "r");
        assert_eq!(explained.exit_code(), 2, "{explained}");
        let explained = explained.message;
        assert!(explained.contains("iam:PassRole on r"), "{explained}");
        assert!(!explained.contains("docs/iam-policy.json"), "{explained}");
        let other =
            explain_denied(Error::failed("starting the builder instance: Unsupported: x"), "r");
        assert_eq!(other.message, "starting the builder instance: Unsupported: x");
    }

    #[test]
    fn descriptions_fit_ec2s_character_set() {
        let ok = |t: &str| {
            t.chars().all(|c| c.is_ascii_alphanumeric() || " ._-:/()#,@[]+=&;{}!$*".contains(c))
        };
        assert!(ok(GROUP_DESCRIPTION) && ok(RULE_DESCRIPTION));
    }
}
