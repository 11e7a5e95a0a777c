//! Ownership: aws-app updates or deletes only what carries its prefix's tags. A name is not
//! proof: two operators may pick the same prefix in one account, and a resource of the same
//! name may be another tool's. Before a deploy or destroy writes anything, `survey` finds every
//! resource of the prefix's names with its tags; one without `aws-app:prefix=<prefix>` and
//! `managed-by=aws-app` stops a deploy (exit 2) unless `--adopt` takes it over, and is left
//! alone by destroy. Resources found by tag (the VPC aws-app made, its security groups, an EC2
//! builder's instance) are the prefix's by how they are found.
//!
//! The survey also reads which app source the prefix runs (the service's task definition
//! label): a deploy of another `--repo` under the same prefix is refused unless
//! `--replace-app`, since everything it would touch is named by the prefix alone.

use aws_sdk_ec2::types::Filter;
use aws_sdk_ecs::types::{ClusterField, ServiceField, TaskDefinitionField};

use super::{Aws, TAG_MANAGED, TAG_PREFIX, Tags, failed};
use crate::config::Config;
use crate::error::{Error, Result};

/// The task definition label naming the app source a revision was built from.
pub const SOURCE_LABEL: &str = "dev.aws-app.source";

/// How a resource is tagged when adopted.
#[derive(Debug, Clone)]
enum Handle {
    Ecr(String),
    Elb(String),
    Ecs(String),
    Role(String),
    Profile(String),
    Logs(String),
    /// Found by tag: ours by construction.
    Tagged,
}

/// What kind of resource a `Found` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Repository,
    LoadBalancer,
    TargetGroup,
    Cluster,
    Service,
    TaskFamily,
    Role,
    InstanceProfile,
    LogGroup,
    SecurityGroup,
    Vpc,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Repository => "ECR repository",
            Kind::LoadBalancer => "load balancer",
            Kind::TargetGroup => "target group",
            Kind::Cluster => "ECS cluster",
            Kind::Service => "ECS service",
            Kind::TaskFamily => "task definition",
            Kind::Role => "IAM role",
            Kind::InstanceProfile => "IAM instance profile",
            Kind::LogGroup => "log group",
            Kind::SecurityGroup => "security group",
            Kind::Vpc => "VPC",
        }
    }
}

/// One resource of the prefix's names (or tags), found in the account.
#[derive(Debug, Clone)]
pub struct Found {
    pub kind: Kind,
    pub name: String,
    /// Whether it carries this prefix's tags.
    pub ours: bool,
    handle: Handle,
}

impl Found {
    fn new(kind: Kind, name: &str, ours: bool, handle: Handle) -> Found {
        Found { kind, name: name.to_string(), ours, handle }
    }

    /// As a person reads it: `load balancer it-ann-aws-app`.
    pub fn what(&self) -> String {
        format!("{} {}", self.kind.label(), self.name)
    }
}

/// What the account holds under the prefix's names.
#[derive(Debug, Default)]
pub struct Survey {
    pub found: Vec<Found>,
    /// The app source the live service runs, when it says.
    pub source: Option<String>,
}

/// Whether a tag set is this prefix's.
pub fn is_ours<'a>(tags: impl IntoIterator<Item = (&'a str, &'a str)>, prefix: &str) -> bool {
    let (mut prefixed, mut managed) = (false, false);
    for (key, value) in tags {
        prefixed |= key == TAG_PREFIX && value == prefix;
        managed |= key == TAG_MANAGED && value == "aws-app";
    }
    prefixed && managed
}

/// A repository URL as two spellings of one source compare equal (`.git`, a trailing `/`).
fn same_source(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.trim().trim_end_matches('/').trim_end_matches(".git").to_string();
    norm(a) == norm(b)
}

impl Survey {
    fn find(&self, kind: Kind, name: &str) -> impl Iterator<Item = &Found> {
        self.found.iter().filter(move |f| f.kind == kind && f.name == name)
    }

    /// Whether the resource `name` of `kind` may be changed: it is the prefix's, or not there.
    pub fn may_change(&self, kind: Kind, name: &str) -> bool {
        self.find(kind, name).all(|f| f.ours)
    }

    /// Whether the resource `name` of `kind` is there and the prefix's.
    pub fn owns(&self, kind: Kind, name: &str) -> bool {
        self.find(kind, name).any(|f| f.ours)
    }

    /// The ARN of the load balancer or target group `name`, when found and the prefix's.
    pub fn elb_arn(&self, kind: Kind, name: &str) -> Option<&str> {
        self.find(kind, name).find_map(|f| match &f.handle {
            Handle::Elb(arn) if f.ours => Some(arn.as_str()),
            _ => None,
        })
    }

    pub fn foreign(&self) -> impl Iterator<Item = &Found> {
        self.found.iter().filter(|f| !f.ours)
    }

    /// A deploy's check: every resource found is ours (or `--adopt`), and the prefix runs this
    /// app source (or `--replace-app`). Exit 2 naming what is in the way and the ways out.
    pub fn check_deploy(&self, config: &Config) -> Result<()> {
        let foreign: Vec<String> = self.foreign().map(Found::what).collect();
        if !foreign.is_empty() && !config.adopt {
            return Err(Error::input(format!(
                "{} already exist{} without the tags of prefix {} (aws-app:prefix={}, \
                 managed-by=aws-app): another deployment's or another tool's; nothing was \
                 changed. Choose another --prefix, or pass --adopt to let aws-app manage \
                 (update, and on destroy delete) {}",
                foreign.join(", "),
                if foreign.len() == 1 { "s" } else { "" },
                config.prefix,
                config.prefix,
                if foreign.len() == 1 { "it" } else { "them" },
            )));
        }
        if let Some(running) = &self.source
            && !same_source(running, &config.source.url)
            && !config.replace_app
        {
            return Err(Error::input(format!(
                "prefix {} runs the app of {running}, not {}: nothing was changed. Choose \
                 another --prefix for this app, or pass --replace-app to replace that app \
                 with this one",
                config.prefix, config.source.url
            )));
        }
        Ok(())
    }

    /// `--adopt`: puts the prefix's tags on what is found without them.
    pub async fn adopt(&self, aws: &Aws, tags: &Tags) -> Result<()> {
        for found in self.foreign() {
            crate::note(format!("--adopt: tagging {} as prefix {}'s", found.what(), tags.prefix));
            let pairs = tags.pairs();
            let step = format!("tagging {}", found.what());
            match &found.handle {
                Handle::Ecr(arn) => {
                    let mut call = aws.ecr.tag_resource().resource_arn(arn);
                    for (k, v) in &pairs {
                        let tag = aws_sdk_ecr::types::Tag::builder().key(*k).value(v).build();
                        call = call.tags(tag.map_err(|e| Error::failed(format!("tag: {e}")))?);
                    }
                    call.send().await.map_err(|e| failed(&step, e))?;
                }
                Handle::Elb(arn) => {
                    let mut call = aws.elb.add_tags().resource_arns(arn);
                    for (k, v) in &pairs {
                        call = call.tags(
                            aws_sdk_elasticloadbalancingv2::types::Tag::builder()
                                .key(*k)
                                .value(v)
                                .build(),
                        );
                    }
                    call.send().await.map_err(|e| failed(&step, e))?;
                }
                Handle::Ecs(arn) => {
                    let mut call = aws.ecs.tag_resource().resource_arn(arn);
                    for (k, v) in &pairs {
                        call =
                            call.tags(aws_sdk_ecs::types::Tag::builder().key(*k).value(v).build());
                    }
                    call.send().await.map_err(|e| failed(&step, e))?;
                }
                Handle::Role(name) | Handle::Profile(name) => {
                    let mut iam_tags = Vec::new();
                    for (k, v) in &pairs {
                        let tag = aws_sdk_iam::types::Tag::builder().key(*k).value(v).build();
                        iam_tags.push(tag.map_err(|e| Error::failed(format!("tag: {e}")))?);
                    }
                    if matches!(found.handle, Handle::Role(_)) {
                        let call = aws.iam.tag_role().role_name(name).set_tags(Some(iam_tags));
                        call.send().await.map_err(|e| failed(&step, e))?;
                    } else {
                        let call = aws.iam.tag_instance_profile().instance_profile_name(name);
                        let call = call.set_tags(Some(iam_tags));
                        call.send().await.map_err(|e| failed(&step, e))?;
                    }
                }
                Handle::Logs(arn) => {
                    let mut call = aws.logs.tag_resource().resource_arn(arn);
                    for (k, v) in &pairs {
                        call = call.tags(*k, v);
                    }
                    call.send().await.map_err(|e| failed(&step, e))?;
                }
                Handle::Tagged => {}
            }
        }
        Ok(())
    }
}

/// Finds every resource of the prefix's names (and those aws-app tagged), with whether each is
/// the prefix's. Reads only.
pub async fn survey(aws: &Aws, config: &Config) -> Result<Survey> {
    let names = &config.names;
    let p = config.prefix.as_str();
    let ecr = async {
        let found = aws.ecr.describe_repositories().repository_names(&names.image_repo).send();
        let arn = match found.await {
            Ok(out) => {
                out.repositories().first().and_then(|r| r.repository_arn()).map(str::to_string)
            }
            Err(e)
                if e.as_service_error().is_some_and(|s| s.is_repository_not_found_exception()) =>
            {
                None
            }
            Err(e) => return Err(failed("finding the ECR repository", e)),
        };
        let Some(arn) = arn else { return Ok(Vec::new()) };
        let tags = aws
            .ecr
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .map_err(|e| failed("reading the ECR repository's tags", e))?;
        let ours = is_ours(tags.tags().iter().map(|t| (t.key(), t.value())), p);
        Ok(vec![Found::new(Kind::Repository, &names.image_repo, ours, Handle::Ecr(arn))])
    };
    let elb = async {
        let mut arns = Vec::new();
        match aws.elb.describe_load_balancers().names(&names.load_balancer).send().await {
            Ok(out) => arns.extend(
                out.load_balancers()
                    .iter()
                    .filter_map(|l| l.load_balancer_arn())
                    .map(|a| (a.to_string(), Kind::LoadBalancer, &names.load_balancer)),
            ),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_load_balancer_not_found_exception()) => {}
            Err(e) => return Err(failed("finding the load balancer", e)),
        }
        match aws.elb.describe_target_groups().names(&names.target_group).send().await {
            Ok(out) => arns.extend(
                out.target_groups()
                    .iter()
                    .filter_map(|t| t.target_group_arn())
                    .map(|a| (a.to_string(), Kind::TargetGroup, &names.target_group)),
            ),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_target_group_not_found_exception()) => {}
            Err(e) => return Err(failed("finding the target group", e)),
        }
        if arns.is_empty() {
            return Ok(Vec::new());
        }
        let described = aws
            .elb
            .describe_tags()
            .set_resource_arns(Some(arns.iter().map(|(a, _, _)| a.clone()).collect()))
            .send()
            .await
            .map_err(|e| failed("reading the load balancer's tags", e))?;
        Ok(arns
            .into_iter()
            .map(|(arn, kind, name)| {
                let tags = described
                    .tag_descriptions()
                    .iter()
                    .find(|d| d.resource_arn() == Some(arn.as_str()))
                    .map(|d| d.tags().to_vec())
                    .unwrap_or_default();
                let ours = is_ours(
                    tags.iter().map(|t| (t.key().unwrap_or(""), t.value().unwrap_or(""))),
                    p,
                );
                Found::new(kind, name, ours, Handle::Elb(arn))
            })
            .collect())
    };
    let ecs = async {
        let mut found = Vec::new();
        let mut source = None;
        let ecs_ours = |tags: &[aws_sdk_ecs::types::Tag]| {
            is_ours(tags.iter().map(|t| (t.key().unwrap_or(""), t.value().unwrap_or(""))), p)
        };
        let clusters = aws
            .ecs
            .describe_clusters()
            .clusters(&names.cluster)
            .include(ClusterField::Tags)
            .send()
            .await
            .map_err(|e| failed("finding the ECS cluster", e))?;
        let cluster = clusters.clusters().iter().find(|c| c.status() == Some("ACTIVE"));
        if let Some(cluster) = cluster {
            let arn = cluster.cluster_arn().unwrap_or_default().to_string();
            let ours = ecs_ours(cluster.tags());
            found.push(Found::new(Kind::Cluster, &names.cluster, ours, Handle::Ecs(arn)));
            let services = aws
                .ecs
                .describe_services()
                .cluster(&names.cluster)
                .services(&names.service)
                .include(ServiceField::Tags)
                .send()
                .await
                .map_err(|e| failed("finding the ECS service", e))?;
            if let Some(service) = services.services().iter().find(|s| s.status() == Some("ACTIVE"))
            {
                let arn = service.service_arn().unwrap_or_default().to_string();
                let ours = ecs_ours(service.tags());
                found.push(Found::new(Kind::Service, &names.service, ours, Handle::Ecs(arn)));
                if let Some(td) = service.task_definition() {
                    let described = crate::aws::ecs::describe_task_definition(&aws.ecs, td).await?;
                    source = described
                        .container_definitions()
                        .first()
                        .and_then(|c| c.docker_labels())
                        .and_then(|l| l.get(SOURCE_LABEL))
                        .cloned();
                }
            }
        }
        // The family's newest revision: a family of another's gets no revision of ours.
        let family = aws
            .ecs
            .describe_task_definition()
            .task_definition(&names.task_family)
            .include(TaskDefinitionField::Tags)
            .send()
            .await;
        match family {
            Ok(out) => {
                let arn = out
                    .task_definition()
                    .and_then(|t| t.task_definition_arn())
                    .unwrap_or_default()
                    .to_string();
                let ours = ecs_ours(out.tags());
                found.push(Found::new(
                    Kind::TaskFamily,
                    &names.task_family,
                    ours,
                    Handle::Ecs(arn),
                ));
            }
            // ECS answers a family without revisions with a ClientException.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_client_exception()) => {}
            Err(e) => return Err(failed("finding the task definition family", e)),
        }
        Ok((found, source))
    };
    let iam = async {
        let mut found = Vec::new();
        let mut builder_role_ours = false;
        for name in [&names.execution_role, &names.builder] {
            match aws.iam.get_role().role_name(name).send().await {
                Ok(out) => {
                    let tags = out.role().map(|r| r.tags().to_vec()).unwrap_or_default();
                    let ours = is_ours(tags.iter().map(|t| (t.key(), t.value())), p);
                    if name == &names.builder {
                        builder_role_ours = ours;
                    }
                    found.push(Found::new(Kind::Role, name, ours, Handle::Role(name.clone())));
                }
                Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => {
                }
                Err(e) => return Err(failed(&format!("finding the IAM role {name}"), e)),
            }
        }
        let name = &names.builder;
        match aws.iam.get_instance_profile().instance_profile_name(name).send().await {
            Ok(out) => {
                let profile = out.instance_profile();
                let tags = profile.map(|r| r.tags().to_vec()).unwrap_or_default();
                // Profiles made before aws-app tagged them: ours when they hold our role.
                let holds_ours = builder_role_ours
                    && profile.is_some_and(|p| p.roles().iter().any(|r| r.role_name() == name));
                let ours = holds_ours || is_ours(tags.iter().map(|t| (t.key(), t.value())), p);
                let handle = Handle::Profile(name.clone());
                found.push(Found::new(Kind::InstanceProfile, name, ours, handle));
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => {}
            Err(e) => return Err(failed("finding the builder's instance profile", e)),
        }
        Ok(found)
    };
    let logs = async {
        let groups = aws
            .logs
            .describe_log_groups()
            .log_group_name_prefix(&names.log_group)
            .send()
            .await
            .map_err(|e| failed("finding the log group", e))?;
        let Some(group) =
            groups.log_groups().iter().find(|g| g.log_group_name() == Some(&names.log_group))
        else {
            return Ok(Vec::new());
        };
        // DescribeLogGroups gives the ARN with `:*`; tagging calls take it without.
        let arn = group.arn().unwrap_or_default().trim_end_matches(":*").to_string();
        let tags = aws
            .logs
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .map_err(|e| failed("reading the log group's tags", e))?;
        let ours =
            is_ours(tags.tags().into_iter().flatten().map(|(k, v)| (k.as_str(), v.as_str())), p);
        Ok(vec![Found::new(Kind::LogGroup, &names.log_group, ours, Handle::Logs(arn))])
    };
    let tagged =
        async {
            let by_tag = || Filter::builder().name(format!("tag:{TAG_PREFIX}")).values(p).build();
            let groups = aws
                .ec2
                .describe_security_groups()
                .filters(by_tag())
                .send()
                .await
                .map_err(|e| failed("finding the security groups", e))?;
            let mut found: Vec<Found> = groups
                .security_groups()
                .iter()
                .map(|g| {
                    let name = g.group_name().unwrap_or_default();
                    Found::new(Kind::SecurityGroup, name, true, Handle::Tagged)
                })
                .collect();
            let vpcs = aws
                .ec2
                .describe_vpcs()
                .filters(by_tag())
                .send()
                .await
                .map_err(|e| failed("finding aws-app's VPC", e))?;
            found.extend(vpcs.vpcs().iter().map(|v| {
                Found::new(Kind::Vpc, v.vpc_id().unwrap_or_default(), true, Handle::Tagged)
            }));
            Ok::<_, Error>(found)
        };
    let (ecr, elb, ecs, iam, logs, tagged) = tokio::join!(ecr, elb, ecs, iam, logs, tagged);
    let (ecs, source) = ecs?;
    let mut found = Vec::new();
    for part in [ecs, elb?, iam?, logs?, ecr?, tagged?] {
        found.extend(part);
    }
    Ok(Survey { found, source })
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_prefixs_tags_make_a_resource_ours() {
        let ours = [("aws-app:prefix", "ann"), ("managed-by", "aws-app"), ("x", "y")];
        assert!(super::is_ours(ours, "ann"));
        assert!(!super::is_ours(ours, "bob"), "another prefix's");
        assert!(!super::is_ours([("aws-app:prefix", "ann")], "ann"), "not aws-app's mark");
        assert!(!super::is_ours([("managed-by", "aws-app")], "ann"));
        assert!(!super::is_ours([], "ann"), "untagged");
        assert!(super::same_source("https://h/o/app.git", "https://h/o/app/"));
        assert!(!super::same_source("https://h/o/app", "https://h/p/app"));
    }
}
