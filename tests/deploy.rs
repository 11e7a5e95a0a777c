//! `deploy` end to end against real components: moto behind the strict layer as the AWS API, the
//! account's ECR registry served locally, the machine's Docker engine, and the test-only data
//! plane that runs the service's deployments and answers for the load balancer's DNS name
//! (tests/env/strict/layer.py).

use crate::support::*;

/// `names` of the resources a prefix owns, read back from moto.
pub fn load_balancers(
    moto: &Moto,
    name: &str,
) -> Vec<aws_sdk_elasticloadbalancingv2::types::LoadBalancer> {
    moto.run(async {
        let all = moto.elb.describe_load_balancers().send().await.expect("describe load balancers");
        all.load_balancers
            .unwrap_or_default()
            .into_iter()
            .filter(|lb| lb.load_balancer_name() == Some(name))
            .collect()
    })
}

fn task_definition_arns(moto: &Moto, family: &str) -> Vec<String> {
    moto.run(async {
        moto.ecs
            .list_task_definitions()
            .family_prefix(family)
            .send()
            .await
            .expect("list task definitions")
            .task_definition_arns
            .unwrap_or_default()
    })
}

/// One load balancer, target group, listener, service and task definition revision of the
/// prefix: no run made a second of anything.
fn assert_one_of_each(moto: &Moto, p: &str) {
    assert_one_of_each_but_revisions(moto, p, 1);
}

/// `assert_one_of_each`, with `revisions` task definition revisions.
pub fn assert_one_of_each_but_revisions(moto: &Moto, p: &str, revisions: usize) {
    let lbs = load_balancers(moto, &format!("{p}-aws-app"));
    assert_eq!(lbs.len(), 1);
    assert_eq!(task_definition_arns(moto, &format!("{p}-aws-app")).len(), revisions);
    moto.run(async {
        let tgs = moto.elb.describe_target_groups().send().await.expect("tgs");
        let name = format!("{p}-aws-app-tg");
        assert_eq!(
            tgs.target_groups().iter().filter(|t| t.target_group_name() == Some(&name)).count(),
            1
        );
        let arn = lbs[0].load_balancer_arn().expect("arn");
        let listeners =
            moto.elb.describe_listeners().load_balancer_arn(arn).send().await.expect("listeners");
        assert_eq!(listeners.listeners().len(), 1);
        let cluster = format!("{p}-aws-app");
        let services = moto.ecs.list_services().cluster(cluster).send().await.expect("services");
        assert_eq!(services.service_arns().len(), 1);
    });
}

#[test]
fn deploy_serves_the_app_configures_everything_and_a_rerun_changes_nothing() {
    let Scenario { env, moto, fixture, prefix, url } = Scenario::new("deploy");
    let p = prefix.as_str();

    let run = env.aws_app(&["deploy", "--json", "--repo", &url, "--prefix", p]);
    assert_eq!(run.code, 0, "{run:?}");
    let out = run.json();
    let lb = &load_balancers(&moto, &format!("{p}-aws-app"))[0];
    let dns = lb.dns_name().expect("dns");
    assert_eq!(out["url"], format!("http://{dns}/"));
    assert_eq!(out["commit"], fixture.head());
    assert_eq!(out["changed"], true);
    let image = out["image"].as_str().expect("image");
    // Pushed to the account's ECR registry with ECR's login, as a real user's deploy does.
    assert!(image.starts_with(&format!("{ECR_HOST}/{p}-aws-app@sha256:")), "{image}");
    // What real AWS does on a first deploy, and the tool's answers: the new role is not known
    // to IAM at once, the new load balancer provisions before its name answers.
    assert!(run.stderr.contains("NoSuchEntity (not settled yet; retrying)"), "{run:?}");
    assert!(run.stderr.contains("the load balancer is provisioning"), "{run:?}");

    // The printed URL serves the fixture's page (through the data plane).
    let (status, body) = env.get(out["url"].as_str().expect("url"));
    assert_eq!(status, 200);
    assert!(body.contains("Hello World!"), "{body}");

    moto.run(async {
        let task_sg =
            security_groups_let_only_the_load_balancer_reach_the_tasks(&moto, p, lb).await;
        let tg = the_target_group_is_tuned_and_the_listener_forwards_to_it(&moto, p, lb).await;
        let td =
            the_service_runs_on_fargate_behind_the_target_group(&moto, p, lb, &task_sg, &tg).await;
        the_task_definition_runs_the_pushed_image_with_logs_and_its_role(&moto, p, &td, image)
            .await;
        the_repository_and_the_log_group_are_configured(&moto, p).await;
    });

    // A second deploy with nothing new: no build, no new revision, no deployment, same URL.
    let revisions = task_definition_arns(&moto, &format!("{p}-aws-app"));
    assert_eq!(revisions.len(), 1);
    let again = env.aws_app(&["deploy", "--json", "--repo", &url, "--prefix", p]);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(again.json()["url"], out["url"]);
    assert_eq!(again.json()["changed"], false, "{again:?}");
    assert!(again.stderr.contains("nothing to build"), "{again:?}");
    assert!(!again.stderr.contains("Step 1/"), "no image build: {again:?}");
    assert_eq!(task_definition_arns(&moto, &format!("{p}-aws-app")), revisions);
    assert_eq!(load_balancers(&moto, &format!("{p}-aws-app")).len(), 1);

    // A new commit: a new revision, the service moved to it, the URL serves the new page.
    let mut fixture = fixture;
    fixture.write("app.py", &APP_PY.replace("Hello World!", "Hello again!"));
    let second = fixture.commit("Change the greeting");
    let update = env.aws_app(&["deploy", "--json", "--repo", &url, "--prefix", p]);
    assert_eq!(update.code, 0, "{update:?}");
    assert_eq!(update.json()["commit"], second);
    assert_eq!(update.json()["changed"], true);
    assert_eq!(update.json()["url"], out["url"]);
    let revisions = task_definition_arns(&moto, &format!("{p}-aws-app"));
    assert_eq!(revisions.len(), 2, "one new revision");
    assert_eq!(update.json()["task_definition"], revisions[1]);
    assert_eq!(moto.service_task_definition(p), revisions[1], "the service runs the new revision");
    let (status, body) = env.get(out["url"].as_str().expect("url"));
    assert_eq!(status, 200);
    assert!(body.contains("Hello again!"), "the URL serves the new commit: {body}");
}

/// What the first deploy made is checked resource by resource, each a named check of moto's
/// answers (below).
type Lb = aws_sdk_elasticloadbalancingv2::types::LoadBalancer;

/// Security groups: the ALB's takes :80 from anywhere; the tasks' only from the ALB's; the load
/// balancer is internet-facing in them. The tasks' group ID.
async fn security_groups_let_only_the_load_balancer_reach_the_tasks(
    moto: &Moto,
    p: &str,
    lb: &Lb,
) -> String {
    use aws_sdk_ec2::types::Filter;
    let tagged = |tags: Option<&[aws_sdk_ec2::types::Tag]>| {
        tags.unwrap_or_default()
            .iter()
            .any(|t| t.key() == Some("aws-app:prefix") && t.value() == Some(p))
    };
    let groups = moto
        .ec2
        .describe_security_groups()
        .filters(
            Filter::builder()
                .name("group-name")
                .values(format!("{p}-aws-app-alb"))
                .values(format!("{p}-aws-app-tasks"))
                .build(),
        )
        .send()
        .await
        .expect("security groups")
        .security_groups
        .unwrap_or_default();
    assert_eq!(groups.len(), 2, "{groups:?}");
    let alb_sg = groups
        .iter()
        .find(|g| g.group_name() == Some(&format!("{p}-aws-app-alb")))
        .expect("alb sg");
    let task_sg = groups
        .iter()
        .find(|g| g.group_name() == Some(&format!("{p}-aws-app-tasks")))
        .expect("task sg");
    assert!(tagged(Some(alb_sg.tags())) && tagged(Some(task_sg.tags())));
    let alb_rule = &alb_sg.ip_permissions()[0];
    assert_eq!((alb_rule.from_port(), alb_rule.to_port()), (Some(80), Some(80)));
    assert_eq!(alb_rule.ip_ranges()[0].cidr_ip(), Some("0.0.0.0/0"));
    assert_eq!(alb_rule.ipv6_ranges()[0].cidr_ipv6(), Some("::/0"));
    let task_rules = task_sg.ip_permissions();
    assert_eq!(task_rules.len(), 1);
    assert_eq!((task_rules[0].from_port(), task_rules[0].to_port()), (Some(8000), Some(8000)));
    assert!(
        task_rules[0].ip_ranges().is_empty() && task_rules[0].ipv6_ranges().is_empty(),
        "no CIDR may reach the tasks"
    );
    assert_eq!(task_rules[0].user_id_group_pairs()[0].group_id(), alb_sg.group_id());
    assert_eq!(lb.security_groups(), [alb_sg.group_id().expect("id").to_string()]);
    assert_eq!(lb.scheme().map(|s| s.as_str()), Some("internet-facing"));
    assert!(lb.availability_zones().len() >= 2, "the default VPC's zones");
    task_sg.group_id().expect("id").to_string()
}

/// Target group: type ip, health check on /, tuned; listener :80 forwards to it. The target
/// group's ARN.
async fn the_target_group_is_tuned_and_the_listener_forwards_to_it(
    moto: &Moto,
    p: &str,
    lb: &Lb,
) -> String {
    let tg = moto
        .elb
        .describe_target_groups()
        .names(format!("{p}-aws-app-tg"))
        .send()
        .await
        .expect("tg");
    let tg = &tg.target_groups()[0];
    assert_eq!(tg.target_type().map(|t| t.as_str()), Some("ip"));
    assert_eq!(tg.port(), Some(8000));
    assert_eq!(tg.health_check_path(), Some("/"));
    assert_eq!(tg.health_check_interval_seconds(), Some(5));
    assert_eq!(tg.health_check_timeout_seconds(), Some(4));
    assert_eq!((tg.healthy_threshold_count(), tg.unhealthy_threshold_count()), (Some(2), Some(3)));
    let attributes = moto
        .elb
        .describe_target_group_attributes()
        .target_group_arn(tg.target_group_arn().expect("arn"))
        .send()
        .await
        .expect("attributes");
    let delay = attributes
        .attributes()
        .iter()
        .find(|a| a.key() == Some("deregistration_delay.timeout_seconds"))
        .and_then(|a| a.value());
    assert_eq!(delay, Some("15"));
    let listeners = moto
        .elb
        .describe_listeners()
        .load_balancer_arn(lb.load_balancer_arn().expect("arn"))
        .send()
        .await
        .expect("listeners");
    assert_eq!(listeners.listeners().len(), 1);
    let listener = &listeners.listeners()[0];
    assert_eq!(listener.port(), Some(80));
    assert_eq!(listener.default_actions()[0].target_group_arn(), tg.target_group_arn());
    let lb_tags = moto
        .elb
        .describe_tags()
        .resource_arns(lb.load_balancer_arn().expect("arn"))
        .send()
        .await
        .expect("tags");
    assert!(
        lb_tags.tag_descriptions()[0]
            .tags()
            .iter()
            .any(|t| t.key() == Some("aws-app:prefix") && t.value() == Some(p))
    );
    tg.target_group_arn().expect("arn").to_string()
}

/// Service: Fargate, awsvpc in the two subnets with the tasks' group, behind the target group.
/// Its task definition's ARN.
async fn the_service_runs_on_fargate_behind_the_target_group(
    moto: &Moto,
    p: &str,
    lb: &Lb,
    task_sg: &str,
    tg_arn: &str,
) -> String {
    let services = moto
        .ecs
        .describe_services()
        .cluster(format!("{p}-aws-app"))
        .services(format!("{p}-aws-app"))
        .send()
        .await
        .expect("service");
    let service = &services.services()[0];
    assert_eq!(service.launch_type().map(|l| l.as_str()), Some("FARGATE"));
    assert_eq!(service.desired_count(), 1);
    let vpc =
        service.network_configuration().and_then(|n| n.awsvpc_configuration()).expect("awsvpc");
    assert_eq!(vpc.subnets().len(), lb.availability_zones().len(), "the load balancer's subnets");
    assert_eq!(vpc.security_groups(), [task_sg.to_string()]);
    assert_eq!(vpc.assign_public_ip().map(|a| a.as_str()), Some("ENABLED"));
    let attachment = &service.load_balancers()[0];
    assert_eq!(attachment.target_group_arn(), Some(tg_arn));
    assert_eq!(
        (attachment.container_name(), attachment.container_port()),
        (Some("app"), Some(8000))
    );
    // (moto drops deploymentConfiguration and the grace period on create: the circuit
    // breaker itself is covered by the unit tests of the rollout.)
    service.task_definition().expect("td").to_string()
}

/// Task definition: the pushed digest, Fargate, the image's architecture, awslogs, role.
async fn the_task_definition_runs_the_pushed_image_with_logs_and_its_role(
    moto: &Moto,
    p: &str,
    td_arn: &str,
    image: &str,
) {
    let td = moto.ecs.describe_task_definition().task_definition(td_arn).send().await.expect("td");
    let td = td.task_definition().expect("td");
    assert_eq!(
        td.requires_compatibilities().iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        ["FARGATE"]
    );
    assert_eq!(td.network_mode().map(|n| n.as_str()), Some("awsvpc"));
    assert_eq!((td.cpu(), td.memory()), (Some("256"), Some("512")));
    assert_eq!(
        td.runtime_platform().and_then(|r| r.cpu_architecture()).map(|a| a.as_str()),
        Some("X86_64")
    );
    let container = &td.container_definitions()[0];
    assert_eq!(container.image(), Some(image));
    assert_eq!(container.port_mappings()[0].container_port(), Some(8000));
    let log = container.log_configuration().expect("logs");
    assert_eq!(log.log_driver().as_str(), "awslogs");
    assert_eq!(
        log.options().and_then(|o| o.get("awslogs-group")).map(String::as_str),
        Some(format!("/aws-app/{p}").as_str())
    );
    let role = moto
        .iam
        .get_role()
        .role_name(format!("{p}-aws-app-task-execution"))
        .send()
        .await
        .expect("role");
    assert_eq!(td.execution_role_arn(), Some(role.role().expect("role").arn()));
    let policies = moto
        .iam
        .list_attached_role_policies()
        .role_name(format!("{p}-aws-app-task-execution"))
        .send()
        .await
        .expect("policies");
    assert!(
        policies
            .attached_policies()
            .iter()
            .any(|a| a.policy_name() == Some("AmazonECSTaskExecutionRolePolicy"))
    );
    assert!(
        role.role()
            .expect("role")
            .tags()
            .iter()
            .any(|t| t.key() == "aws-app:prefix" && t.value() == p)
    );
}

/// ECR: scan on push, immutable tags, lifecycle policy; log group with retention.
async fn the_repository_and_the_log_group_are_configured(moto: &Moto, p: &str) {
    let repo = moto
        .ecr
        .describe_repositories()
        .repository_names(format!("{p}-aws-app"))
        .send()
        .await
        .expect("repo");
    let repo = &repo.repositories()[0];
    assert_eq!(repo.image_tag_mutability().map(|m| m.as_str()), Some("IMMUTABLE"));
    assert_eq!(repo.image_scanning_configuration().map(|c| c.scan_on_push()), Some(true));
    let policy = moto
        .ecr
        .get_lifecycle_policy()
        .repository_name(format!("{p}-aws-app"))
        .send()
        .await
        .expect("lifecycle");
    assert!(policy.lifecycle_policy_text().unwrap_or_default().contains("\"countNumber\":10"));
    let groups = moto
        .logs
        .describe_log_groups()
        .log_group_name_prefix(format!("/aws-app/{p}"))
        .send()
        .await
        .expect("log groups");
    assert_eq!(groups.log_groups()[0].retention_in_days(), Some(30));
}

#[test]
fn an_interrupted_deploy_converges_when_run_again() {
    let Scenario { env, moto, fixture: _fixture, prefix, url } = Scenario::new("interrupt");
    let p = prefix.as_str();
    // The load balancer exists; the service does not yet (it needs the pushed image).
    env.kill_at(&["deploy", "--repo", &url, "--prefix", p], "aws-app: infrastructure ready");
    assert_eq!(load_balancers(&moto, &format!("{p}-aws-app")).len(), 1);

    let run = env.aws_app(&["deploy", "--json", "--repo", &url, "--prefix", p]);
    assert_eq!(run.code, 0, "{run:?}");
    let (status, body) = env.get(run.json()["url"].as_str().expect("url"));
    assert_eq!(status, 200);
    assert!(body.contains("Hello World!"));
    assert_one_of_each(&moto, p);
}

#[test]
fn missing_credentials_region_or_room_for_names_exit_2_creating_nothing() {
    let env = aws_env();
    let moto = env.clients();
    let fixture = Fixture::new(APP_PY);
    let url = fixture.url();
    let without = |drop: &[&str], prefix: &str| {
        let vars: Vec<(&str, String)> =
            env.tool_env().into_iter().filter(|(k, _)| !drop.contains(k)).collect();
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        aws_app(&["deploy", "--repo", &url, "--prefix", prefix], &vars)
    };
    let run = without(&["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"], "nocreds");
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.last_stderr_line().contains("no AWS credentials found"), "{run:?}");
    assert!(run.last_stderr_line().contains("aws configure"), "{run:?}");
    let run = without(&["AWS_REGION"], "noregion");
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.last_stderr_line().contains("no AWS region: pass --region"), "{run:?}");
    let mut vars: Vec<(&str, String)> = env.tool_env();
    vars.retain(|(k, _)| *k != "AWS_ENDPOINT_URL");
    vars.push(("AWS_ENDPOINT_URL", String::new()));
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = aws_app(&["deploy", "--repo", &url, "--prefix", "noendpoint"], &vars);
    assert_eq!(run.code, 2, "an empty endpoint variable is bad input, not a panic: {run:?}");
    assert!(run.last_stderr_line().contains("AWS_ENDPOINT_URL is set to ''"), "{run:?}");
    let long = "a-very-long-team-prefix";
    let run = without(&[], long);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.last_stderr_line().contains("is too long"), "{run:?}");
    for run_prefix in ["nocreds", "noregion", "noendpoint", long] {
        assert!(load_balancers(&moto, &format!("{run_prefix}-aws-app")).is_empty());
        moto.run(async {
            let repo = moto
                .ecr
                .describe_repositories()
                .repository_names(format!("{run_prefix}-aws-app"))
                .send()
                .await;
            let missing = repo
                .err()
                .is_some_and(|e| e.into_service_error().is_repository_not_found_exception());
            assert!(missing, "no ECR repository for {run_prefix}");
        });
        let images = docker(&["images", "-q", &format!("{run_prefix}-aws-app")]);
        assert!(images.trim().is_empty(), "nothing built for {run_prefix}");
    }
}

#[test]
fn without_a_default_vpc_deploy_makes_a_public_vpc_of_its_own() {
    let env = aws_env();
    // us-west-2 of moto, with its default VPC removed (subnets first).
    let moto = env.clients_in("us-west-2");
    moto.run(async {
        use aws_sdk_ec2::types::Filter;
        let default = moto
            .ec2
            .describe_vpcs()
            .filters(Filter::builder().name("isDefault").values("true").build())
            .send()
            .await
            .expect("vpcs");
        for vpc in default.vpcs() {
            let vpc_id = vpc.vpc_id().expect("id");
            let subnets = moto
                .ec2
                .describe_subnets()
                .filters(Filter::builder().name("vpc-id").values(vpc_id).build())
                .send()
                .await
                .expect("subnets");
            for subnet in subnets.subnets() {
                moto.ec2
                    .delete_subnet()
                    .subnet_id(subnet.subnet_id().expect("id"))
                    .send()
                    .await
                    .expect("delete subnet");
            }
            moto.ec2.delete_vpc().vpc_id(vpc_id).send().await.expect("delete default vpc");
        }
    });

    let fixture = Fixture::new(APP_PY);
    let prefix = Prefix::new("ownvpc");
    let p = prefix.as_str();
    let url = fixture.url();
    let run =
        env.aws_app(&["deploy", "--json", "--region", "us-west-2", "--repo", &url, "--prefix", p]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("no default VPC: creating"), "{run:?}");
    // The gateway attached a moment ago is not yet known to ELB: the load balancer waits.
    assert!(run.stderr.contains("InvalidSubnet (not settled yet; retrying)"), "{run:?}");
    let (status, body) = env.get(run.json()["url"].as_str().expect("url"));
    assert_eq!((status, body.contains("Hello World!")), (200, true));

    moto.run(async {
        use aws_sdk_ec2::types::Filter;
        let tag = Filter::builder().name("tag:aws-app:prefix").values(p).build();
        let vpcs = moto.ec2.describe_vpcs().filters(tag.clone()).send().await.expect("vpcs");
        assert_eq!(vpcs.vpcs().len(), 1, "one VPC of aws-app's own");
        let vpc_id = vpcs.vpcs()[0].vpc_id().expect("id").to_string();
        let subnets = moto
            .ec2
            .describe_subnets()
            .filters(Filter::builder().name("vpc-id").values(&vpc_id).build())
            .send()
            .await
            .expect("subnets");
        assert_eq!(subnets.subnets().len(), 2);
        let zones: std::collections::HashSet<_> = subnets
            .subnets()
            .iter()
            .map(|s| s.availability_zone().expect("az").to_string())
            .collect();
        assert_eq!(zones.len(), 2, "two availability zones");
        assert!(subnets.subnets().iter().all(|s| s.map_public_ip_on_launch() == Some(true)));
        let igws = moto
            .ec2
            .describe_internet_gateways()
            .filters(Filter::builder().name("attachment.vpc-id").values(&vpc_id).build())
            .send()
            .await
            .expect("igw");
        assert_eq!(igws.internet_gateways().len(), 1);
        let tables =
            moto.ec2.describe_route_tables().filters(tag).send().await.expect("route tables");
        let routes = tables.route_tables()[0].routes();
        assert!(
            routes.iter().any(
                |r| r.destination_cidr_block() == Some("0.0.0.0/0") && r.gateway_id().is_some()
            )
        );
        assert_eq!(tables.route_tables()[0].associations().len(), 2, "both subnets routed");
    });
    // Run again: the same VPC is found, nothing new.
    let again =
        env.aws_app(&["deploy", "--json", "--region", "us-west-2", "--repo", &url, "--prefix", p]);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(again.json()["changed"], false);
    assert!(!again.stderr.contains("no default VPC: creating"), "{again:?}");
}

#[test]
fn ecr_says_whether_an_image_is_there_and_what_its_scan_found() {
    // The check deploy makes against real ECR (the tests push to a local registry instead).
    let env = aws_env();
    let moto = env.clients();
    let repo = format!("{}-aws-app", Prefix::new("ecrcheck").as_str());
    moto.run(async {
        moto.ecr.create_repository().repository_name(&repo).send().await.expect("repo");
        let missing = aws_app::aws::ecr::has_image(&moto.ecr, &repo, "0123abcd").await.expect("typed not found");
        assert!(!missing);
        let manifest = r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":2,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},"layers":[]}"#;
        moto.ecr.put_image().repository_name(&repo).image_tag("0123abcd").image_manifest(manifest).send().await.expect("put image");
        assert!(aws_app::aws::ecr::has_image(&moto.ecr, &repo, "0123abcd").await.expect("found"));
        let err = aws_app::aws::ecr::has_image(&moto.ecr, "no-such-repo", "x").await.expect_err("no repository");
        assert_eq!(err.exit_code(), 1);

        // ECR's scan of the image, as deploy and status summarize it: none before a scan, the
        // CRITICAL/HIGH counts after (moto's scan finds one HIGH).
        let put = moto.ecr.describe_images().repository_name(&repo).send().await.expect("images");
        let digest = put.image_details()[0].image_digest().expect("digest").to_string();
        assert_eq!(aws_app::aws::ecr::scan_summary(&moto.ecr, &repo, &digest).await, None);
        let image = aws_sdk_ecr::types::ImageIdentifier::builder().image_digest(&digest).build();
        moto.ecr.start_image_scan().repository_name(&repo).image_id(image).send().await.expect("scan");
        let scan = aws_app::aws::ecr::scan_summary(&moto.ecr, &repo, &digest).await.expect("a scan");
        assert_eq!((scan.status.as_str(), scan.critical, scan.high), ("COMPLETE", 0, 1));
        assert_eq!(scan.to_string(), "0 critical, 1 high");
        moto.ecr.delete_repository().repository_name(&repo).force(true).send().await.expect("cleanup");
    });
}

#[test]
fn a_deploy_on_a_terminal_shows_bytes_pushed_and_what_each_wait_waits_for() {
    let Scenario { env, fixture: _fixture, prefix, url, .. } = Scenario::new("ttydeploy");
    let p = prefix.as_str();
    let run = env.aws_app_on_a_terminal(&["deploy", "--repo", &url, "--prefix", p]);
    assert_eq!(run.code, 0, "{run:?}");
    let shown = drawings(&run.stdout);
    let drawn = |step: &str, detail: &str| {
        shown.iter().any(|s| s.contains(step) && s.contains(" · ") && s.contains(detail))
    };
    assert!(drawn("pushing ", " pushed"), "bytes pushed: {shown:#?}");
    assert!(shown.iter().any(|s| s.contains(" MB of ")), "bytes pushed: {shown:#?}");
    assert!(drawn("rolling out ecs-svc/", "rollout: "), "{shown:#?}");
    assert!(
        shown.iter().any(|s| s.contains("checking that http://")),
        "the URL's wait: {shown:#?}"
    );
    assert!(shown.iter().any(|s| s.starts_with("aws-app: rollout completed in ")), "{shown:#?}");
    let served = shown.iter().position(|s| s.contains(" serves ") && s.contains("verified in"));
    assert!(served.is_some(), "{shown:#?}");
    let printed = shown.last().expect("the URL").trim();
    assert!(printed.starts_with("http://") && printed.ends_with('/'), "{shown:#?}");
    assert_eq!(env.aws_app(&["destroy", "--yes", "--prefix", p]).code, 0);
}

#[test]
fn variables_reach_the_container_and_a_change_of_them_alone_rolls_out_without_a_build() {
    let app = APP_PY.replace(
        "\"<h1>Hello World!</h1>",
        "\"<h1>\" + os.environ.get(\"GREETING\", \"no greeting\") + \"</h1>",
    );
    let Scenario { env, moto, fixture: _fixture, prefix, url } = Scenario::with_app("vars", &app);
    let p = prefix.as_str();
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("app.env");
    std::fs::write(&file, "# the app's\nexport GREETING=\"from the file\"\nWEB_CONCURRENCY=2\n")
        .expect("env file");
    let file = file.to_str().expect("path");
    let deploy = |args: &[&str]| {
        let mut all = vec!["deploy", "--json", "--repo", &url, "--prefix", p];
        all.extend_from_slice(args);
        let run = env.aws_app(&all);
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
        run
    };
    let page = |run: &Run| env.get(run.json()["url"].as_str().expect("url")).1;

    // Bad variables are bad input before anything is made.
    let bad = env.aws_app(&["deploy", "--repo", &url, "--prefix", p, "--env", "PORT=9000"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.last_stderr_line().contains("PORT is aws-app's"), "{bad:?}");
    assert!(load_balancers(&moto, &format!("{p}-aws-app")).is_empty(), "nothing made");

    // The file's variables, one overridden by --env: in the smoke test (the URL check compares
    // its page), the task definition and the running container.
    let first = deploy(&["--env-file", file, "--env", "GREETING=Hello variables!"]);
    assert!(page(&first).contains("<h1>Hello variables!</h1>"), "{}", page(&first));
    let td = moto.service_task_definition(p);
    let vars = moto.run(async {
        let out = moto.ecs.describe_task_definition().task_definition(&td).send().await;
        let td = out.expect("td").task_definition.expect("td");
        aws_app::aws::ecs::environment_of(&td)
    });
    let expected = [("GREETING", "Hello variables!"), ("WEB_CONCURRENCY", "2")]
        .map(|(k, v)| (k.into(), v.into()));
    assert_eq!(vars, expected.to_vec());
    let status = env.aws_app(&["status", "--json", "--prefix", p]);
    assert_eq!(status.json()["environment"]["WEB_CONCURRENCY"], "2", "{status:?}");
    let text = env.aws_app(&["status", "--prefix", p]);
    assert!(text.stdout.contains("variables  GREETING, WEB_CONCURRENCY"), "{text:?}");

    // Only a variable changes: the plan says so, and the deploy registers a revision and rolls
    // it out without building; the URL serves the new value.
    let plan = env.aws_app(&[
        "plan",
        "--json",
        "--repo",
        &url,
        "--prefix",
        p,
        "--env-file",
        file,
        "--env",
        "GREETING=Changed",
    ]);
    let plan = plan.json();
    assert_eq!(plan["build"], false, "{plan}");
    assert_eq!(plan["rollout"], true, "{plan}");
    let td_change = plan["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .find(|c| c["resource"].as_str().unwrap_or("").starts_with("task definition"));
    let td_change = td_change.expect("task definition");
    assert_eq!(td_change["differences"], serde_json::json!(["variable GREETING changed"]));
    let changed = deploy(&["--env-file", file, "--env", "GREETING=Changed"]);
    assert!(changed.stderr.contains("nothing to build"), "{changed:?}");
    assert!(!changed.stderr.contains("Step 1/"), "no image build: {changed:?}");
    assert_eq!(changed.json()["changed"], true);
    assert_eq!(task_definition_arns(&moto, &format!("{p}-aws-app")).len(), 2);
    assert!(page(&changed).contains("<h1>Changed</h1>"), "{}", page(&changed));

    // redeploy: the same variables are up to date; without them, the service is moved to none.
    let same = env.aws_app(&[
        "redeploy",
        "--json",
        "--repo",
        &url,
        "--prefix",
        p,
        "--env-file",
        file,
        "--env",
        "GREETING=Changed",
    ]);
    assert_eq!(same.code, 0, "{same:?}");
    assert_eq!(same.json()["changed"], false, "{same:?}");
    let none = env.aws_app(&["redeploy", "--json", "--repo", &url, "--prefix", p]);
    assert_eq!(none.code, 0, "{none:?}");
    assert!(none.stderr.contains("runs other variables"), "{none:?}");
    assert!(page(&none).contains("<h1>no greeting</h1>"), "{}", page(&none));
    assert_eq!(env.aws_app(&["destroy", "--yes", "--prefix", p]).code, 0);
}
