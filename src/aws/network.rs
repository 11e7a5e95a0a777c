//! The network a service runs in: the account's default VPC and two of its subnets in distinct
//! availability zones, or (when the account has none) a small public VPC of aws-app's own; and
//! the two security groups: the ALB's (port 80 from anywhere, IPv4 and IPv6) and the tasks'
//! (the app port from the ALB's group only). Everything is found by name/tags before creating.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    AttributeBooleanValue, Filter, IpPermission, IpRange, Ipv6Range, ResourceType, Tag,
    TagSpecification, UserIdGroupPair,
};

use super::{Tags, failed};
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

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

fn tag_spec(kind: ResourceType, name: &str, tags: &Tags) -> TagSpecification {
    let mut spec = TagSpecification::builder()
        .resource_type(kind)
        .tags(Tag::builder().key("Name").value(name).build());
    for (key, value) in tags.pairs() {
        spec = spec.tags(Tag::builder().key(key).value(value).build());
    }
    spec.build()
}

fn prefix_filter(tags: &Tags) -> Filter {
    filter(&format!("tag:{}", super::TAG_PREFIX), &tags.prefix)
}

pub async fn ensure(ec2: &Client, names: &Names, tags: &Tags, app_port: u16) -> Result<Network> {
    let default_vpc = ec2
        .describe_vpcs()
        .filters(filter("isDefault", "true"))
        .send()
        .await
        .map_err(|e| failed("finding the default VPC", e))?
        .vpcs
        .unwrap_or_default()
        .into_iter()
        .find_map(|v| v.vpc_id);
    let (vpc_id, subnets, own_vpc) = match default_vpc {
        Some(vpc) => {
            let subnets = default_subnets(ec2, &vpc).await?;
            (vpc, subnets, false)
        }
        None => {
            let (vpc, subnets) = ensure_own_vpc(ec2, names, tags).await?;
            (vpc, subnets, true)
        }
    };
    let alb_sg = ensure_group(
        ec2,
        &vpc_id,
        &names.alb_security_group,
        "aws-app: the load balancer, HTTP from anywhere",
        tags,
    )
    .await?;
    let http_from_anywhere = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(80)
        .to_port(80)
        .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").description("HTTP").build())
        .ipv6_ranges(Ipv6Range::builder().cidr_ipv6("::/0").description("HTTP").build())
        .build();
    allow(ec2, &alb_sg, http_from_anywhere).await?;

    let task_sg = ensure_group(
        ec2,
        &vpc_id,
        &names.task_security_group,
        "aws-app: the app's tasks, only from the load balancer",
        tags,
    )
    .await?;
    let app_from_alb = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(i32::from(app_port))
        .to_port(i32::from(app_port))
        .user_id_group_pairs(
            UserIdGroupPair::builder().group_id(&alb_sg).description("from the ALB").build(),
        )
        .build();
    allow(ec2, &task_sg, app_from_alb).await?;

    Ok(Network {
        vpc_id,
        subnets,
        alb_security_group: alb_sg,
        task_security_group: task_sg,
        own_vpc,
    })
}

/// Two default subnets of the VPC in distinct availability zones (sorted, so every run picks
/// the same two).
async fn default_subnets(ec2: &Client, vpc: &str) -> Result<Vec<String>> {
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
        .filter_map(|s| Some((s.availability_zone?, s.subnet_id?)))
        .collect();
    subnets.sort();
    subnets.dedup_by(|a, b| a.0 == b.0);
    if subnets.len() < 2 {
        return Err(Error::failed(format!(
            "the default VPC {vpc} has default subnets in {} availability zone(s); an ALB needs two",
            subnets.len()
        )));
    }
    Ok(subnets.into_iter().take(2).map(|(_, id)| id).collect())
}

/// A public VPC of aws-app's own: internet gateway, a route table with the default route, two
/// subnets in two zones that give tasks public IPs. Each part is found by its tags first.
async fn ensure_own_vpc(ec2: &Client, names: &Names, tags: &Tags) -> Result<(String, Vec<String>)> {
    let name = format!("{}-vpc", names.cluster);
    let existing = ec2
        .describe_vpcs()
        .filters(prefix_filter(tags))
        .send()
        .await
        .map_err(|e| failed("finding aws-app's VPC", e))?
        .vpcs
        .unwrap_or_default()
        .into_iter()
        .find_map(|v| v.vpc_id);
    let vpc = match existing {
        Some(vpc) => vpc,
        None => {
            crate::say(format!("no default VPC: creating {name} ({OWN_VPC_CIDR})"));
            let vpc = ec2
                .create_vpc()
                .cidr_block(OWN_VPC_CIDR)
                .tag_specifications(tag_spec(ResourceType::Vpc, &name, tags))
                .send()
                .await
                .map_err(|e| failed("creating a VPC", e))?
                .vpc
                .and_then(|v| v.vpc_id)
                .ok_or_else(|| Error::failed("creating a VPC: no VPC ID in the answer"))?;
            ec2.modify_vpc_attribute()
                .vpc_id(&vpc)
                .enable_dns_hostnames(AttributeBooleanValue::builder().value(true).build())
                .send()
                .await
                .map_err(|e| failed("enabling DNS hostnames in the VPC", e))?;
            vpc
        }
    };

    // Internet gateway, attached.
    let gateways = ec2
        .describe_internet_gateways()
        .filters(filter("attachment.vpc-id", &vpc))
        .send()
        .await
        .map_err(|e| failed("finding the VPC's internet gateway", e))?
        .internet_gateways
        .unwrap_or_default();
    let igw = match gateways.into_iter().find_map(|g| g.internet_gateway_id) {
        Some(igw) => igw,
        None => {
            let igw = ec2
                .create_internet_gateway()
                .tag_specifications(tag_spec(ResourceType::InternetGateway, &name, tags))
                .send()
                .await
                .map_err(|e| failed("creating an internet gateway", e))?
                .internet_gateway
                .and_then(|g| g.internet_gateway_id)
                .ok_or_else(|| {
                    Error::failed("creating an internet gateway: no ID in the answer")
                })?;
            ec2.attach_internet_gateway()
                .internet_gateway_id(&igw)
                .vpc_id(&vpc)
                .send()
                .await
                .map_err(|e| failed("attaching the internet gateway", e))?;
            igw
        }
    };

    // Route table with the default route through the gateway.
    let tables = ec2
        .describe_route_tables()
        .filters(filter("vpc-id", &vpc))
        .filters(prefix_filter(tags))
        .send()
        .await
        .map_err(|e| failed("finding the VPC's route table", e))?
        .route_tables
        .unwrap_or_default();
    let table = match tables.into_iter().find_map(|t| t.route_table_id) {
        Some(table) => table,
        None => {
            let table = ec2
                .create_route_table()
                .vpc_id(&vpc)
                .tag_specifications(tag_spec(ResourceType::RouteTable, &name, tags))
                .send()
                .await
                .map_err(|e| failed("creating a route table", e))?
                .route_table
                .and_then(|t| t.route_table_id)
                .ok_or_else(|| Error::failed("creating a route table: no ID in the answer"))?;
            ec2.create_route()
                .route_table_id(&table)
                .destination_cidr_block("0.0.0.0/0")
                .gateway_id(&igw)
                .send()
                .await
                .map_err(|e| failed("adding the default route", e))?;
            table
        }
    };

    // Two public subnets in the first two zones.
    let zones: Vec<String> = ec2
        .describe_availability_zones()
        .filters(filter("state", "available"))
        .send()
        .await
        .map_err(|e| failed("listing availability zones", e))?
        .availability_zones
        .unwrap_or_default()
        .into_iter()
        .filter_map(|z| z.zone_name)
        .collect();
    if zones.len() < 2 {
        return Err(Error::failed(
            "the region has fewer than two availability zones; an ALB needs two",
        ));
    }
    let mut subnets = Vec::new();
    for (zone, cidr) in zones.iter().take(2).zip(OWN_SUBNET_CIDRS) {
        let found = ec2
            .describe_subnets()
            .filters(filter("vpc-id", &vpc))
            .filters(filter("cidr-block", cidr))
            .send()
            .await
            .map_err(|e| failed("finding aws-app's subnets", e))?
            .subnets
            .unwrap_or_default()
            .into_iter()
            .find_map(|s| s.subnet_id);
        let subnet = match found {
            Some(subnet) => subnet,
            None => {
                let subnet = ec2
                    .create_subnet()
                    .vpc_id(&vpc)
                    .cidr_block(cidr)
                    .availability_zone(zone)
                    .tag_specifications(tag_spec(
                        ResourceType::Subnet,
                        &format!("{name}-{zone}"),
                        tags,
                    ))
                    .send()
                    .await
                    .map_err(|e| failed("creating a subnet", e))?
                    .subnet
                    .and_then(|s| s.subnet_id)
                    .ok_or_else(|| Error::failed("creating a subnet: no ID in the answer"))?;
                ec2.modify_subnet_attribute()
                    .subnet_id(&subnet)
                    .map_public_ip_on_launch(AttributeBooleanValue::builder().value(true).build())
                    .send()
                    .await
                    .map_err(|e| failed("making the subnet public", e))?;
                ec2.associate_route_table()
                    .route_table_id(&table)
                    .subnet_id(&subnet)
                    .send()
                    .await
                    .map_err(|e| failed("routing the subnet", e))?;
                subnet
            }
        };
        subnets.push(subnet);
    }
    Ok((vpc, subnets))
}

async fn ensure_group(
    ec2: &Client,
    vpc: &str,
    name: &str,
    description: &str,
    tags: &Tags,
) -> Result<String> {
    let found = ec2
        .describe_security_groups()
        .filters(filter("vpc-id", vpc))
        .filters(filter("group-name", name))
        .send()
        .await
        .map_err(|e| failed(&format!("finding security group {name}"), e))?
        .security_groups
        .unwrap_or_default()
        .into_iter()
        .find_map(|g| g.group_id);
    if let Some(id) = found {
        return Ok(id);
    }
    ec2.create_security_group()
        .vpc_id(vpc)
        .group_name(name)
        .description(description)
        .tag_specifications(tag_spec(ResourceType::SecurityGroup, name, tags))
        .send()
        .await
        .map_err(|e| failed(&format!("creating security group {name}"), e))?
        .group_id
        .ok_or_else(|| {
            Error::failed(format!("creating security group {name}: no ID in the answer"))
        })
}

/// Adds an ingress rule unless the group already has it.
async fn allow(ec2: &Client, group: &str, rule: IpPermission) -> Result<()> {
    let current = ec2
        .describe_security_groups()
        .group_ids(group)
        .send()
        .await
        .map_err(|e| failed(&format!("reading security group {group}"), e))?
        .security_groups
        .unwrap_or_default()
        .into_iter()
        .flat_map(|g| g.ip_permissions.unwrap_or_default())
        .collect::<Vec<_>>();
    if current.iter().any(|have| covers(have, &rule)) {
        return Ok(());
    }
    match ec2.authorize_security_group_ingress().group_id(group).ip_permissions(rule).send().await {
        Ok(_) => Ok(()),
        // Another run added it between our read and our write.
        Err(e)
            if aws_sdk_ec2::error::ProvideErrorMetadata::code(&e)
                == Some("InvalidPermission.Duplicate") =>
        {
            Ok(())
        }
        Err(e) => Err(failed(&format!("adding a rule to security group {group}"), e)),
    }
}

/// Whether an existing rule already grants everything `want` grants.
fn covers(have: &IpPermission, want: &IpPermission) -> bool {
    let same_ports = have.ip_protocol == want.ip_protocol
        && have.from_port == want.from_port
        && have.to_port == want.to_port;
    let v4 = |p: &IpPermission| -> Vec<String> {
        p.ip_ranges().iter().filter_map(|r| r.cidr_ip.clone()).collect()
    };
    let v6 = |p: &IpPermission| -> Vec<String> {
        p.ipv6_ranges().iter().filter_map(|r| r.cidr_ipv6.clone()).collect()
    };
    let groups = |p: &IpPermission| -> Vec<String> {
        p.user_id_group_pairs().iter().filter_map(|g| g.group_id.clone()).collect()
    };
    let contains = |have: Vec<String>, want: Vec<String>| want.iter().all(|w| have.contains(w));
    same_ports
        && contains(v4(have), v4(want))
        && contains(v6(have), v6(want))
        && contains(groups(have), groups(want))
}
