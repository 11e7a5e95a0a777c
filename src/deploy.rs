//! `deploy`: from the branch HEAD to a verified URL. The order, and what runs beside what:
//!
//! 1. AWS configuration and Docker are checked first (no region, no credentials, no Docker: exit
//!    2 before anything is built or created).
//! 2. The branch HEAD is listed. When the registry already has the image of that commit (pushed
//!    by an earlier run, which smoke-tested it), nothing is cloned or built.
//! 3. Otherwise clone, build and smoke test run *while* the infrastructure is ensured: the ALB
//!    provisions for minutes on real AWS, and that time overlaps the build.
//! 4. Push (skipped when the tag is there), task definition (a new revision only when something
//!    differs), service create/update, then the rollout of the deployment this run started.
//! 5. The URL must serve this build: the smoke test's page (or `--expect`). Only then is it
//!    printed.
//!
//! Every step finds before it creates, so a second run with nothing new changes nothing, and a
//! run stopped anywhere converges when run again.

use std::time::{Duration, Instant};

use std::sync::Mutex;

use crate::aws::{Aws, Tags, alb, ecr, ecs, iam, lock, logs, network};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::image::{APP_PORT, Engine};
use crate::local::{build_verified, seconds};
use crate::{http, say, source};

/// How long a rollout may take before the deploy fails.
const ROLLOUT_DEADLINE: Duration = Duration::from_secs(20 * 60);
/// How long the URL may take to serve this build (a new ALB's DNS name takes minutes).
const VERIFY_DEADLINE: Duration = Duration::from_secs(10 * 60);

/// Everything the service needs besides its image.
#[derive(Debug, Clone)]
pub struct Infrastructure {
    pub network: network::Network,
    pub load_balancer: alb::LoadBalancer,
    pub target_group_arn: String,
    pub execution_role_arn: String,
    pub cluster_arn: String,
}

pub fn tags(config: &Config) -> Tags {
    Tags { prefix: config.prefix.clone(), app: config.app.clone() }
}

/// Finds or creates the network, load balancer, role, log group and cluster.
pub async fn ensure_infrastructure(aws: &Aws, config: &Config) -> Result<Infrastructure> {
    let (names, tags) = (&config.names, tags(config));
    let clock = Instant::now();
    let network = network::ensure(&aws.ec2, names, &tags, APP_PORT).await?;
    let load_balancer = alb::ensure_load_balancer(&aws.elb, names, &network, &tags).await?;
    let target_group_arn =
        alb::ensure_target_group(&aws.elb, names, &network.vpc_id, APP_PORT, &tags).await?;
    alb::ensure_listener(&aws.elb, &load_balancer.arn, &target_group_arn, &tags).await?;
    iam::ensure_ecs_service_linked_role(&aws.iam).await?;
    let execution_role_arn =
        iam::ensure_execution_role(&aws.iam, &names.execution_role, &tags).await?;
    logs::ensure_log_group(&aws.logs, &names.log_group, &tags).await?;
    let cluster_arn = ecs::ensure_cluster(&aws.ecs, &names.cluster, &tags).await?;
    say(format!(
        "infrastructure ready in {}: load balancer {} in {}",
        seconds(clock),
        load_balancer.dns_name,
        network.vpc_id
    ));
    Ok(Infrastructure { network, load_balancer, target_group_arn, execution_role_arn, cluster_arn })
}

/// The image to run: its registry reference by digest, the commit, and the page it served in
/// its smoke test (None when an earlier run pushed it and nothing was built now).
struct Release {
    image: String,
    commit: String,
    architecture: String,
    page: Option<String>,
    pushed: bool,
    /// Unix time of the commit, when it was fetched now.
    commit_time: Option<i64>,
}

/// `deploy`. SIGINT/SIGTERM stop it after removing a smoke-test container it started; AWS
/// resources it made stay (they are found again, and `destroy` removes them).
pub async fn deploy(config: &Config) -> Result<()> {
    let engine = Engine::connect().await?;
    let aws = Aws::connect(config.region.as_deref()).await?;
    // The prefix's deploy lock, held while this run changes things (released on every exit).
    let held: Mutex<Option<lock::Lock>> = Mutex::new(None);
    let result = tokio::select! {
        done = deploy_with(config, &engine, &aws, &held) => done,
        signal = crate::signals::stop_requested() => {
            let removed = engine.remove_role((config.names.label, &config.prefix), "smoke").await;
            Err(Error::interrupted(format!(
                "stopped by {signal}; removed {removed} smoke-test container(s); run deploy again \
                 to finish (what exists is found again)"
            )))
        }
    };
    let lock = held.lock().ok().and_then(|mut l| l.take());
    if let Some(lock) = lock {
        lock.release(&aws.ecr).await;
    }
    result
}

async fn deploy_with(
    config: &Config,
    engine: &Engine,
    aws: &Aws,
    held: &Mutex<Option<lock::Lock>>,
) -> Result<()> {
    let started = Instant::now();
    let names = &config.names;

    let taken = lock::acquire(&aws.ecr, &names.image_repo, &config.prefix, &tags(config)).await?;
    if let Ok(mut slot) = held.lock() {
        *slot = Some(taken);
    }
    // After the lock: a run that waited deploys the HEAD of now, not of when it started.
    say(format!("resolving {} of {}", config.source.branch, config.source.url));
    let head = source::resolve_head(&config.source).await?;
    ecr::ensure_repository(&aws.ecr, &names.image_repo, &tags(config)).await?;
    let registry = ecr::registry(&aws.ecr).await?;
    // In ECR, ask ECR whether the commit's image is there (a typed "not found"); the engine's
    // registry lookup, whose error codes differ between Docker versions, is then only asked for
    // an image that exists. A registry override has no such API: the engine is asked directly.
    let in_ecr = match registry.credentials {
        Some(_) => ecr::has_image(&aws.ecr, &names.image_repo, &head).await?,
        None => true,
    };
    let existing = match in_ecr {
        true => engine.find_in_registry(&registry, &names.image_repo, &head).await?,
        false => None,
    };

    let release = async {
        if let Some(found) = existing {
            say(format!("{} is already in the registry: nothing to build", &head[..12]));
            let architecture = found.architecture.ok_or_else(|| {
                Error::failed(format!(
                    "the registry does not say which CPU {} is built for; deploy needs it for \
                     the task's runtime platform",
                    found.reference
                ))
            })?;
            return Ok(Release {
                image: found.reference,
                commit: head.clone(),
                architecture,
                page: None,
                pushed: false,
                commit_time: None,
            });
        }
        let built = build_verified(config, engine).await?;
        let clock = Instant::now();
        let pushed = engine.push(&built.image, &registry, &names.image_repo).await?;
        say(format!("pushed {} in {}", pushed.reference, seconds(clock)));
        Ok::<_, Error>(Release {
            image: pushed.reference,
            commit: built.checkout.commit.clone(),
            architecture: built.image.architecture.clone(),
            page: Some(built.body),
            pushed: pushed.pushed,
            commit_time: Some(built.checkout.commit_time),
        })
    };
    // The long AWS work runs beside the build; both finish before either error is reported, so
    // nothing is left half-made by a failing neighbour.
    let (infra, release) = tokio::join!(ensure_infrastructure(aws, config), release);
    let release = release?;
    let infra = infra?;

    let spec = ecs::TaskSpec {
        family: names.task_family.clone(),
        image: release.image.clone(),
        cpu: config.task.cpu,
        memory: config.task.memory,
        architecture: release.architecture.clone(),
        execution_role_arn: infra.execution_role_arn.clone(),
        log_group: names.log_group.clone(),
        region: aws.region.clone(),
        port: APP_PORT,
        page: release.page.as_deref().map(fingerprint),
        commit: release.commit.clone(),
        commit_time: release.commit_time.map(crate::rfc3339),
    };
    let tag_set = tags(config);
    let ecs::TaskDefinition { arn: task_definition, registered, page } =
        ecs::ensure_task_definition(&aws.ecs, &spec, &tag_set).await?;
    if registered {
        say(format!("registered {task_definition}"));
    }
    let service = ecs::ServiceSpec {
        cluster: names.cluster.clone(),
        name: names.service.clone(),
        task_definition: task_definition.clone(),
        desired_count: i32::try_from(config.task.count).unwrap_or(1),
        subnets: infra.network.subnets.clone(),
        security_group: infra.network.task_security_group.clone(),
        target_group_arn: infra.target_group_arn.clone(),
        port: APP_PORT,
    };
    let change = ecs::ensure_service(&aws.ecs, &service, &tag_set).await?;
    if let Some(deployment) = &change.deployment_id {
        let clock = Instant::now();
        say(format!("rolling out deployment {deployment}"));
        ecs::wait_rollout(
            &aws.ecs,
            &aws.logs,
            &service,
            &names.log_group,
            deployment,
            ROLLOUT_DEADLINE,
        )
        .await?;
        say(format!("rollout completed in {}", seconds(clock)));
    } else if change.changed {
        return Err(Error::failed(
            "ECS accepted the service change but reported no deployment to follow; run deploy again",
        ));
    } else {
        say("the service already runs this task definition");
    }

    let url = format!("http://{}/", infra.load_balancer.dns_name);
    let clock = Instant::now();
    verify(&url, page.as_deref(), config.expect.as_deref()).await?;
    say(format!(
        "{url} serves {} (verified in {}; deploy took {}, {} AWS API calls)",
        &release.commit[..12],
        seconds(clock),
        seconds(started),
        crate::aws::api_calls()
    ));

    // Anything written to the account counts: a listener, a rule, a route made again.
    let changed =
        release.pushed || registered || change.changed || crate::aws::deployment_writes() > 0;
    if config.json {
        let out = serde_json::json!({
            "url": url,
            "commit": release.commit,
            "image": release.image,
            "task_definition": task_definition,
            "changed": changed,
        });
        println!("{out}");
    } else {
        println!("{url}");
    }
    Ok(())
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
