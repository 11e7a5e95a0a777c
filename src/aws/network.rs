//! The network a service runs in: the account's default VPC and two of its subnets in distinct
//! availability zones, or (when the account has none) a small public VPC of aws-app's own; and
//! the two security groups: the ALB's (port 80 from anywhere, IPv4 and IPv6) and the tasks'
//! (the app port from the ALB's group only). Everything is found by name/tags before creating,
//! and every property a run sets is checked again on the next, so a run stopped between a
//! create and its follow-up (attach, route, association) is completed by the next one. Calls
//! right after a create retry while EC2 still says "not found" (eventual consistency).

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    AttributeBooleanValue, Filter, IpPermission, IpRange, Ipv6Range, ResourceType, SecurityGroup,
    Tag, TagSpecification, UserIdGroupPair,
};

use super::change::{Action, Change, Diff};
use super::{Tags, failed, not_found_yet, retry_while};
use crate::config::Names;
use crate::error::{Error, Result};

/// Where the load balancer and the tasks live.
#[derive(Debug, Clone)]
pub struct Network {
    pub vpc_id: String,
    /// Two subnets in distinct availability zones.
    pub subnets: Vec<String>,
    pub alb_security_group: String,
    pub task_security_group: String,
    /// Whether aws-app created the VPC (then `destroy` removes it too).
    pub own_vpc: bool,
}

/// CIDR of the VPC aws-app creates when the account has no default VPC.
const OWN_VPC_CIDR: &str = "10.87.0.0/16";
const OWN_SUBNET_CIDRS: [&str; 2] = ["10.87.0.0/20", "10.87.16.0/20"];

pub(crate) fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

pub(crate) fn tag_spec(kind: ResourceType, name: &str, tags: &Tags) -> TagSpecification {
    let mut spec = TagSpecification::builder()
        .resource_type(kind)
        .tags(Tag::builder().key("Name").value(name).build());
    for (key, value) in tags.pairs() {
        spec = spec.tags(Tag::builder().key(key).value(value).build());
    }
    spec.build()
}

/// Resources carrying the prefix's tag.
fn prefix_filter(prefix: &str) -> Filter {
    filter(&format!("tag:{}", super::TAG_PREFIX), prefix)
}

/// A security group aws-app keeps, with the ingress rules it must have.
pub struct GroupSpec<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub rules: Vec<IpPermission>,
}

/// HTTP from anywhere (IPv4 and IPv6): the load balancer's group.
fn http_from_anywhere() -> IpPermission {
    from_anywhere(80, HTTP_RULE_DESCRIPTION)
}

/// `port` from anywhere (IPv4 and IPv6).
fn from_anywhere(port: i32, description: &str) -> IpPermission {
    IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(port)
        .to_port(port)
        .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").description(description).build())
        .ipv6_ranges(Ipv6Range::builder().cidr_ipv6("::/0").description(description).build())
        .build()
}

/// The load balancer's rules: HTTP, and HTTPS with `--domain`.
fn load_balancer_rules(https: bool) -> Vec<IpPermission> {
    let mut rules = vec![http_from_anywhere()];
    if https {
        rules.push(from_anywhere(443, HTTPS_RULE_DESCRIPTION));
    }
    rules
}

/// The app port from the load balancer's group only: the tasks' group.
fn app_from(alb_group: &str, app_port: u16) -> IpPermission {
    IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(i32::from(app_port))
        .to_port(i32::from(app_port))
        .user_id_group_pairs(
            UserIdGroupPair::builder()
                .group_id(alb_group)
                .description(APP_RULE_DESCRIPTION)
                .build(),
        )
        .build()
}

/// The account's default VPC, if it has one.
async fn find_default_vpc(ec2: &Client) -> Result<Option<String>> {
    Ok(ec2
        .describe_vpcs()
        .filters(filter("is-default", "true"))
        .send()
        .await
        .map_err(|e| failed("finding the default VPC", e))?
        .vpcs
        .unwrap_or_default()
        .into_iter()
        .find_map(|v| v.vpc_id))
}

/// aws-app's own VPC of the prefix (found by its tags), if there is one.
async fn find_own_vpc(ec2: &Client, tags: &Tags) -> Result<Option<String>> {
    Ok(own_vpcs(ec2, &tags.prefix).await?.into_iter().next())
}

/// The VPCs carrying the prefix's tag.
pub async fn own_vpcs(ec2: &Client, prefix: &str) -> Result<Vec<String>> {
    let found = ec2
        .describe_vpcs()
        .filters(prefix_filter(prefix))
        .send()
        .await
        .map_err(|e| failed("finding aws-app's VPC", e))?;
    Ok(found.vpcs.unwrap_or_default().into_iter().filter_map(|v| v.vpc_id).collect())
}

/// The names of the security groups carrying the prefix's tag.
pub async fn own_group_names(ec2: &Client, prefix: &str) -> Result<Vec<String>> {
    let found = ec2
        .describe_security_groups()
        .filters(prefix_filter(prefix))
        .send()
        .await
        .map_err(|e| failed("finding the security groups", e))?;
    Ok(found.security_groups.unwrap_or_default().into_iter().filter_map(|g| g.group_name).collect())
}

/// The network of the prefix: VPC and subnets (the default VPC's, else its own), the load
/// balancer's group (HTTP, and HTTPS when `https`) and the tasks' group.
pub async fn ensure(
    ec2: &Client,
    names: &Names,
    tags: &Tags,
    app_port: u16,
    https: bool,
) -> Result<Network> {
    let (vpc_id, subnets, own_vpc) = match find_default_vpc(ec2).await? {
        Some(vpc) => {
            let subnets = default_subnets(ec2, &vpc).await?;
            (vpc, subnets, false)
        }
        None => {
            let (vpc, subnets) = ensure_own_vpc(ec2, names, tags).await?;
            (vpc, subnets, true)
        }
    };
    let alb = GroupSpec {
        name: &names.alb_security_group,
        description: ALB_GROUP_DESCRIPTION,
        rules: load_balancer_rules(https),
    };
    let alb_sg = ensure_group(ec2, &vpc_id, &alb, tags).await?;
    let task = GroupSpec {
        name: &names.task_security_group,
        description: TASK_GROUP_DESCRIPTION,
        rules: vec![app_from(&alb_sg, app_port)],
    };
    let task_sg = ensure_group(ec2, &vpc_id, &task, tags).await?;
    Ok(Network {
        vpc_id,
        subnets,
        alb_security_group: alb_sg,
        task_security_group: task_sg,
        own_vpc,
    })
}

/// What a deploy would do to the network, and the VPC it would use when that is known. Reads
/// only.
pub async fn plan(
    ec2: &Client,
    names: &Names,
    tags: &Tags,
    app_port: u16,
    https: bool,
) -> Result<(Vec<Change>, Option<Network>)> {
    let mut changes = Vec::new();
    let (vpc, subnets, own_vpc) = match find_default_vpc(ec2).await? {
        Some(vpc) => {
            changes
                .push(Change::new(format!("VPC {vpc} (the account's default)"), Action::Unchanged));
            let subnets = default_subnets(ec2, &vpc).await?;
            (Some(vpc), subnets, false)
        }
        None => {
            let own = find_own_vpc(ec2, tags).await?;
            let what = format!(
                "VPC {}-vpc ({OWN_VPC_CIDR}, two public subnets, internet gateway)",
                names.cluster
            );
            changes.push(Change::from_diff(what, own.is_some(), Diff::default()));
            (own, Vec::new(), true)
        }
    };
    let (alb, task) = match &vpc {
        Some(vpc) => tokio::try_join!(
            find_group(ec2, vpc, &names.alb_security_group),
            find_group(ec2, vpc, &names.task_security_group)
        )?,
        None => (None, None),
    };
    let alb_id = alb.as_ref().and_then(|g| g.group_id()).map(str::to_string);
    let task_rules = alb_id.as_deref().map(|id| vec![app_from(id, app_port)]).unwrap_or_default();
    for (name, group, rules) in [
        (&names.alb_security_group, &alb, load_balancer_rules(https)),
        (&names.task_security_group, &task, task_rules),
    ] {
        let mut diff = Diff::default();
        if let Some(group) = group {
            for rule in &rules {
                diff.0.extend(group_diff(group, rule).0);
            }
        }
        changes.push(Change::from_diff(format!("security group {name}"), group.is_some(), diff));
    }
    let network = match (vpc, alb_id, task.and_then(|g| g.group_id)) {
        (Some(vpc_id), Some(alb_security_group), Some(task_security_group)) => {
            Some(Network { vpc_id, subnets, alb_security_group, task_security_group, own_vpc })
        }
        _ => None,
    };
    Ok((changes, network))
}

/// Regions where Fargate runs tasks in some zones only, by zone ID (the same place in every
/// account, where zone names are mapped per account): the ECS guide's "Supported Regions for
/// Amazon ECS on AWS Fargate". Older accounts still have default subnets in the other zones,
/// and a service given one of them places tasks there that never start.
const FARGATE_ZONES: &[(&str, &[&str])] = &[
    ("us-west-1", &["usw1-az1", "usw1-az3"]),
    ("ap-northeast-1", &["apne1-az1", "apne1-az2", "apne1-az4"]),
    ("cn-north-1", &["cnn1-az1", "cnn1-az2"]),
];

/// Whether Fargate runs tasks in the zone `zone_id` of `region` (every zone of a region the
/// guide lists without a restriction; a zone whose ID EC2 did not give: yes).
fn fargate_serves(region: &str, zone_id: Option<&str>) -> bool {
    match (FARGATE_ZONES.iter().find(|(r, _)| *r == region), zone_id) {
        (Some((_, zones)), Some(id)) => zones.contains(&id),
        _ => true,
    }
}

/// The client's region, for the zone table above.
fn region_of(ec2: &Client) -> String {
    ec2.config().region().map(|r| r.to_string()).unwrap_or_default()
}

/// The VPC's default subnets, one per availability zone where Fargate runs tasks, sorted so
/// every run picks the same: all of them go to the load balancer and the service (the more
/// zones, the more room Fargate has); at least two are needed.
async fn default_subnets(ec2: &Client, vpc: &str) -> Result<Vec<String>> {
    let region = region_of(ec2);
    let mut subnets: Vec<(String, String)> = ec2
        .describe_subnets()
        .filters(filter("vpc-id", vpc))
        .filters(filter("default-for-az", "true"))
        .send()
        .await
        .map_err(|e| failed("listing the default VPC's subnets", e))?
        .subnets
        .unwrap_or_default()
        .into_iter()
        .filter(|s| fargate_serves(&region, s.availability_zone_id()))
        .filter_map(|s| Some((s.availability_zone?, s.subnet_id?)))
        .collect();
    subnets.sort();
    subnets.dedup_by(|a, b| a.0 == b.0);
    if subnets.len() < 2 {
        return Err(Error::failed(format!(
            "the default VPC {vpc} has default subnets in {} availability zone(s) where Fargate \
             runs tasks; an ALB needs two: add a default subnet (`aws ec2 create-default-subnet \
             --availability-zone-id <id>`) or choose another --region",
            subnets.len()
        )));
    }
    Ok(subnets.into_iter().map(|(_, id)| id).collect())
}

/// A public VPC of aws-app's own: internet gateway, a route table with the default route, two
/// subnets in two zones that give tasks public IPs. Each part is found by its tags (or CIDR) and
/// then checked, so an interrupted creation is completed.
async fn ensure_own_vpc(ec2: &Client, names: &Names, tags: &Tags) -> Result<(String, Vec<String>)> {
    let name = format!("{}-vpc", names.cluster);
    let vpc = ensure_vpc(ec2, &name, tags).await?;
    let gateway = ensure_gateway(ec2, &vpc, &name, tags).await?;
    let (table, associated) = ensure_route_table(ec2, &vpc, &gateway, &name, tags).await?;
    let subnets = ensure_subnets(ec2, &vpc, &table, &associated, &name, tags).await?;
    Ok((vpc, subnets))
}

// --- The own VPC's parts, in the order they are made ---

/// The VPC (found by its tags), with DNS hostnames on.
async fn ensure_vpc(ec2: &Client, name: &str, tags: &Tags) -> Result<String> {
    let vpc = match find_own_vpc(ec2, tags).await? {
        Some(vpc) => vpc,
        None => {
            crate::note(format!("no default VPC: creating {name} ({OWN_VPC_CIDR})"));
            ec2.create_vpc()
                .cidr_block(OWN_VPC_CIDR)
                .tag_specifications(tag_spec(ResourceType::Vpc, name, tags))
                .send()
                .await
                .map_err(|e| failed("creating a VPC", e))?
                .vpc
                .and_then(|v| v.vpc_id)
                .ok_or_else(|| Error::failed("creating a VPC: no VPC ID in the answer"))?
        }
    };
    let hostnames = retry_while("reading the VPC's DNS settings", not_found_yet, || {
        ec2.describe_vpc_attribute()
            .vpc_id(&vpc)
            .attribute(aws_sdk_ec2::types::VpcAttributeName::EnableDnsHostnames)
            .send()
    })
    .await?;
    if hostnames.enable_dns_hostnames().and_then(|a| a.value()) != Some(true) {
        retry_while("enabling DNS hostnames in the VPC", not_found_yet, || {
            ec2.modify_vpc_attribute()
                .vpc_id(&vpc)
                .enable_dns_hostnames(AttributeBooleanValue::builder().value(true).build())
                .send()
        })
        .await?;
    }
    Ok(vpc)
}

/// The internet gateway (found by its tags, attached or not), attached to the VPC.
async fn ensure_gateway(ec2: &Client, vpc: &str, name: &str, tags: &Tags) -> Result<String> {
    let gateway = ec2
        .describe_internet_gateways()
        .filters(prefix_filter(&tags.prefix))
        .send()
        .await
        .map_err(|e| failed("finding aws-app's internet gateway", e))?
        .internet_gateways
        .unwrap_or_default()
        .into_iter()
        .next();
    let (igw, attached) = match gateway {
        Some(g) => {
            let attached = g.attachments().iter().any(|a| a.vpc_id() == Some(vpc));
            (g.internet_gateway_id.unwrap_or_default(), attached)
        }
        None => {
            let igw = ec2
                .create_internet_gateway()
                .tag_specifications(tag_spec(ResourceType::InternetGateway, name, tags))
                .send()
                .await
                .map_err(|e| failed("creating an internet gateway", e))?
                .internet_gateway
                .and_then(|g| g.internet_gateway_id)
                .ok_or_else(|| {
                    Error::failed("creating an internet gateway: no ID in the answer")
                })?;
            (igw, false)
        }
    };
    if !attached {
        retry_while("attaching the internet gateway", not_found_yet, || {
            ec2.attach_internet_gateway().internet_gateway_id(&igw).vpc_id(vpc).send()
        })
        .await?;
    }
    Ok(igw)
}

/// The route table with the default route through the gateway; and the subnets it routes.
async fn ensure_route_table(
    ec2: &Client,
    vpc: &str,
    igw: &str,
    name: &str,
    tags: &Tags,
) -> Result<(String, Vec<String>)> {
    let found = ec2
        .describe_route_tables()
        .filters(filter("vpc-id", vpc))
        .filters(prefix_filter(&tags.prefix))
        .send()
        .await
        .map_err(|e| failed("finding the VPC's route table", e))?
        .route_tables
        .unwrap_or_default()
        .into_iter()
        .next();
    let (table, routed, associated) = match found {
        Some(t) => {
            let routed = t.routes().iter().any(|r| {
                r.destination_cidr_block() == Some("0.0.0.0/0") && r.gateway_id() == Some(igw)
            });
            let associated: Vec<String> =
                t.associations().iter().filter_map(|a| a.subnet_id().map(str::to_string)).collect();
            (t.route_table_id.unwrap_or_default(), routed, associated)
        }
        None => {
            let table = retry_while("creating a route table", not_found_yet, || {
                ec2.create_route_table()
                    .vpc_id(vpc)
                    .tag_specifications(tag_spec(ResourceType::RouteTable, name, tags))
                    .send()
            })
            .await?
            .route_table
            .and_then(|t| t.route_table_id)
            .ok_or_else(|| Error::failed("creating a route table: no ID in the answer"))?;
            (table, false, Vec::new())
        }
    };
    if !routed {
        retry_while("adding the default route", not_found_yet, || {
            ec2.create_route()
                .route_table_id(&table)
                .destination_cidr_block("0.0.0.0/0")
                .gateway_id(igw)
                .send()
        })
        .await?;
    }
    Ok((table, associated))
}

/// Two public subnets in the first two zones where Fargate runs tasks (regular zones: no Local
/// or Wavelength zones, where neither ALB nor Fargate runs), routed through the table.
async fn ensure_subnets(
    ec2: &Client,
    vpc: &str,
    table: &str,
    associated: &[String],
    name: &str,
    tags: &Tags,
) -> Result<Vec<String>> {
    let region = region_of(ec2);
    let zones: Vec<String> = ec2
        .describe_availability_zones()
        .filters(filter("state", "available"))
        .filters(filter("zone-type", "availability-zone"))
        .send()
        .await
        .map_err(|e| failed("listing availability zones", e))?
        .availability_zones
        .unwrap_or_default()
        .into_iter()
        .filter(|z| fargate_serves(&region, z.zone_id()))
        .filter_map(|z| z.zone_name)
        .collect();
    if zones.len() < 2 {
        return Err(Error::failed(
            "the region has fewer than two availability zones where Fargate runs tasks; an ALB \
             needs two: choose another --region",
        ));
    }
    let mut subnets = Vec::new();
    for (zone, cidr) in zones.iter().take(2).zip(OWN_SUBNET_CIDRS) {
        let found = ec2
            .describe_subnets()
            .filters(filter("vpc-id", vpc))
            .filters(filter("cidr-block", cidr))
            .send()
            .await
            .map_err(|e| failed("finding aws-app's subnets", e))?
            .subnets
            .unwrap_or_default()
            .into_iter()
            .next();
        let (subnet, public) = match found {
            Some(s) => {
                (s.subnet_id.clone().unwrap_or_default(), s.map_public_ip_on_launch == Some(true))
            }
            None => {
                let subnet = retry_while("creating a subnet", not_found_yet, || {
                    ec2.create_subnet()
                        .vpc_id(vpc)
                        .cidr_block(cidr)
                        .availability_zone(zone)
                        .tag_specifications(tag_spec(
                            ResourceType::Subnet,
                            &format!("{name}-{zone}"),
                            tags,
                        ))
                        .send()
                })
                .await?
                .subnet
                .and_then(|s| s.subnet_id)
                .ok_or_else(|| Error::failed("creating a subnet: no ID in the answer"))?;
                (subnet, false)
            }
        };
        if !public {
            retry_while("making the subnet public", not_found_yet, || {
                ec2.modify_subnet_attribute()
                    .subnet_id(&subnet)
                    .map_public_ip_on_launch(AttributeBooleanValue::builder().value(true).build())
                    .send()
            })
            .await?;
        }
        if !associated.contains(&subnet) {
            retry_while("routing the subnet", not_found_yet, || {
                ec2.associate_route_table().route_table_id(table).subnet_id(&subnet).send()
            })
            .await?;
        }
        subnets.push(subnet);
    }
    Ok(subnets)
}

// Security group and rule descriptions: EC2 takes only a-z, A-Z, 0-9, spaces and
// ._-:/()#,@[]+=&;{}!$* here, up to 255 characters (an apostrophe is refused).
const ALB_GROUP_DESCRIPTION: &str = "aws-app: the load balancer, HTTP from anywhere";
const TASK_GROUP_DESCRIPTION: &str = "aws-app: the app tasks, only from the load balancer";
const HTTP_RULE_DESCRIPTION: &str = "HTTP";
const HTTPS_RULE_DESCRIPTION: &str = "HTTPS";
const APP_RULE_DESCRIPTION: &str = "from the ALB";

/// The security group of this name in the VPC, with its rules, if there is one.
pub(crate) async fn find_group(
    ec2: &Client,
    vpc: &str,
    name: &str,
) -> Result<Option<SecurityGroup>> {
    Ok(ec2
        .describe_security_groups()
        .filters(filter("vpc-id", vpc))
        .filters(filter("group-name", name))
        .send()
        .await
        .map_err(|e| failed(&format!("finding security group {name}"), e))?
        .security_groups
        .unwrap_or_default()
        .into_iter()
        .next())
}

/// What `current` lacks of an ingress rule: only the missing ranges and source groups (a
/// request repeating one the group has fails whole); `None` when it has all of it.
pub fn missing_ingress(current: &[IpPermission], rule: &IpPermission) -> Option<IpPermission> {
    let same_ports: Vec<&IpPermission> = current
        .iter()
        .filter(|have| {
            have.ip_protocol == rule.ip_protocol
                && have.from_port == rule.from_port
                && have.to_port == rule.to_port
        })
        .collect();
    let has_v4 = |cidr: &str| {
        same_ports.iter().any(|p| p.ip_ranges().iter().any(|r| r.cidr_ip() == Some(cidr)))
    };
    let has_v6 = |cidr: &str| {
        same_ports.iter().any(|p| p.ipv6_ranges().iter().any(|r| r.cidr_ipv6() == Some(cidr)))
    };
    let has_group = |id: &str| {
        same_ports.iter().any(|p| p.user_id_group_pairs().iter().any(|g| g.group_id() == Some(id)))
    };
    let missing = IpPermission::builder()
        .set_ip_protocol(rule.ip_protocol.clone())
        .set_from_port(rule.from_port)
        .set_to_port(rule.to_port)
        .set_ip_ranges(Some(
            rule.ip_ranges()
                .iter()
                .filter(|r| !has_v4(r.cidr_ip().unwrap_or_default()))
                .cloned()
                .collect(),
        ))
        .set_ipv6_ranges(Some(
            rule.ipv6_ranges()
                .iter()
                .filter(|r| !has_v6(r.cidr_ipv6().unwrap_or_default()))
                .cloned()
                .collect(),
        ))
        .set_user_id_group_pairs(Some(
            rule.user_id_group_pairs()
                .iter()
                .filter(|g| !has_group(g.group_id().unwrap_or_default()))
                .cloned()
                .collect(),
        ))
        .build();
    let empty = missing.ip_ranges().is_empty()
        && missing.ipv6_ranges().is_empty()
        && missing.user_id_group_pairs().is_empty();
    (!empty).then_some(missing)
}

/// What the group lacks of its rule, in words (`tcp 80 from 0.0.0.0/0, ::/0`).
pub fn group_diff(group: &SecurityGroup, rule: &IpPermission) -> Diff {
    let mut diff = Diff::default();
    if let Some(missing) = missing_ingress(group.ip_permissions(), rule) {
        let sources: Vec<&str> = missing
            .ip_ranges()
            .iter()
            .filter_map(|r| r.cidr_ip())
            .chain(missing.ipv6_ranges().iter().filter_map(|r| r.cidr_ipv6()))
            .chain(missing.user_id_group_pairs().iter().filter_map(|g| g.group_id()))
            .collect();
        diff.note(format!(
            "ingress {} {} from {} → added",
            missing.ip_protocol().unwrap_or("tcp"),
            missing.from_port().unwrap_or_default(),
            sources.join(", ")
        ));
    }
    diff
}

/// Finds or creates the group and adds what it lacks of its rules; the group's ID.
pub(crate) async fn ensure_group(
    ec2: &Client,
    vpc: &str,
    spec: &GroupSpec<'_>,
    tags: &Tags,
) -> Result<String> {
    let name = spec.name;
    let (id, current) = match find_group(ec2, vpc, name).await? {
        Some(group) => {
            let id = group.group_id.clone().unwrap_or_default();
            (id, group.ip_permissions.unwrap_or_default())
        }
        None => {
            let id = retry_while(&format!("creating security group {name}"), not_found_yet, || {
                ec2.create_security_group()
                    .vpc_id(vpc)
                    .group_name(name)
                    .description(spec.description)
                    .tag_specifications(tag_spec(ResourceType::SecurityGroup, name, tags))
                    .send()
            })
            .await?
            .group_id
            .ok_or_else(|| {
                Error::failed(format!("creating security group {name}: no ID in the answer"))
            })?;
            // A group created now has no rules to read.
            (id, Vec::new())
        }
    };
    for rule in &spec.rules {
        if let Some(missing) = missing_ingress(&current, rule) {
            authorize(ec2, &id, missing).await?;
        }
    }
    Ok(id)
}

/// Adds `missing` to the group's ingress (a rule another run added meanwhile is no error).
async fn authorize(ec2: &Client, id: &str, missing: IpPermission) -> Result<()> {
    retry_while(&format!("adding a rule to security group {id}"), not_found_yet, || async {
        use aws_sdk_ec2::error::ProvideErrorMetadata;
        match ec2
            .authorize_security_group_ingress()
            .group_id(id)
            .ip_permissions(missing.clone())
            .send()
            .await
        {
            // Another run added it between our read and our write.
            Err(e) if e.code() == Some("InvalidPermission.Duplicate") => Ok(()),
            other => other.map(|_| ()),
        }
    })
    .await
}

/// Deletes the security groups of this name that carry the prefix's tag, each once no network
/// interface holds it any more; how many there were.
pub async fn delete_groups(ec2: &Client, name: &str, prefix: &str) -> Result<usize> {
    let groups = ec2
        .describe_security_groups()
        .filters(filter("group-name", name))
        .filters(prefix_filter(prefix))
        .send()
        .await
        .map_err(|e| failed(&format!("finding security group {name}"), e))?;
    let ids: Vec<&str> = groups.security_groups().iter().filter_map(|g| g.group_id()).collect();
    for id in &ids {
        let step = format!("deleting security group {name}");
        delete_group_when_released(ec2, id, &step, super::DRAIN_DEADLINE).await?;
    }
    Ok(ids.len())
}

/// Deletes the security group `id` once no network interface holds it any more, waiting up to
/// `deadline`.
pub async fn delete_group_when_released(
    ec2: &Client,
    id: &str,
    step: &str,
    deadline: std::time::Duration,
) -> Result<()> {
    let in_use = |code: Option<&str>, _: Option<&str>| code == Some("DependencyViolation");
    let delete = || ec2.delete_security_group().group_id(id).send();
    super::retry_for(step, deadline, std::time::Duration::from_secs(5), in_use, delete)
        .await
        .map(|_| ())
}

/// Deletes a VPC aws-app made (`prefix`'s tag): subnets, internet gateway (found by tag, so a
/// detached one an interrupted run left goes too), route tables, then the VPC.
pub async fn delete_own_vpc(ec2: &Client, vpc: &str, prefix: &str) -> Result<()> {
    let in_vpc = || filter("vpc-id", vpc);
    let subnets = ec2
        .describe_subnets()
        .filters(in_vpc())
        .send()
        .await
        .map_err(|e| failed("listing the VPC's subnets", e))?;
    for id in subnets.subnets().iter().filter_map(|s| s.subnet_id()) {
        super::until_released("deleting a subnet", &["DependencyViolation"], || {
            ec2.delete_subnet().subnet_id(id).send()
        })
        .await?;
    }
    // Found by tag: a gateway left detached by an interrupted run is found too.
    let gateways = ec2
        .describe_internet_gateways()
        .filters(prefix_filter(prefix))
        .send()
        .await
        .map_err(|e| failed("finding the VPC's internet gateway", e))?;
    for gateway in gateways.internet_gateways() {
        let Some(id) = gateway.internet_gateway_id() else { continue };
        if gateway.attachments().iter().any(|a| a.vpc_id() == Some(vpc)) {
            ec2.detach_internet_gateway()
                .internet_gateway_id(id)
                .vpc_id(vpc)
                .send()
                .await
                .map_err(|e| failed("detaching the internet gateway", e))?;
        }
        ec2.delete_internet_gateway()
            .internet_gateway_id(id)
            .send()
            .await
            .map_err(|e| failed("deleting the internet gateway", e))?;
    }
    let tables = ec2
        .describe_route_tables()
        .filters(in_vpc())
        .send()
        .await
        .map_err(|e| failed("listing the VPC's route tables", e))?;
    for table in tables.route_tables() {
        // The main route table goes with the VPC.
        if table.associations().iter().any(|a| a.main() == Some(true)) {
            continue;
        }
        if let Some(id) = table.route_table_id() {
            ec2.delete_route_table()
                .route_table_id(id)
                .send()
                .await
                .map_err(|e| failed("deleting the route table", e))?;
        }
    }
    super::until_released("deleting the VPC", &["DependencyViolation"], || {
        ec2.delete_vpc().vpc_id(vpc).send()
    })
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fargate_zones_are_the_guides_by_zone_id() {
        for (region, zone, serves) in [
            ("us-west-1", Some("usw1-az1"), true),
            ("us-west-1", Some("usw1-az3"), true),
            ("us-west-1", Some("usw1-az2"), false),
            ("ap-northeast-1", Some("apne1-az3"), false),
            ("ap-northeast-1", Some("apne1-az4"), true),
            ("cn-north-1", Some("cnn1-az4"), false),
            ("us-east-1", Some("use1-az3"), true),
            ("eu-west-1", Some("euw1-az1"), true),
            ("us-west-1", None, true),
        ] {
            assert_eq!(fargate_serves(region, zone), serves, "{region} {zone:?}");
        }
    }

    /// Whether EC2 accepts `text` as a security group or rule description.
    fn ec2_description_ok(text: &str) -> bool {
        text.len() <= 255
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || " ._-:/()#,@[]+=&;{}!$*".contains(c))
    }

    #[test]
    fn descriptions_are_in_the_character_set_ec2_accepts() {
        for text in [
            ALB_GROUP_DESCRIPTION,
            TASK_GROUP_DESCRIPTION,
            HTTP_RULE_DESCRIPTION,
            APP_RULE_DESCRIPTION,
        ] {
            assert!(ec2_description_ok(text), "EC2 refuses the description {text:?}");
        }
        assert!(!ec2_description_ok("the app's tasks"));
        assert!(!ec2_description_ok("tâches"));
        assert!(!ec2_description_ok(&"a".repeat(256)));
    }

    fn without(rule: &IpPermission, cut: impl FnOnce(&mut IpPermission)) -> IpPermission {
        let mut part = rule.clone();
        cut(&mut part);
        part
    }

    #[test]
    fn only_what_a_group_lacks_of_its_rule_is_added() {
        let rule = http_from_anywhere();
        let group = |rules: Vec<IpPermission>| {
            SecurityGroup::builder().set_ip_permissions(Some(rules)).build()
        };
        let v4_only = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(80)
            .to_port(80)
            .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
            .build();
        let other_port = {
            let mut other = rule.clone();
            (other.from_port, other.to_port) = (Some(8080), Some(8080));
            other
        };
        let cases: [(&str, Vec<IpPermission>, &[&str]); 5] = [
            ("a new group", vec![], &["ingress tcp 80 from 0.0.0.0/0, ::/0 → added"]),
            ("as made", vec![rule.clone()], &[]),
            // The IPv6 range removed by hand: only it is added back (AWS refuses a request
            // that repeats a rule the group has).
            ("IPv4 only", vec![v4_only], &["ingress tcp 80 from ::/0 → added"]),
            ("another port", vec![other_port], &["ingress tcp 80 from 0.0.0.0/0, ::/0 → added"]),
            (
                "the rule split in two",
                vec![
                    without(&rule, |r| r.ipv6_ranges = None),
                    without(&rule, |r| r.ip_ranges = None),
                ],
                &[],
            ),
        ];
        for (case, rules, wanted) in cases {
            assert_eq!(group_diff(&group(rules), &rule).0, wanted, "{case}");
        }
        let tasks = app_from("sg-alb", 8000);
        let missing = missing_ingress(&[], &tasks).expect("all of it");
        assert_eq!(missing.user_id_group_pairs(), tasks.user_id_group_pairs());
        assert_eq!(missing_ingress(std::slice::from_ref(&tasks), &tasks), None);
        let elsewhere = app_from("sg-other", 8000);
        assert_eq!(
            group_diff(&group(vec![elsewhere]), &tasks).0,
            ["ingress tcp 8000 from sg-alb → added"]
        );
    }
}
