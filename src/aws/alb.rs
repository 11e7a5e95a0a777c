//! The load balancer in front of the service: an internet-facing ALB in the two subnets, a
//! target group of type `ip` for the tasks, and a listener on :80 forwarding to it. The health
//! check and deregistration delay are tuned for fast, safe rollouts (README: "Rollout timing"):
//! AWS's defaults (30 s × 5 healthy checks, 300 s of draining) cost minutes per deploy.

use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::types::{
    self, Action, ActionTypeEnum, Certificate, IpAddressType, LoadBalancerSchemeEnum,
    LoadBalancerTypeEnum, Matcher, ProtocolEnum, RedirectActionConfig,
    RedirectActionStatusCodeEnum, Tag, TargetGroupAttribute, TargetTypeEnum,
};

use super::change::{Change, Diff};
use super::network::Network;
use super::{Tags, failed, found, retry_for, retry_while};
use crate::config::Names;
use crate::error::{Error, Result};

/// Health check: a new task is healthy after 2 × 5 s; a broken one is out after 3 × 5 s.
pub const HEALTH_INTERVAL_SECS: i32 = 5;
pub const HEALTH_TIMEOUT_SECS: i32 = 4;
pub const HEALTHY_THRESHOLD: i32 = 2;
pub const UNHEALTHY_THRESHOLD: i32 = 3;
/// The answers a health check takes as healthy (a redirect from `/` is a serving app).
pub const HEALTHY_CODES: &str = "200-399";
/// Draining: requests to this app are short; 15 s lets them finish (gunicorn's graceful
/// timeout is 20 s, ECS stops tasks after 30 s).
pub const DEREGISTRATION_DELAY_SECS: i32 = 15;
/// `--domain`'s HTTPS listener: TLS 1.3 and 1.2 only (with hybrid post-quantum key exchange for
/// clients that offer it), AWS's recommended policy and the console's default; the API's default
/// (ELBSecurityPolicy-2016-08) still allows TLS 1.0.
pub const TLS_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09";
/// The same without post-quantum key exchange, where a partition lacks the policy above.
pub const TLS_POLICY_FALLBACK: &str = "ELBSecurityPolicy-TLS13-1-2-Res-2021-06";

#[derive(Debug, Clone)]
pub struct LoadBalancer {
    pub arn: String,
    pub dns_name: String,
    /// The zone of the load balancer's DNS name, which alias records name with it.
    pub zone_id: String,
    /// `active` when found or made (a new one is `provisioning`): only then is waiting needed.
    pub active: bool,
}

/// A load balancer or target group found by name must be in the network the service uses (it
/// is not, when the account's default VPC went away since the last deploy).
fn same_vpc(what: &str, name: &str, found: Option<&str>, wanted: &str) -> Result<()> {
    match found {
        Some(vpc) if vpc != wanted => Err(Error::failed(format!(
            "the {what} {name} is in {vpc}, but the service's network is {wanted}: run \
             `aws-app destroy` for this prefix, then deploy again"
        ))),
        _ => Ok(()),
    }
}

fn tags(tags: &Tags) -> Vec<Tag> {
    tags.pairs().into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

/// The tags of each load balancer or target group ARN, as key and value.
pub async fn tags_of(
    elb: &Client,
    arns: &[String],
) -> Result<std::collections::HashMap<String, Vec<(String, String)>>> {
    let call = elb.describe_tags().set_resource_arns(Some(arns.to_vec()));
    let out = call.send().await.map_err(|e| failed("reading the load balancer's tags", e))?;
    Ok(out
        .tag_descriptions
        .unwrap_or_default()
        .into_iter()
        .filter_map(|d| {
            let tags = d.tags.unwrap_or_default().into_iter();
            let pairs = tags.map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()));
            Some((d.resource_arn?, pairs.collect()))
        })
        .collect())
}

/// Puts the prefix's tags on a load balancer or target group (`--adopt`).
pub async fn tag(elb: &Client, arn: &str, with: &Tags) -> Result<()> {
    let call = elb.add_tags().resource_arns(arn).set_tags(Some(tags(with)));
    call.send().await.map_err(|e| failed("tagging the load balancer", e))?;
    Ok(())
}

/// The load balancer of this name, if there is one.
pub async fn find_load_balancer(elb: &Client, name: &str) -> Result<Option<types::LoadBalancer>> {
    let answer = elb.describe_load_balancers().names(name).send().await;
    let out =
        found("finding the load balancer", answer, |e| e.is_load_balancer_not_found_exception())?;
    Ok(out.and_then(|o| o.load_balancers.unwrap_or_default().into_iter().next()))
}

/// The target group of this name, if there is one.
pub async fn find_target_group(elb: &Client, name: &str) -> Result<Option<types::TargetGroup>> {
    let answer = elb.describe_target_groups().names(name).send().await;
    let out =
        found("finding the target group", answer, |e| e.is_target_group_not_found_exception())?;
    Ok(out.and_then(|o| o.target_groups.unwrap_or_default().into_iter().next()))
}

/// The :80 listener of a load balancer, if it has one.
pub async fn find_listener(elb: &Client, lb_arn: &str) -> Result<Option<types::Listener>> {
    find_listener_on(elb, lb_arn, 80).await
}

/// The listener on `port` of a load balancer, if it has one.
pub async fn find_listener_on(
    elb: &Client,
    lb_arn: &str,
    port: i32,
) -> Result<Option<types::Listener>> {
    let listeners = elb
        .describe_listeners()
        .load_balancer_arn(lb_arn)
        .send()
        .await
        .map_err(|e| failed("listing the load balancer's listeners", e))?
        .listeners
        .unwrap_or_default();
    Ok(listeners.into_iter().find(|l| l.port == Some(port)))
}

/// The target group's deregistration delay attribute, as ELB states it.
async fn find_deregistration_delay(elb: &Client, arn: &str) -> Result<Option<String>> {
    let attributes = elb
        .describe_target_group_attributes()
        .target_group_arn(arn)
        .send()
        .await
        .map_err(|e| failed("reading the target group's attributes", e))?
        .attributes
        .unwrap_or_default();
    Ok(attributes.into_iter().find(|a| a.key() == Some(DEREGISTRATION_KEY)).and_then(|a| a.value))
}

const DEREGISTRATION_KEY: &str = "deregistration_delay.timeout_seconds";

/// What differs between the target group's health check and aws-app's.
pub fn health_check_diff(tg: &types::TargetGroup) -> Diff {
    let mut diff = Diff::default();
    diff.compare("health check path", tg.health_check_path(), "/");
    diff.compare("interval", tg.health_check_interval_seconds, HEALTH_INTERVAL_SECS);
    diff.compare("timeout", tg.health_check_timeout_seconds, HEALTH_TIMEOUT_SECS);
    diff.compare("healthy threshold", tg.healthy_threshold_count, HEALTHY_THRESHOLD);
    diff.compare("unhealthy threshold", tg.unhealthy_threshold_count, UNHEALTHY_THRESHOLD);
    diff.compare("healthy codes", tg.matcher().and_then(|m| m.http_code()), HEALTHY_CODES);
    diff
}

/// What differs in the draining time.
pub fn deregistration_diff(found: Option<&str>) -> Diff {
    let mut diff = Diff::default();
    diff.compare("deregistration delay", found, DEREGISTRATION_DELAY_SECS.to_string().as_str());
    diff
}

/// Whether a listener answers with a permanent redirect to https on :443 (`--domain`).
pub fn redirects_to_https(listener: &types::Listener) -> bool {
    listener.default_actions().iter().any(|a| {
        a.r#type() == Some(&ActionTypeEnum::Redirect)
            && a.redirect_config().is_some_and(|r| {
                r.protocol() == Some("HTTPS")
                    && r.port() == Some("443")
                    && r.status_code() == Some(&RedirectActionStatusCodeEnum::Http301)
            })
    })
}

/// :80's permanent redirect to the same host and path on https.
fn redirect_to_https() -> Action {
    let config = RedirectActionConfig::builder()
        .protocol("HTTPS")
        .port("443")
        .host("#{host}")
        .path("/#{path}")
        .query("#{query}")
        .status_code(RedirectActionStatusCodeEnum::Http301)
        .build();
    Action::builder().r#type(ActionTypeEnum::Redirect).redirect_config(config).build()
}

/// What :80 should do: forward to the target group, or redirect to https (`--domain`, once the
/// HTTPS listener serves).
pub fn http_listener_diff(
    listener: &types::Listener,
    tg_arn: Option<&str>,
    redirect: bool,
) -> Diff {
    if !redirect {
        return listener_diff(listener, tg_arn);
    }
    let mut diff = Diff::default();
    if !redirects_to_https(listener) {
        diff.note("forwards → redirects to https (301)");
    }
    diff
}

/// Whether the listener forwards where it should (`None`: the target group is yet to be made).
pub fn listener_diff(listener: &types::Listener, tg_arn: Option<&str>) -> Diff {
    let mut diff = Diff::default();
    let forwards_here = tg_arn.is_some_and(|arn| {
        listener.default_actions().iter().any(|a| a.target_group_arn() == Some(arn))
    });
    if !forwards_here {
        diff.note("forwards elsewhere → to the target group");
    }
    diff
}

/// What a deploy would do to the load balancer, target group and listeners (with `https`, the
/// certificate the :443 listener would have), and the target group's and load balancer's ARNs
/// when they exist. Reads only.
pub async fn plan(
    elb: &Client,
    names: &Names,
    vpc_id: Option<&str>,
    https: Option<&str>,
) -> Result<(Vec<Change>, Option<String>, Option<String>)> {
    let (lb, tg) = tokio::join!(
        find_load_balancer(elb, &names.load_balancer),
        find_target_group(elb, &names.target_group)
    );
    let (lb, tg) = (lb?, tg?);
    let in_vpc = |diff: &mut Diff, found: Option<&str>| {
        if let (Some(found), Some(wanted)) = (found, vpc_id)
            && found != wanted
        {
            diff.note(format!("VPC {found} → {wanted}: run destroy, then deploy"));
        }
    };
    let mut lb_diff = Diff::default();
    in_vpc(&mut lb_diff, lb.as_ref().and_then(|l| l.vpc_id()));
    let mut tg_diff = Diff::default();
    if let Some(tg) = &tg {
        in_vpc(&mut tg_diff, tg.vpc_id());
        tg_diff.0.extend(health_check_diff(tg).0);
        if let Some(arn) = tg.target_group_arn() {
            let delay = find_deregistration_delay(elb, arn).await?;
            tg_diff.0.extend(deregistration_diff(delay.as_deref()).0);
        }
    }
    let listener = match lb.as_ref().and_then(|l| l.load_balancer_arn()) {
        Some(arn) => find_listener(elb, arn).await?,
        None => None,
    };
    let tg_arn = tg.as_ref().and_then(|t| t.target_group_arn());
    let redirect = https.is_some();
    let listener_diff =
        listener.as_ref().map(|l| http_listener_diff(l, tg_arn, redirect)).unwrap_or_default();
    let secure = match lb.as_ref().and_then(|l| l.load_balancer_arn()) {
        Some(arn) => find_listener_on(elb, arn, 443).await?,
        None => None,
    };
    let mut changes = vec![
        Change::from_diff(format!("load balancer {}", names.load_balancer), lb.is_some(), lb_diff),
        Change::from_diff(format!("target group {}", names.target_group), tg.is_some(), tg_diff),
        Change::from_diff("listener :80", listener.is_some(), listener_diff),
    ];
    match (https, &secure) {
        (Some(certificate), _) => {
            let diff = secure
                .as_ref()
                .map(|l| https_listener_diff(l, tg_arn.unwrap_or_default(), certificate))
                .unwrap_or_default();
            changes.push(Change::from_diff("listener :443", secure.is_some(), diff));
        }
        (None, Some(_)) => {
            changes.push(Change::new("listener :443", super::change::Action::Delete))
        }
        (None, None) => {}
    }
    let lb_arn = lb.as_ref().and_then(|l| l.load_balancer_arn()).map(str::to_string);
    Ok((changes, tg_arn.map(str::to_string), lb_arn))
}

/// Finds or creates the ALB. Creation returns at once; the ALB provisions in the background
/// (minutes), which is why deploy starts this before the image build.
pub async fn ensure_load_balancer(
    elb: &Client,
    names: &Names,
    network: &Network,
    tag_set: &Tags,
) -> Result<LoadBalancer> {
    let lb = match find_load_balancer(elb, &names.load_balancer).await? {
        Some(lb) => {
            same_vpc("load balancer", &names.load_balancer, lb.vpc_id(), &network.vpc_id)?;
            lb
        }
        None => {
            // A security group created a moment ago may not be known to ELB yet, nor an
            // internet gateway attached a moment ago ("VPC ... has no internet gateway").
            let new_group = |code: Option<&str>, _: Option<&str>| {
                matches!(code, Some("InvalidSecurityGroup" | "InvalidSubnet"))
            };
            let request = elb
                .create_load_balancer()
                .name(&names.load_balancer)
                .r#type(LoadBalancerTypeEnum::Application)
                .scheme(LoadBalancerSchemeEnum::InternetFacing)
                .ip_address_type(IpAddressType::Ipv4)
                .set_subnets(Some(network.subnets.clone()))
                .security_groups(&network.alb_security_group)
                .set_tags(Some(tags(tag_set)));
            retry_while("creating the load balancer", new_group, || request.clone().send())
                .await?
                .load_balancers
                .unwrap_or_default()
                .into_iter()
                .next()
                .ok_or_else(|| Error::failed("creating the load balancer: empty answer"))?
        }
    };
    let active = lb.state().and_then(|s| s.code()).map(|c| c.as_str()) == Some("active");
    Ok(LoadBalancer {
        active,
        arn: lb.load_balancer_arn.ok_or_else(|| Error::failed("load balancer without ARN"))?,
        dns_name: lb.dns_name.ok_or_else(|| Error::failed("load balancer without DNS name"))?,
        zone_id: lb.canonical_hosted_zone_id.unwrap_or_default(),
    })
}

/// Finds or creates the target group (type ip, health check on `/`) and sets its health check
/// and draining time when they differ.
pub async fn ensure_target_group(
    elb: &Client,
    names: &Names,
    vpc_id: &str,
    app_port: u16,
    tag_set: &Tags,
) -> Result<String> {
    let (arn, tuned) = match find_target_group(elb, &names.target_group).await? {
        Some(tg) => {
            same_vpc("target group", &names.target_group, tg.vpc_id(), vpc_id)?;
            let tuned = health_check_diff(&tg).is_empty();
            (tg.target_group_arn.ok_or_else(|| Error::failed("target group without ARN"))?, tuned)
        }
        None => {
            let created = elb
                .create_target_group()
                .name(&names.target_group)
                .protocol(ProtocolEnum::Http)
                .port(i32::from(app_port))
                .vpc_id(vpc_id)
                .target_type(TargetTypeEnum::Ip)
                .health_check_protocol(ProtocolEnum::Http)
                .health_check_path("/")
                .health_check_interval_seconds(HEALTH_INTERVAL_SECS)
                .health_check_timeout_seconds(HEALTH_TIMEOUT_SECS)
                .healthy_threshold_count(HEALTHY_THRESHOLD)
                .unhealthy_threshold_count(UNHEALTHY_THRESHOLD)
                .matcher(Matcher::builder().http_code(HEALTHY_CODES).build())
                .set_tags(Some(tags(tag_set)))
                .send()
                .await
                .map_err(|e| failed("creating the target group", e))?;
            let arn = created
                .target_groups
                .unwrap_or_default()
                .into_iter()
                .find_map(|t| t.target_group_arn)
                .ok_or_else(|| Error::failed("creating the target group: no ARN in the answer"))?;
            (arn, true)
        }
    };
    if !tuned {
        elb.modify_target_group()
            .target_group_arn(&arn)
            .health_check_path("/")
            .health_check_interval_seconds(HEALTH_INTERVAL_SECS)
            .health_check_timeout_seconds(HEALTH_TIMEOUT_SECS)
            .healthy_threshold_count(HEALTHY_THRESHOLD)
            .unhealthy_threshold_count(UNHEALTHY_THRESHOLD)
            .matcher(Matcher::builder().http_code(HEALTHY_CODES).build())
            .send()
            .await
            .map_err(|e| failed("tuning the target group's health check", e))?;
    }
    let delay = find_deregistration_delay(elb, &arn).await?;
    if !deregistration_diff(delay.as_deref()).is_empty() {
        elb.modify_target_group_attributes()
            .target_group_arn(&arn)
            .attributes(
                TargetGroupAttribute::builder()
                    .key(DEREGISTRATION_KEY)
                    .value(DEREGISTRATION_DELAY_SECS.to_string())
                    .build(),
            )
            .send()
            .await
            .map_err(|e| failed("setting the target group's deregistration delay", e))?;
    }
    Ok(arn)
}

/// The listener on :80 forwarding to the target group (repointed if it forwards elsewhere).
/// With `keep_redirect` (`--domain`), a redirect to https is left as it is: `redirect_http`
/// sets it once HTTPS serves.
pub async fn ensure_listener(
    elb: &Client,
    lb_arn: &str,
    tg_arn: &str,
    tag_set: &Tags,
    keep_redirect: bool,
) -> Result<()> {
    let forward =
        Action::builder().r#type(ActionTypeEnum::Forward).target_group_arn(tg_arn).build();
    match find_listener(elb, lb_arn).await? {
        Some(listener) => {
            let kept = keep_redirect && redirects_to_https(&listener);
            if !kept && !listener_diff(&listener, Some(tg_arn)).is_empty() {
                elb.modify_listener()
                    .set_listener_arn(listener.listener_arn)
                    .default_actions(forward)
                    .send()
                    .await
                    .map_err(|e| failed("repointing the :80 listener", e))?;
            }
        }
        None => {
            elb.create_listener()
                .load_balancer_arn(lb_arn)
                .protocol(ProtocolEnum::Http)
                .port(80)
                .default_actions(forward)
                .set_tags(Some(tags(tag_set)))
                .send()
                .await
                .map_err(|e| failed("creating the :80 listener", e))?;
        }
    }
    Ok(())
}

/// :80 redirects to https (`--domain`, once HTTPS serves); whether it changed.
pub async fn redirect_http(elb: &Client, lb_arn: &str) -> Result<bool> {
    let Some(listener) = find_listener(elb, lb_arn).await? else {
        return Err(Error::failed("the load balancer has no :80 listener to redirect"));
    };
    if redirects_to_https(&listener) {
        return Ok(false);
    }
    elb.modify_listener()
        .set_listener_arn(listener.listener_arn)
        .default_actions(redirect_to_https())
        .send()
        .await
        .map_err(|e| failed("redirecting :80 to https", e))?;
    Ok(true)
}

/// What differs on the :443 listener: its certificate, TLS policy and target.
pub fn https_listener_diff(listener: &types::Listener, tg_arn: &str, certificate: &str) -> Diff {
    let mut diff = Diff::default();
    let current = listener.certificates().first().and_then(|c| c.certificate_arn());
    diff.compare("certificate", current, certificate);
    let policy = listener.ssl_policy();
    if !matches!(policy, Some(TLS_POLICY | TLS_POLICY_FALLBACK)) {
        diff.compare("TLS policy", policy, TLS_POLICY);
    }
    diff.0.extend(listener_diff(listener, Some(tg_arn)).0);
    diff
}

/// The HTTPS listener on :443 with `certificate` and aws-app's TLS policy, forwarding to the
/// target group; whether anything was written.
pub async fn ensure_https_listener(
    elb: &Client,
    lb_arn: &str,
    tg_arn: &str,
    certificate: &str,
    tag_set: &Tags,
) -> Result<bool> {
    let found = find_listener_on(elb, lb_arn, 443).await?;
    if found.as_ref().is_some_and(|l| https_listener_diff(l, tg_arn, certificate).is_empty()) {
        return Ok(false);
    }
    let forward =
        Action::builder().r#type(ActionTypeEnum::Forward).target_group_arn(tg_arn).build();
    let cert = Certificate::builder().certificate_arn(certificate).build();
    // Just after ACM issues a certificate, ELB may not take it for a moment.
    let settling = |code: Option<&str>, _: Option<&str>| {
        matches!(code, Some("UnsupportedCertificate" | "CertificateNotFound"))
    };
    let no_policy = |e: &Error| e.message.contains("SSLPolicyNotFound");
    let deadline = std::time::Duration::from_secs(120);
    let pause = std::time::Duration::from_secs(5);
    for policy in [TLS_POLICY, TLS_POLICY_FALLBACK] {
        let written = match &found {
            Some(listener) => {
                let call = elb
                    .modify_listener()
                    .set_listener_arn(listener.listener_arn.clone())
                    .protocol(ProtocolEnum::Https)
                    .port(443)
                    .certificates(cert.clone())
                    .ssl_policy(policy)
                    .default_actions(forward.clone());
                retry_for("updating the :443 listener", deadline, pause, settling, || {
                    call.clone().send()
                })
                .await
                .map(|_| ())
            }
            None => {
                let call = elb
                    .create_listener()
                    .load_balancer_arn(lb_arn)
                    .protocol(ProtocolEnum::Https)
                    .port(443)
                    .certificates(cert.clone())
                    .ssl_policy(policy)
                    .default_actions(forward.clone())
                    .set_tags(Some(tags(tag_set)));
                retry_for("creating the :443 listener", deadline, pause, settling, || {
                    call.clone().send()
                })
                .await
                .map(|_| ())
            }
        };
        match written {
            Err(e) if policy == TLS_POLICY && no_policy(&e) => continue,
            other => return other.map(|()| true),
        }
    }
    Ok(true)
}

/// Deletes a listener (the :443 one, when a deploy goes without `--domain`).
pub async fn delete_listener(elb: &Client, arn: &str) -> Result<()> {
    elb.delete_listener()
        .listener_arn(arn)
        .send()
        .await
        .map_err(|e| failed("deleting the :443 listener", e))?;
    Ok(())
}

/// The load balancer's state name (`provisioning`, `active`, ...), for progress and status.
pub async fn state(elb: &Client, lb_arn: &str) -> Result<String> {
    let out = elb
        .describe_load_balancers()
        .load_balancer_arns(lb_arn)
        .send()
        .await
        .map_err(|e| failed("reading the load balancer's state", e))?;
    Ok(out
        .load_balancers()
        .first()
        .and_then(|lb| lb.state())
        .and_then(|s| s.code())
        .map(|c| c.as_str().to_string())
        .unwrap_or_else(|| "unknown".to_string()))
}

/// Waits while the load balancer is `provisioning` (a new ALB takes minutes, and its DNS name
/// does not answer before): the URL check would only see failures until then.
pub async fn wait_active(elb: &Client, lb_arn: &str, deadline: std::time::Duration) -> Result<()> {
    let started = std::time::Instant::now();
    let mut said = false;
    loop {
        let state = state(elb, lb_arn).await?;
        match state.as_str() {
            "active" => return Ok(()),
            "provisioning" if started.elapsed() < deadline => {
                if !said {
                    crate::say("the load balancer is provisioning (a new one takes a few minutes)");
                    said = true;
                }
                crate::progress::detail("its DNS name answers once it is active");
                tokio::time::sleep(std::time::Duration::from_secs(3)).await;
            }
            other => {
                return Err(Error::failed(format!(
                    "the load balancer is {other}{}, not active: see its state in the EC2 \
                     console's Load Balancers page, or run destroy and deploy again",
                    if other == "provisioning" { " after the deadline" } else { "" }
                )));
            }
        }
    }
}

/// Deletes the load balancer, its listeners first.
pub async fn delete_load_balancer(elb: &Client, arn: &str) -> Result<()> {
    let listeners = elb
        .describe_listeners()
        .load_balancer_arn(arn)
        .send()
        .await
        .map_err(|e| failed("listing the listeners", e))?;
    for listener in listeners.listeners() {
        elb.delete_listener()
            .set_listener_arn(listener.listener_arn().map(str::to_string))
            .send()
            .await
            .map_err(|e| failed("deleting a listener", e))?;
    }
    elb.delete_load_balancer()
        .load_balancer_arn(arn)
        .send()
        .await
        .map_err(|e| failed("deleting the load balancer", e))?;
    Ok(())
}

/// Deletes the target group once the load balancer being deleted lets go of it.
pub async fn delete_target_group(elb: &Client, arn: &str) -> Result<()> {
    super::until_released("deleting the target group", &["ResourceInUse"], || {
        elb.delete_target_group().target_group_arn(arn).send()
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A target group as aws-app creates it.
    fn tuned() -> types::TargetGroup {
        types::TargetGroup::builder()
            .health_check_path("/")
            .health_check_interval_seconds(HEALTH_INTERVAL_SECS)
            .health_check_timeout_seconds(HEALTH_TIMEOUT_SECS)
            .healthy_threshold_count(HEALTHY_THRESHOLD)
            .unhealthy_threshold_count(UNHEALTHY_THRESHOLD)
            .matcher(Matcher::builder().http_code(HEALTHY_CODES).build())
            .build()
    }

    /// `tuned()` changed by hand.
    fn changed(by_hand: impl FnOnce(&mut types::TargetGroup)) -> types::TargetGroup {
        let mut tg = tuned();
        by_hand(&mut tg);
        tg
    }

    #[test]
    fn a_health_check_changed_by_hand_is_named() {
        let cases: [(&str, types::TargetGroup, &[&str]); 5] = [
            ("as created", tuned(), &[]),
            (
                "another path",
                changed(|t| t.health_check_path = Some("/health".into())),
                &["health check path /health → /"],
            ),
            (
                "the console's defaults",
                changed(|t| {
                    t.health_check_interval_seconds = Some(30);
                    t.health_check_timeout_seconds = Some(5);
                    t.healthy_threshold_count = Some(5);
                    t.unhealthy_threshold_count = Some(2);
                }),
                &[
                    "interval 30 → 5",
                    "timeout 5 → 4",
                    "healthy threshold 5 → 2",
                    "unhealthy threshold 2 → 3",
                ],
            ),
            (
                "only 200 taken",
                changed(|t| t.matcher = Some(Matcher::builder().http_code("200").build())),
                &["healthy codes 200 → 200-399"],
            ),
            (
                "nothing known",
                types::TargetGroup::builder().build(),
                &[
                    "health check path none → /",
                    "interval none → 5",
                    "timeout none → 4",
                    "healthy threshold none → 2",
                    "unhealthy threshold none → 3",
                    "healthy codes none → 200-399",
                ],
            ),
        ];
        for (case, tg, wanted) in cases {
            assert_eq!(health_check_diff(&tg).0, wanted, "{case}");
        }
    }

    #[test]
    fn draining_and_the_listeners_target_are_compared() {
        assert!(deregistration_diff(Some("15")).is_empty());
        assert_eq!(deregistration_diff(Some("300")).0, ["deregistration delay 300 → 15"]);
        assert_eq!(deregistration_diff(None).0, ["deregistration delay none → 15"]);

        let forward = |arn: &str| {
            types::Listener::builder()
                .default_actions(
                    types::Action::builder()
                        .r#type(types::ActionTypeEnum::Forward)
                        .target_group_arn(arn)
                        .build(),
                )
                .build()
        };
        assert!(listener_diff(&forward("arn:tg"), Some("arn:tg")).is_empty());
        assert_eq!(
            listener_diff(&forward("arn:other"), Some("arn:tg")).0,
            ["forwards elsewhere → to the target group"]
        );
        // The target group is yet to be made: the listener is to be pointed at it.
        assert!(!listener_diff(&forward("arn:tg"), None).is_empty());
    }
}
