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

use super::{Aws, TAG_MANAGED, TAG_PREFIX, Tags, alb, ecr, ecs, iam, logs, network};
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
            match &found.handle {
                Handle::Ecr(arn) => ecr::tag_repository(&aws.ecr, arn, tags).await?,
                Handle::Elb(arn) => alb::tag(&aws.elb, arn, tags).await?,
                Handle::Ecs(arn) => ecs::tag(&aws.ecs, arn, tags).await?,
                Handle::Role(name) => iam::tag_role(&aws.iam, name, tags).await?,
                Handle::Profile(name) => iam::tag_instance_profile(&aws.iam, name, tags).await?,
                Handle::Logs(arn) => logs::tag_log_group(&aws.logs, arn, tags).await?,
                Handle::Tagged => {}
            }
        }
        Ok(())
    }
}

/// `is_ours` over owned key/value pairs.
fn owned_ours(tags: &[(String, String)], prefix: &str) -> bool {
    is_ours(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())), prefix)
}

/// Finds every resource of the prefix's names (and those aws-app tagged), with whether each is
/// the prefix's. Reads only.
pub async fn survey(aws: &Aws, config: &Config) -> Result<Survey> {
    let names = &config.names;
    let p = config.prefix.as_str();
    let repository = async {
        let Some(arn) = ecr::find_repository(&aws.ecr, &names.image_repo).await? else {
            return Ok(Vec::new());
        };
        let ours = owned_ours(&ecr::repository_tags(&aws.ecr, &arn).await?, p);
        Ok(vec![Found::new(Kind::Repository, &names.image_repo, ours, Handle::Ecr(arn))])
    };
    let elb = async {
        let (lb, tg) = tokio::try_join!(
            alb::find_load_balancer(&aws.elb, &names.load_balancer),
            alb::find_target_group(&aws.elb, &names.target_group),
        )?;
        let arns: Vec<(String, Kind, &String)> = [
            lb.and_then(|l| l.load_balancer_arn)
                .map(|a| (a, Kind::LoadBalancer, &names.load_balancer)),
            tg.and_then(|t| t.target_group_arn)
                .map(|a| (a, Kind::TargetGroup, &names.target_group)),
        ]
        .into_iter()
        .flatten()
        .collect();
        if arns.is_empty() {
            return Ok(Vec::new());
        }
        let all: Vec<String> = arns.iter().map(|(a, _, _)| a.clone()).collect();
        let tags = alb::tags_of(&aws.elb, &all).await?;
        Ok(arns
            .into_iter()
            .map(|(arn, kind, name)| {
                let ours = tags.get(&arn).is_some_and(|t| owned_ours(t, p));
                Found::new(kind, name, ours, Handle::Elb(arn))
            })
            .collect())
    };
    let tasks = async {
        let cluster_and_service = async {
            let Some(cluster) = ecs::find_cluster(&aws.ecs, &names.cluster).await? else {
                return Ok((None, None));
            };
            let service = ecs::find_service(&aws.ecs, &names.cluster, &names.service).await?;
            Ok::<_, Error>((Some(cluster), service))
        };
        // The family's newest revision (a family of another's gets no revision of ours), asked
        // beside the cluster and service.
        let latest = ecs::find_latest_revision(&aws.ecs, &names.task_family);
        let ((cluster, service), latest) = tokio::try_join!(cluster_and_service, latest)?;
        let mut found = Vec::new();
        if let Some(cluster) = &cluster {
            let arn = cluster.cluster_arn().unwrap_or_default().to_string();
            let ours = is_ours(ecs::tag_pairs(cluster.tags()), p);
            found.push(Found::new(Kind::Cluster, &names.cluster, ours, Handle::Ecs(arn)));
        }
        let mut source = None;
        if let Some(service) = &service {
            let arn = service.service_arn().unwrap_or_default().to_string();
            let ours = is_ours(ecs::tag_pairs(service.tags()), p);
            found.push(Found::new(Kind::Service, &names.service, ours, Handle::Ecs(arn)));
            // The revision it runs: most often the newest, already read.
            let runs = service.task_definition();
            let newest = latest
                .as_ref()
                .map(|(td, _)| td)
                .filter(|td| runs.is_some() && td.task_definition_arn() == runs);
            source = match (newest, runs) {
                (Some(td), _) => ecs::label_of(td, SOURCE_LABEL).map(String::from),
                (None, Some(arn)) => {
                    let described = ecs::describe_task_definition(&aws.ecs, arn).await?;
                    ecs::label_of(&described, SOURCE_LABEL).map(String::from)
                }
                (None, None) => None,
            };
        }
        if let Some((td, tags)) = &latest {
            let arn = td.task_definition_arn().unwrap_or_default().to_string();
            let ours = is_ours(ecs::tag_pairs(tags), p);
            found.push(Found::new(Kind::TaskFamily, &names.task_family, ours, Handle::Ecs(arn)));
        }
        Ok((found, source))
    };
    let roles = async {
        let mut found = Vec::new();
        let mut builder_role_ours = false;
        for name in [&names.execution_role, &names.builder] {
            let what = format!("the IAM role {name}");
            if let Some(role) = iam::find_role(&aws.iam, name, &what).await? {
                let ours = is_ours(role.tags().iter().map(|t| (t.key(), t.value())), p);
                if name == &names.builder {
                    builder_role_ours = ours;
                }
                found.push(Found::new(Kind::Role, name, ours, Handle::Role(name.clone())));
            }
        }
        let name = &names.builder;
        if let Some(profile) = iam::find_instance_profile(&aws.iam, name).await? {
            // Profiles made before aws-app tagged them: ours when they hold our role.
            let holds_ours =
                builder_role_ours && profile.roles().iter().any(|r| r.role_name() == name);
            let tags = profile.tags().iter().map(|t| (t.key(), t.value()));
            let ours = holds_ours || is_ours(tags, p);
            let handle = Handle::Profile(name.clone());
            found.push(Found::new(Kind::InstanceProfile, name, ours, handle));
        }
        Ok(found)
    };
    let log_group = async {
        let Some(group) = logs::find_log_group(&aws.logs, &names.log_group).await? else {
            return Ok(Vec::new());
        };
        let arn = logs::taggable_arn(&group);
        let ours = owned_ours(&logs::log_group_tags(&aws.logs, &arn).await?, p);
        Ok(vec![Found::new(Kind::LogGroup, &names.log_group, ours, Handle::Logs(arn))])
    };
    let tagged = async {
        let (groups, vpcs) = tokio::try_join!(
            network::own_group_names(&aws.ec2, p),
            network::own_vpcs(&aws.ec2, p)
        )?;
        let groups =
            groups.iter().map(|g| Found::new(Kind::SecurityGroup, g, true, Handle::Tagged));
        let vpcs = vpcs.iter().map(|v| Found::new(Kind::Vpc, v, true, Handle::Tagged));
        Ok::<_, Error>(groups.chain(vpcs).collect::<Vec<_>>())
    };
    let (repository, elb, tasks, roles, log_group, tagged) =
        tokio::join!(repository, elb, tasks, roles, log_group, tagged);
    let (tasks, source) = tasks?;
    let mut found = Vec::new();
    for part in [tasks, elb?, roles?, log_group?, repository?, tagged?] {
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
