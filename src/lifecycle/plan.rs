//! `plan` (and `deploy --dry-run`): what a deploy would do, resource by resource, and what it
//! would cost a month. It reads only: the AWS clients refuse every write before it is sent
//! (`aws::read_only`), no lock is taken, nothing is cloned or built. Each resource module
//! compares what it finds with what it wants in the same pure functions `deploy` acts on.

use crate::aws::change::{Action, Change, Diff};
use crate::aws::{Aws, alb, domain, ecr, ecs, iam, logs, network, owner, scaling, secrets};
use crate::config::Config;
use crate::cost;
use crate::deploy::{self, Release};
use crate::error::Result;
use crate::image::{APP_PORT, Engine};
use crate::lifecycle::live;
use crate::outcome::Outcome;
use crate::{say, source};

/// What a deploy would do.
pub struct Plan {
    pub changes: Vec<Change>,
    pub commit: String,
    /// Why an image would be built, or None: the service runs this commit's build.
    pub build: Option<String>,
    /// Whether a deploy would start a rollout.
    pub rollout: bool,
    /// Why a deploy would stop before changing anything (resources of another's, another app).
    pub blocked: Option<String>,
    pub cost: cost::Estimate,
    /// With `--min`/`--max`: the estimate at the fewest and at the most tasks.
    pub scaled_cost: Option<(cost::Estimate, cost::Estimate)>,
}

pub async fn plan(config: &Config, rebuild: bool) -> Result<Outcome> {
    let aws = Aws::connect(config.region.as_deref()).await?;
    crate::aws::read_only();
    say(format!(
        "planning a deploy of {} {} (reads only)",
        config.source.url, config.source.branch
    ));
    let plan = make(&aws, config, rebuild).await?;
    let out = serde_json::json!({
            "prefix": config.prefix,
            "region": aws.region,
            "commit": plan.commit,
            "changes": plan.changes.iter().map(Change::to_json).collect::<Vec<_>>(),
            "build": plan.build.is_some(),
            "build_reason": plan.build,
            "rollout": plan.rollout,
            "blocked": plan.blocked,
            "cost": plan.cost.to_json(),
            "cost_autoscaled": plan.scaled_cost.as_ref().map(|(fewest, most)| serde_json::json!({
                "min_tasks": config.task.scaling.map(|r| r.min),
                "min": fewest.to_json(),
                "max_tasks": config.task.scaling.map(|r| r.max),
                "max": most.to_json(),
            })),
            "api_calls": crate::aws::api_calls(),
            "writes": crate::aws::writes_tried(),
    });
    let mut text = vec![format!("plan for prefix {} in {}:", config.prefix, aws.region)];
    text.extend(plan.changes.iter().map(|change| format!("  {}", change.line())));
    let commit = &plan.commit[..12];
    text.push(match &plan.build {
        Some(why) => format!("  {:<10} image of {commit} ({why})", "build"),
        None => format!("  {:<10} image of {commit} (the service runs it)", "unchanged"),
    });
    text.push(match plan.rollout {
        true => format!("  {:<10} a new deployment of the service", "roll out"),
        false => format!("  {:<10} the service stays as it is", "no rollout"),
    });
    if let Some(why) = &plan.blocked {
        text.push(format!("deploy would stop here: {why}"));
    }
    text.extend(plan.cost.lines());
    if let (Some((fewest, most)), Some(range)) = (&plan.scaled_cost, config.task.scaling)
        && let (Some(low), Some(high)) = (fewest.total(), most.total())
    {
        text.push(format!(
            "  autoscaled: {low:.2} a month at {} tasks to {high:.2} at {}",
            range.min, range.max
        ));
    }
    crate::done(format!(
        "planned with {} AWS API calls, {} writes",
        crate::aws::api_calls(),
        crate::aws::writes_tried()
    ));
    Ok(Outcome { text, json: Some(out) })
}

/// Reads what is there and compares it with what a deploy wants.
pub async fn make(aws: &Aws, config: &Config, rebuild: bool) -> Result<Plan> {
    let names = &config.names;
    let tags = deploy::tags(config);
    let secrets = secrets::resolve(aws, &config.secrets).await?;
    let head = source::resolve_head(&config.source).await?;
    let survey = owner::survey(aws, config).await?;
    let blocked = survey.check_deploy(config).err().map(|e| e.message);
    let (network_changes, network) =
        network::plan(&aws.ec2, names, &tags, APP_PORT, config.domain.is_some()).await?;
    let vpc = network.as_ref().map(|n| n.vpc_id.clone());
    // `--domain`: the certificate and the name's records (the :443 listener is the ALB's).
    let (domain_changes, certificate) = match &config.domain {
        Some(name) => {
            let lb = alb::find_load_balancer(&aws.elb, &names.load_balancer).await?;
            let dns = lb.and_then(|l| l.dns_name);
            let adopt = config.adopt;
            domain::plan(&aws.acm, &aws.route53, name, &config.prefix, dns.as_deref(), adopt)
                .await?
        }
        None => (Vec::new(), None),
    };
    let https = config.domain.as_ref().map(|_| {
        certificate.as_ref().map_or("(the new certificate)".to_string(), |c| c.arn.clone())
    });
    let scaling_id = scaling::resource_id(&names.cluster, &names.service);
    let (lb, roles, log_group, repository, cluster, family, running, scaled) = tokio::try_join!(
        alb::plan(&aws.elb, names, vpc.as_deref(), https.as_deref()),
        iam::plan(&aws.iam, &names.execution_role, secrets.policy.as_deref()),
        logs::plan(&aws.logs, &names.log_group),
        ecr::plan(&aws.ecr, &names.image_repo, config.keep_images),
        ecs::find_cluster(&aws.ecs, &names.cluster),
        ecs::find_task_definition(&aws.ecs, &names.task_family),
        live::find(aws, config),
        scaling::find(&aws.autoscaling, &scaling_id),
    )?;
    let (repository, image_bytes) = repository;
    let ((lb, target_group, lb_arn), (roles, role_arn)) = (lb, roles);

    // The image: the service's, when it runs this commit's build (as deploy decides it, with
    // the local engine's base image when one answers), else a build.
    let engine = match Engine::configured() {
        Ok(configured) => configured.connect().await.ok(),
        Err(_) => None,
    };
    let release = match rebuild {
        true => None,
        false => deploy::running_release(config, engine.as_ref(), running.as_ref(), &head).await?,
    };
    let build = match (&release, &running) {
        (Some(_), _) => None,
        _ if rebuild => Some("--rebuild".to_string()),
        (None, Some(live)) => Some(match live.commit.as_deref() {
            Some(c) if c == head => "the service runs it built from other inputs".to_string(),
            Some(c) => format!("the service runs {}", &c[..c.len().min(12)]),
            None => "the service runs an image aws-app did not label".to_string(),
        }),
        (None, None) => Some("nothing runs yet".to_string()),
    };

    let mut changes = network_changes;
    changes.extend(lb);
    changes.extend(domain_changes);
    changes.extend(roles);
    changes.push(log_group);
    changes.push(repository);
    changes.push(Change::from_diff(
        format!("ECS cluster {}", names.cluster),
        cluster.is_some(),
        Diff::default(),
    ));
    let (task_definition, new_revision) = task_definition_change(
        config,
        &aws.region,
        family.as_ref(),
        release.as_ref(),
        role_arn,
        &secrets.secrets,
    );
    changes.push(task_definition);
    let label = match (&lb_arn, &target_group) {
        (Some(lb), Some(tg)) => scaling::resource_label(lb, tg)?,
        _ => "(the new load balancer's)".to_string(),
    };
    let wanted_scaling =
        config.task.scaling.map(|r| scaling::wanted(&scaling_id, &names.service, r, &label));
    let (service, rollout) = service_change(
        config,
        running.as_ref(),
        family.as_ref(),
        new_revision,
        network.as_ref(),
        target_group,
    );
    changes.push(service);
    changes.extend(scaling::plan(scaled.as_ref(), wanted_scaling.as_ref()));
    for found in survey.foreign() {
        let what = found.what();
        let named = |c: &&mut Change| {
            c.what == what
                || c.what.starts_with(&format!("{what}:"))
                || c.what.starts_with(&format!("{what} "))
        };
        match changes.iter_mut().find(named) {
            Some(change) => change.action = Action::Foreign,
            None => changes.push(Change::new(what, Action::Foreign)),
        }
    }
    let arm64 = match (&running, &engine) {
        (Some(live), _) => {
            live.task_definition.runtime_platform().and_then(|p| p.cpu_architecture())
                == Some(&aws_sdk_ecs::types::CpuArchitecture::Arm64)
        }
        (None, _) => std::env::consts::ARCH == "aarch64",
    };
    let usage = cost::Usage {
        region: aws.region.clone(),
        cpu: config.task.cpu,
        memory: config.task.memory,
        count: config.task.count,
        arm64,
        image_bytes,
        // A new network's load balancer is in two zones.
        load_balancer_zones: network.as_ref().map_or(2, |n| n.subnets.len() as u32),
    };
    // Autoscaled, the month costs what the range's ends cost.
    let scaled_cost = config.task.scaling.map(|range| {
        let at = |count| cost::estimate(&cost::Usage { count, ..usage.clone() });
        (at(range.min), at(range.max))
    });
    Ok(Plan {
        changes,
        commit: head,
        rollout: rollout || build.is_some(),
        build,
        blocked,
        cost: cost::estimate(&usage),
        scaled_cost,
    })
}

/// The task definition a deploy would run: the family's latest revision compared with the spec
/// (the running image's, or a new build's); whether a new revision would be registered.
fn task_definition_change(
    config: &Config,
    region: &str,
    latest: Option<&aws_sdk_ecs::types::TaskDefinition>,
    release: Option<&Release>,
    role_arn: Option<String>,
    secrets: &[(String, String)],
) -> (Change, bool) {
    let what = format!("task definition {}", config.names.task_family);
    let Some(latest) = latest else {
        return (Change::new(what, Action::Create), true);
    };
    let revision = format!("{what}:{}", latest.revision());
    let Some(release) = release else {
        // The build is not made by a plan, but what the configuration changes is known.
        let mut diff = Diff::default();
        diff.note("image → a new build");
        let variables = ecs::environment_of(latest);
        let differences = ecs::environment_diff("variable", &variables, &config.environment)
            .into_iter()
            .chain(ecs::environment_diff("secret", &secrets::secrets_of(latest), secrets));
        for difference in differences {
            diff.note(difference);
        }
        return (Change::from_diff(revision, true, diff), true);
    };
    let role = role_arn.unwrap_or_else(|| "(a new role)".to_string());
    let spec = deploy::task_spec(config, region, release, &role, secrets);
    let diff = ecs::task_definition_diff(latest, &spec);
    let new = !diff.is_empty();
    (Change::from_diff(revision, true, diff), new)
}

/// The service: created, or updated when its revision, count or network would differ; and
/// whether a rollout would start.
fn service_change(
    config: &Config,
    running: Option<&live::Live>,
    latest: Option<&aws_sdk_ecs::types::TaskDefinition>,
    new_revision: bool,
    network: Option<&network::Network>,
    target_group: Option<String>,
) -> (Change, bool) {
    let what = format!("ECS service {}", config.names.service);
    let Some(live) = running else {
        return (Change::new(what, Action::Create), true);
    };
    let revision = match (new_revision, latest.and_then(|t| t.task_definition_arn())) {
        (false, Some(arn)) => arn.to_string(),
        _ => format!("{}:(new revision)", config.names.task_family),
    };
    let network = network.cloned().unwrap_or_else(|| network::Network {
        vpc_id: String::new(),
        subnets: vec!["(new subnets)".to_string()],
        alb_security_group: String::new(),
        task_security_group: "(a new security group)".to_string(),
        own_vpc: false,
    });
    let spec =
        deploy::service_spec(config, &revision, &network, target_group.as_deref().unwrap_or(""));
    let diff = ecs::service_diff(&live.service, &spec);
    let failed = ecs::primary_deployment(&live.service)
        .and_then(|d| d.rollout_state())
        .is_some_and(|s| s.as_str() == "FAILED");
    let rollout = !diff.is_empty() || failed;
    (Change::from_diff(what, true, diff), rollout)
}
