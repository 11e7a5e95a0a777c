//! `deploy`: from the branch HEAD to a verified URL. The order, and what runs beside what:
//!
//! 1. AWS configuration and Docker are checked first (no region, no credentials, no Docker: exit
//!    2 before anything is built or created).
//! 2. The branch HEAD is listed. When the service already runs that commit built from the same
//!    inputs (aws-app's recipe, the base image and its ID), nothing is cloned or built.
//! 3. Otherwise clone, build and smoke test run *while* the infrastructure is ensured: the ALB
//!    provisions for minutes on real AWS, and that time overlaps the build. The image's tag is
//!    `<commit>-<key>`, the key hashing the inputs and the resolved pins; `--rebuild` resolves
//!    and pulls again on purpose.
//! 4. Push (skipped when the registry has the tag: another run built these inputs), task
//!    definition (a new revision only when something differs), service create/update, then the
//!    rollout of the deployment this run started.
//! 5. The URL must serve this build: the smoke test's page (or `--expect`). Only then is it
//!    printed.
//!
//! Every step finds before it creates, so a second run with nothing new changes nothing, and a
//! run stopped anywhere converges when run again.

use std::time::{Duration, Instant};

use std::collections::HashMap;

use crate::aws::{Aws, Tags, alb, domain, ecr, ecs, iam, lock, logs, network, scaling, secrets};
use crate::cli::Builder;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::image::verified::build_verified;
use crate::image::{APP_PORT, BuildOptions, Engine};
use crate::lifecycle::live;
use crate::outcome::Outcome;
use crate::progress::seconds_since as seconds;
use crate::{http, say, source};

/// How long a rollout may take before the deploy fails.
const ROLLOUT_DEADLINE: Duration = Duration::from_secs(20 * 60);
/// How long a refused certificate is retried before the check fails.
const CERTIFICATE_GRACE: Duration = Duration::from_secs(30);
/// How long the URL may take to serve this build (a new ALB's DNS name takes minutes).
const VERIFY_DEADLINE: Duration = Duration::from_secs(10 * 60);

/// Everything the service needs besides its image.
#[derive(Debug, Clone)]
pub struct Infrastructure {
    pub network: network::Network,
    pub load_balancer: alb::LoadBalancer,
    pub target_group_arn: String,
    pub execution_role_arn: String,
    /// The container's secrets (`(variable, valueFrom)`), which the execution role may read.
    pub secrets: Vec<(String, String)>,
    pub cluster_arn: String,
    /// `--domain`: the name served over HTTPS.
    pub domain: Option<String>,
}

pub fn tags(config: &Config) -> Tags {
    Tags { prefix: config.prefix.clone(), app: config.app.clone() }
}

/// Finds or creates the network (unless given: an EC2 builder needed it first), load balancer,
/// role (with the policy for `secrets`), log group and cluster; the lock's fence is checked
/// before each.
pub async fn ensure_infrastructure(
    aws: &Aws,
    config: &Config,
    network: Option<network::Network>,
    checked: &Checked,
    fence: &lock::Fence,
) -> Result<Infrastructure> {
    let secrets = &checked.secrets;
    let (names, tags) = (&config.names, tags(config));
    let clock = Instant::now();
    // Two independent chains side by side (each AWS call takes tens of milliseconds): the
    // network and what sits in it, and the account-level pieces. Both end before an error of
    // either is reported.
    let in_network = async {
        let network = match network {
            Some(network) => network,
            None => {
                fence.check("making the network")?;
                network::ensure(&aws.ec2, names, &tags, APP_PORT, config.domain.is_some()).await?
            }
        };
        fence.check("making the load balancer")?;
        let load_balancer = alb::ensure_load_balancer(&aws.elb, names, &network, &tags).await?;
        fence.check("making the target group")?;
        let target_group_arn =
            alb::ensure_target_group(&aws.elb, names, &network.vpc_id, APP_PORT, &tags).await?;
        fence.check("making the listener")?;
        let keep_redirect = config.domain.is_some();
        alb::ensure_listener(&aws.elb, &load_balancer.arn, &target_group_arn, &tags, keep_redirect)
            .await?;
        let zone = checked.zone.as_ref();
        ensure_https(aws, config, zone, &load_balancer, &target_group_arn, fence).await?;
        Ok::<_, Error>((network, load_balancer, target_group_arn))
    };
    let account = async {
        fence.check("making the roles")?;
        iam::ensure_ecs_service_linked_role(&aws.iam).await?;
        let policy = secrets.policy.as_deref();
        let execution_role_arn =
            iam::ensure_execution_role(&aws.iam, &names.execution_role, &tags, policy).await?;
        fence.check("making the log group")?;
        logs::ensure_log_group(&aws.logs, &names.log_group, &tags).await?;
        fence.check("making the cluster")?;
        let cluster_arn = ecs::ensure_cluster(&aws.ecs, &names.cluster, &tags).await?;
        Ok::<_, Error>((execution_role_arn, cluster_arn))
    };
    let (in_network, account) = tokio::join!(in_network, account);
    let (network, load_balancer, target_group_arn) = in_network?;
    let (execution_role_arn, cluster_arn) = account?;
    crate::note(format!(
        "infrastructure ready in {}: load balancer {} in {}",
        seconds(clock),
        load_balancer.dns_name,
        network.vpc_id
    ));
    Ok(Infrastructure {
        network,
        load_balancer,
        target_group_arn,
        execution_role_arn,
        secrets: secrets.secrets.clone(),
        cluster_arn,
        domain: config.domain.clone(),
    })
}

/// What `deploy` checked before taking the lock: the secrets' ARNs and role policy, and the
/// hosted zone of `--domain`.
pub struct Checked {
    pub secrets: secrets::Resolved,
    pub zone: Option<domain::Zone>,
}

/// `--domain`: the certificate (requested and validated when there is none), the :443 listener
/// with it, and the name's aliases to the load balancer (in `zone`). Without it, a :443
/// listener an earlier `--domain` made goes, with the prefix's certificate and its records.
async fn ensure_https(
    aws: &Aws,
    config: &Config,
    zone: Option<&domain::Zone>,
    lb: &alb::LoadBalancer,
    tg_arn: &str,
    fence: &lock::Fence,
) -> Result<()> {
    let tags = tags(config);
    let (Some(name), Some(zone)) = (&config.domain, zone) else {
        let Some(listener) = alb::find_listener_on(&aws.elb, &lb.arn, 443).await? else {
            return Ok(());
        };
        fence.check("removing HTTPS")?;
        alb::delete_listener(&aws.elb, listener.listener_arn().unwrap_or_default()).await?;
        crate::note("removed the :443 listener (no --domain)");
        let held: Vec<&str> =
            listener.certificates().iter().filter_map(|c| c.certificate_arn()).collect();
        let ours = domain::certificates_of(&aws.acm, &config.prefix, None).await?;
        for (name, arn) in ours.iter().filter(|(_, arn)| held.contains(&arn.as_str())) {
            let lb_name = &config.names.load_balancer;
            for what in domain::delete_records(&aws.acm, &aws.route53, name, arn, lb_name).await? {
                crate::note(format!("deleted {what}"));
            }
            if domain::delete_certificate(&aws.acm, arn).await? {
                crate::note(format!("deleted ACM certificate {name}"));
            }
        }
        return Ok(());
    };
    fence.check("the certificate")?;
    let certificate = domain::ensure_certificate(&aws.acm, &aws.route53, zone, name, &tags).await?;
    fence.check("the :443 listener")?;
    if alb::ensure_https_listener(&aws.elb, &lb.arn, tg_arn, &certificate.arn, &tags).await? {
        crate::note(format!("HTTPS on :443 with the certificate for {name} ({})", alb::TLS_POLICY));
    }
    fence.check("the domain's records")?;
    if domain::ensure_aliases(&aws.route53, zone, name, &lb.dns_name, &lb.zone_id, config.adopt)
        .await?
    {
        crate::note(format!("{name} (A, AAAA) → the load balancer, in the zone {}", zone.name));
    }
    Ok(())
}

/// The image to run: its registry reference by digest, the commit, and what is known of its
/// build.
pub(crate) struct Release {
    pub image: String,
    pub commit: String,
    pub architecture: String,
    pushed: bool,
    /// Whether the service already runs this image (the fast path: nothing built).
    running: bool,
    /// Labels of this build (page fingerprint, commit time, inputs) for the task definition:
    /// this run's, or those of the revision that runs it.
    labels: HashMap<String, String>,
    /// The vulnerabilities the lock found, for `--json`.
    vulnerabilities: Option<serde_json::Value>,
}

/// The engine this run builds with: the local one, or none (an EC2 builder is launched when a
/// build is needed). `--builder local` without an engine is exit 2 before anything happens.
async fn local_engine(config: &Config) -> Result<Option<Engine>> {
    match config.builder {
        Builder::Local => Engine::connect().await.map(Some),
        Builder::Ec2 => Ok(None),
        // A DOCKER_HOST that cannot work is the operator's to mend, not a reason to build on EC2.
        Builder::Auto => match Engine::configured()?.connect().await {
            Ok(engine) => Ok(Some(engine)),
            Err(e) => {
                say(format!(
                    "{}: a build runs on an EC2 builder instead (--builder local insists on a \
                     local engine)",
                    e.message.split(';').next().unwrap_or(&e.message)
                ));
                Ok(None)
            }
        },
    }
}

/// `deploy`. SIGINT/SIGTERM stop it after removing a smoke-test container or an EC2 builder it
/// started; AWS resources it made stay (they are found again, and `destroy` removes them).
/// `rebuild`: build even when the service runs this commit's build, resolving dependencies and
/// pulling the base image again.
pub async fn deploy(config: &Config, rebuild: bool) -> Result<Outcome> {
    let engine = local_engine(config).await?;
    let aws = Aws::connect(config.region.as_deref()).await?;
    // A secret that is not there is bad input: found out before the lock, or anything, is taken.
    let secrets = secrets::resolve(&aws, &config.secrets).await?;
    // So is a domain no hosted zone of the account holds, or whose records are another's; the
    // zone found here is the one the deploy writes in.
    let zone = match &config.domain {
        Some(name) => {
            let zone = domain::require_zone(&aws.route53, name).await?;
            let lb = alb::find_load_balancer(&aws.elb, &config.names.load_balancer).await?;
            let dns = lb.and_then(|l| l.dns_name).unwrap_or_else(|| "(none yet)".to_string());
            domain::alias_diff(&aws.route53, &zone, name, &dns, config.adopt).await?;
            Some(zone)
        }
        None => None,
    };
    let checked = Checked { secrets, zone };
    let secrets = &checked.secrets;
    if !secrets.secrets.is_empty() {
        crate::note(format!(
            "{} secret(s) for the container: ECS reads them when a task starts (the smoke test \
             runs without them; aws-app never reads their values)",
            secrets.secrets.len()
        ));
    }
    // The EC2 builder while one runs; the prefix's deploy lock is held while this run changes
    // things, and released on every exit.
    let builder = crate::builder::Lifetime::default();
    let work = async |fence: &lock::Fence| {
        let done =
            deploy_with(config, engine.as_ref(), &aws, &checked, fence, &builder, rebuild).await;
        // A builder's termination runs beside the deploy's end: it is waited for here.
        builder.end(&aws).await;
        done
    };
    let stopped = async |signal| {
        let removed = match &engine {
            Some(engine) => engine.remove_role((config.names.label, &config.prefix), "smoke").await,
            None => 0,
        };
        say(format!("stopped by {signal}: cleaning up"));
        let builder_note = match builder.end(&aws).await {
            Some(id) => format!(", terminated builder {id}"),
            None => String::new(),
        };
        Error::interrupted(format!(
            "stopped by {signal}; removed {removed} smoke-test container(s){builder_note}; run \
             deploy again to finish (what exists is found again)"
        ))
    };
    lock::holding(&aws.dynamodb, &config.prefix, "deploy", work, stopped).await
}

/// Docker's architecture name of a task definition's runtime platform.
fn docker_architecture(td: &aws_sdk_ecs::types::TaskDefinition) -> Option<String> {
    match td.runtime_platform()?.cpu_architecture()? {
        aws_sdk_ecs::types::CpuArchitecture::Arm64 => Some("arm64".to_string()),
        aws_sdk_ecs::types::CpuArchitecture::X8664 => Some("amd64".to_string()),
        _ => None,
    }
}

/// The release when the service (`running`) already runs `head` built from this run's inputs.
pub(crate) async fn running_release(
    config: &Config,
    engine: Option<&Engine>,
    running: Option<&live::Live>,
    head: &str,
) -> Result<Option<Release>> {
    // Without a local engine (an EC2 builder pulls the base afresh) the base image's name and
    // the recipe are compared, not its ID.
    let base_id = match engine {
        Some(engine) => match engine.base_identity(&config.base_image).await {
            Some(id) => Some(id),
            None => return Ok(None), // the build pulls the base: its ID is not known before
        },
        None => None,
    };
    let Some(running) = running else {
        return Ok(None);
    };
    if !running.runs_build_of(head, &config.base_image, base_id.as_deref()) {
        return Ok(None);
    }
    let (Some(image), Some(architecture)) =
        (running.image(), docker_architecture(&running.task_definition))
    else {
        return Ok(None);
    };
    // Its labels as they are: should a revision be registered (another size, or a later
    // revision of the family that failed and was rolled back), it keeps what it knows.
    Ok(Some(Release {
        image: image.to_string(),
        commit: head.to_string(),
        architecture,
        pushed: false,
        running: true,
        labels: running.labels.clone(),
        vulnerabilities: None,
    }))
}

async fn deploy_with(
    config: &Config,
    engine: Option<&Engine>,
    aws: &Aws,
    checked: &Checked,
    fence: &lock::Fence,
    builder: &crate::builder::Lifetime,
    rebuild: bool,
) -> Result<Outcome> {
    let started = Instant::now();
    let names = &config.names;

    // After the lock: a run that waited deploys the HEAD of now, not of when it started.
    say(format!("resolving {} of {}", config.source.branch, config.source.url));
    let head = source::resolve_head(&config.source).await?;
    // Nothing is written before it is known to be this prefix's, running this app.
    let survey = crate::aws::owner::survey(aws, config).await?;
    survey.check_deploy(config)?;
    fence.check("making the image repository")?;
    if config.adopt {
        survey.adopt(aws, &tags(config)).await?;
    }
    ecr::ensure_repository(&aws.ecr, &names.image_repo, &tags(config), config.keep_images).await?;
    let registry = ecr::registry(&aws.ecr).await?;
    let running = match rebuild {
        true => None,
        false => {
            let live = live::find(aws, config).await?;
            running_release(config, engine, live.as_ref(), &head).await?
        }
    };
    if running.is_some() {
        crate::note(format!(
            "{} already runs {} built from these inputs: nothing to build (--rebuild builds \
             anyway)",
            names.service,
            &head[..12]
        ));
    }

    // An EC2 builder runs in the app's network: that is found or made first.
    let network = match (&running, engine) {
        (None, None) => {
            let https = config.domain.is_some();
            Some(network::ensure(&aws.ec2, names, &tags(config), APP_PORT, https).await?)
        }
        _ => None,
    };
    let release = async {
        if let Some(running) = running {
            return Ok(running);
        }
        match (engine, &network) {
            (Some(engine), _) => {
                build_and_push(config, aws, engine, &registry, fence, rebuild).await
            }
            (None, Some(network)) => {
                fence.check("launching an EC2 builder")?;
                let remote = crate::builder::launch(aws, config, network, builder).await?;
                let built =
                    build_and_push(config, aws, &remote.engine, &remote.registry, fence, rebuild)
                        .await;
                builder.end_in_background(aws);
                built
            }
            (None, None) => Err(Error::failed("no engine to build with")),
        }
    };
    // The long AWS work runs beside the build; both finish before either error is reported, so
    // nothing is left half-made by a failing neighbour.
    let infrastructure = ensure_infrastructure(aws, config, network.clone(), checked, fence);
    let (infra, release) = tokio::join!(infrastructure, release);
    let release = release?;
    let infra = infra?;
    finish_deploy(config, aws, &registry, release, infra, fence, started).await
}

/// The task definition a release should run under (with `secrets`' variables): what `deploy`
/// registers and `plan` compares.
pub(crate) fn task_spec(
    config: &Config,
    region: &str,
    release: &Release,
    execution_role_arn: &str,
    secrets: &[(String, String)],
) -> ecs::TaskSpec {
    // The smoke test's page holds for the variables it ran with: under others (a change of
    // --env alone, which builds nothing) the URL check asks a 200 only. The smoke test never
    // has the secrets, so with any its page says nothing of the live one.
    let mut labels = release.labels.clone();
    if labels.get(PAGE_CONFIG_LABEL) != environment_fingerprint(&config.environment).as_ref()
        || !secrets.is_empty()
    {
        labels.remove(ecs::PAGE_LABEL);
        labels.remove(PAGE_CONFIG_LABEL);
    }
    ecs::TaskSpec {
        family: config.names.task_family.clone(),
        image: release.image.clone(),
        cpu: config.task.cpu,
        memory: config.task.memory,
        architecture: release.architecture.clone(),
        execution_role_arn: execution_role_arn.to_string(),
        log_group: config.names.log_group.clone(),
        region: region.to_string(),
        port: APP_PORT,
        commit: release.commit.clone(),
        labels: Some(labels),
        environment: config.environment.clone(),
        secrets: secrets.to_vec(),
    }
}

/// The label of the variables a smoke-tested page was served with (none: no variables). A page
/// fingerprint taken with other variables says nothing of this configuration's page.
pub const PAGE_CONFIG_LABEL: &str = "dev.aws-app.page-config";

/// The fingerprint of the variables, for `PAGE_CONFIG_LABEL`; none when there are none (so a
/// deploy without `--env` labels its revisions as before).
pub fn environment_fingerprint(environment: &[(String, String)]) -> Option<String> {
    let text: String = environment.iter().map(|(k, v)| format!("{k}={v}\0")).collect();
    (!environment.is_empty()).then(|| fingerprint(&text))
}

/// The service as `deploy` leaves it.
pub(crate) fn service_spec(
    config: &Config,
    task_definition: &str,
    network: &network::Network,
    target_group_arn: &str,
) -> ecs::ServiceSpec {
    ecs::ServiceSpec {
        cluster: config.names.cluster.clone(),
        name: config.names.service.clone(),
        task_definition: task_definition.to_string(),
        desired_count: i32::try_from(config.task.count).unwrap_or(1),
        range: config
            .task
            .scaling
            .map(|r| (i32::try_from(r.min).unwrap_or(1), i32::try_from(r.max).unwrap_or(1))),
        subnets: network.subnets.clone(),
        security_group: network.task_security_group.clone(),
        target_group_arn: target_group_arn.to_string(),
        port: APP_PORT,
    }
}

/// Builds, smoke-tests and pushes with `engine` to `registry`.
async fn build_and_push(
    config: &Config,
    aws: &Aws,
    engine: &Engine,
    registry: &ecr::Registry,
    fence: &lock::Fence,
    rebuild: bool,
) -> Result<Release> {
    let names = &config.names;
    {
        let built = build_verified(config, engine, &BuildOptions { refresh: rebuild }).await?;
        let clock = Instant::now();
        let tag = built.image.reference.rsplit_once(':').map_or("", |(_, t)| t);
        // In ECR, ECR itself says whether the tag is there (a typed "not found"); the engine's
        // registry lookup, whose error codes differ between Docker versions, is then only asked
        // about an image that exists. A registry override has no such API: the engine is asked.
        let absent = match registry.credentials {
            Some(_) => !ecr::has_image(&aws.ecr, &names.image_repo, tag).await?,
            None => false,
        };
        fence.check("pushing the image")?;
        say(format!("pushing to {}", names.image_repo));
        let pushed = engine.push(&built.image, registry, &names.image_repo, absent).await?;
        if pushed.pushed {
            crate::done(format!("pushed {} in {}", pushed.reference, seconds(clock)));
        } else {
            crate::done(format!("the registry already has {tag}: nothing pushed"));
        }
        let inputs = &built.image.inputs;
        let mut labels = crate::image::lock::labels(
            &inputs.base_image,
            &inputs.base_id,
            &inputs.key,
            &inputs.lock,
        );
        labels.insert(ecs::PAGE_LABEL.to_string(), fingerprint(&built.body));
        if let Some(config_fingerprint) = environment_fingerprint(&config.environment) {
            labels.insert(PAGE_CONFIG_LABEL.to_string(), config_fingerprint);
        }
        labels.insert(crate::aws::owner::SOURCE_LABEL.to_string(), built.checkout.url.clone());
        labels
            .insert(ecs::COMMIT_TIME_LABEL.to_string(), crate::rfc3339(built.checkout.commit_time));
        Ok::<_, Error>(Release {
            image: pushed.reference,
            commit: built.checkout.commit.clone(),
            architecture: built.image.architecture.clone(),
            pushed: pushed.pushed,
            running: false,
            labels,
            vulnerabilities: Some(inputs.lock.vulnerabilities_json()),
        })
    }
}

/// From the pushed image to the verified URL: task definition, service, rollout, verification.
async fn finish_deploy(
    config: &Config,
    aws: &Aws,
    registry: &ecr::Registry,
    release: Release,
    infra: Infrastructure,
    fence: &lock::Fence,
    started: Instant,
) -> Result<Outcome> {
    let names = &config.names;
    fence.check("registering the task definition")?;
    let role = &infra.execution_role_arn;
    let spec = task_spec(config, &aws.region, &release, role, &infra.secrets);
    let tag_set = tags(config);
    let ecs::TaskDefinition { arn: task_definition, registered, page, labels } =
        ecs::ensure_task_definition(&aws.ecs, &spec, &tag_set).await?;
    if registered {
        crate::note(format!("registered {task_definition}"));
    }
    let service = service_spec(config, &task_definition, &infra.network, &infra.target_group_arn);
    fence.check("updating the service")?;
    // The image about to run is kept by the lifecycle policy from now on.
    if let (Some(_), Some((_, digest)), false) =
        (&registry.credentials, release.image.split_once('@'), release.running)
        && !ecr::protect(&aws.ecr, &names.image_repo, digest).await?
    {
        return Err(Error::failed(format!(
            "ECR has no image {digest} in {} (expired or deleted meanwhile): deploy again to \
             push it",
            names.image_repo
        )));
    }
    // Autoscaling that is no longer asked for goes before the service's count is set again.
    let scaling_id = scaling::resource_id(&names.cluster, &names.service);
    let wanted_scaling = match config.task.scaling {
        Some(range) => {
            let label = scaling::resource_label(&infra.load_balancer.arn, &infra.target_group_arn)?;
            Some(scaling::wanted(&scaling_id, &names.service, range, &label))
        }
        None => None,
    };
    if wanted_scaling.is_none() && scaling::find(&aws.autoscaling, &scaling_id).await?.is_some() {
        fence.check("removing the service's autoscaling")?;
        scaling::delete(&aws.autoscaling, &scaling_id).await?;
        crate::note(format!("autoscaling removed: the service runs {} tasks", config.task.count));
    }
    let change = ecs::ensure_service(&aws.ecs, &service, &tag_set).await?;
    if let Some(wanted) = &wanted_scaling {
        fence.check("autoscaling the service")?;
        if scaling::ensure(&aws.autoscaling, wanted, &tag_set).await? {
            let policies: Vec<String> = wanted.policies.iter().map(scaling::describe).collect();
            crate::note(format!(
                "autoscaling {} on {}",
                scaling::range_text(wanted.min, wanted.max),
                policies.join(" and ")
            ));
        }
    }
    if let Some(deployment) = &change.deployment_id {
        let clock = Instant::now();
        say(format!("rolling out {deployment}"));
        ecs::wait_rollout(
            &aws.ecs,
            &aws.logs,
            &service,
            &names.log_group,
            deployment,
            ROLLOUT_DEADLINE,
        )
        .await?;
        crate::done(format!("rollout completed in {}", seconds(clock)));
    } else if change.changed {
        return Err(Error::failed(
            "ECS accepted the service change but reported no deployment to follow; run deploy again",
        ));
    } else {
        crate::note("the service already runs this task definition");
    }

    let url = match &infra.domain {
        Some(name) => format!("https://{name}/"),
        None => format!("http://{}/", infra.load_balancer.dns_name),
    };
    let clock = Instant::now();
    if !infra.load_balancer.active {
        alb::wait_active(&aws.elb, &infra.load_balancer.arn, VERIFY_DEADLINE).await?;
    }
    verify(&url, page.as_deref(), config.expect.as_deref()).await?;
    crate::done(format!(
        "{url} serves {} (verified in {}; deploy took {}, {} AWS API calls)",
        &release.commit[..12],
        seconds(clock),
        seconds(started),
        crate::aws::api_calls()
    ));
    // HTTPS serves: plain HTTP now redirects to it.
    if infra.domain.is_some() && alb::redirect_http(&aws.elb, &infra.load_balancer.arn).await? {
        crate::note("http:// on :80 now redirects to https:// (301)");
    }

    let scan = match (&registry.credentials, release.image.split_once('@')) {
        (Some(_), Some((_, digest))) => {
            ecr::scan_summary(&aws.ecr, &names.image_repo, digest).await
        }
        _ => None,
    };
    if let Some(scan) = &scan {
        crate::note(format!("ECR scan of the image: {scan}"));
    }

    // Anything written to the account counts: a listener, a rule, a route made again.
    let changed =
        release.pushed || registered || change.changed || crate::aws::deployment_writes() > 0;
    let vulnerabilities = release.vulnerabilities.clone().unwrap_or_else(|| {
        crate::image::lock::vulnerabilities_from_label(
            labels.get(crate::image::lock::VULNERABILITIES_LABEL).map(String::as_str),
        )
    });
    let out = serde_json::json!({
            "url": url,
            "commit": release.commit,
            "image": release.image,
            "task_definition": task_definition,
            "inputs": crate::image::lock::inputs_json(&labels),
            "vulnerabilities": vulnerabilities,
            "advisories_unchecked": crate::image::lock::unchecked_count(
                labels.get(crate::image::lock::VULNERABILITIES_LABEL).map(String::as_str),
            ),
            "scan": scan.as_ref().map(ecr::ScanSummary::to_json),
            "changed": changed,
    });
    Ok(Outcome::json(out).line(url))
}

/// A fingerprint of a page (64-bit FNV-1a, hex): enough to tell this build's page from another
/// one, small enough for a container label.
pub fn fingerprint(page: &str) -> String {
    let hash = page.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// Waits until the URL serves this build: the page its smoke test got (by fingerprint; a stale
/// task behind the load balancer is caught without knowing the app), or a page containing
/// `--expect`. A revision without a fingerprint (made by an interrupted run) needs a 200 only.
pub async fn verify(url: &str, page: Option<&str>, expect: Option<&str>) -> Result<()> {
    let started = Instant::now();
    let mut delay = Duration::from_secs(1);
    let mut last: String;
    let mut reported = String::new();
    say(format!("checking that {url} serves this build"));
    loop {
        match http::get_url(url, Duration::from_secs(10)).await {
            Ok(got) if got.status == 200 => {
                let ok = match (expect, page) {
                    (Some(text), _) => got.body.contains(text),
                    (None, Some(page)) => fingerprint(&got.body) == page,
                    (None, None) => true,
                };
                if ok {
                    return Ok(());
                }
                last = match expect {
                    Some(text) => format!("the page does not contain '{text}'"),
                    None => "the page differs from this build's (an older task still answers?)"
                        .to_string(),
                };
            }
            Ok(got) => last = format!("GET / answered {}", got.status),
            Err(e) => last = e,
        }
        if last != reported {
            crate::progress::status(&format!("waiting for {url} to serve this build: {last}"));
            reported.clone_from(&last);
        }
        crate::progress::detail(&format!("{last}; next try in {} s", delay.as_secs()));
        // A certificate the check refuses does not get better by waiting long (a name that
        // still resolves to an old address might, for a moment).
        if last.contains("invalid peer certificate") && started.elapsed() > CERTIFICATE_GRACE {
            return Err(Error::failed(format!(
                "{url} does not present a valid certificate for its name: {last}"
            )));
        }
        if started.elapsed() > VERIFY_DEADLINE {
            return Err(Error::failed(format!(
                "{url} did not serve this build within {} min: {last}",
                VERIFY_DEADLINE.as_secs() / 60
            )));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(15));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fingerprints_tell_pages_apart() {
        let page = "<h1>Hello World!</h1>";
        assert_eq!(super::fingerprint(page), super::fingerprint(page));
        assert_ne!(super::fingerprint(page), super::fingerprint("<h1>Hello again!</h1>"));
        assert_eq!(super::fingerprint("").len(), 16);
    }
}
