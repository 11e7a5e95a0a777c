//! `--domain NAME`: the app on `https://NAME/`. The Route 53 hosted zone that owns the name (the
//! public zone with the longest matching suffix) holds ACM's validation record and the alias
//! records (A and AAAA) to the load balancer; the certificate is ACM's, validated by DNS and
//! found again by its domain and the prefix's tag. Only records that are aws-app's (aliases to
//! the prefix's load balancer, the certificate's own validation record) are changed or deleted.

use std::time::{Duration, Instant};

use aws_sdk_acm::types::{CertificateStatus, Tag as AcmTag, ValidationMethod};
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecord,
    ResourceRecordSet, RrType,
};
use sha2::Digest;

use super::change::{Action, Change as Planned, Diff};
use super::{Tags, failed};
use crate::error::{Error, Result};
use crate::say;

/// The Route 53 hosted zone a name is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    /// Without the `/hostedzone/` prefix.
    pub id: String,
    /// With its trailing dot, as Route 53 names zones.
    pub name: String,
}

/// The certificate of a domain, as ACM describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    pub arn: String,
    /// `ISSUED`, `PENDING_VALIDATION`, ...
    pub status: String,
    /// The validation record ACM asks for (name, value), once it gives it.
    pub record: Option<(String, String)>,
    /// When it expires (seconds since the epoch), once issued.
    pub not_after: Option<i64>,
}

/// Validation is usually a few minutes; ACM gives up after 72 hours, a deploy after this.
const VALIDATION_DEADLINE: Duration = Duration::from_secs(45 * 60);

/// `name` with one trailing dot, lowercased: how Route 53 answers names.
fn dotted(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.').to_ascii_lowercase())
}

/// The public hosted zone that owns `domain` (the longest suffix that is a zone), if any.
pub async fn find_zone(r53: &aws_sdk_route53::Client, domain: &str) -> Result<Option<Zone>> {
    let labels: Vec<&str> = domain.split('.').collect();
    for start in 0..labels.len() {
        let suffix = dotted(&labels[start..].join("."));
        let answer = r53
            .list_hosted_zones_by_name()
            .dns_name(&suffix)
            .max_items(10)
            .send()
            .await
            .map_err(|e| failed("finding the Route 53 hosted zone of --domain", e))?;
        let public: Vec<_> = answer
            .hosted_zones()
            .iter()
            .filter(|z| dotted(z.name()) == suffix)
            .filter(|z| !z.config().is_some_and(|c| c.private_zone()))
            .collect();
        match public.as_slice() {
            [] => continue,
            [zone] => {
                let id = zone.id().trim_start_matches("/hostedzone/").to_string();
                return Ok(Some(Zone { id, name: suffix }));
            }
            _ => {
                return Err(Error::input(format!(
                    "--domain {domain}: this account has {} public Route 53 zones named {suffix}: \
                     delete the one the domain is not delegated to",
                    public.len()
                )));
            }
        }
    }
    Ok(None)
}

/// The zone of `domain`, or exit 2 saying how to make one.
pub async fn require_zone(r53: &aws_sdk_route53::Client, domain: &str) -> Result<Zone> {
    find_zone(r53, domain).await?.ok_or_else(|| {
        let parent = domain.split_once('.').map_or(domain, |(_, rest)| rest);
        Error::input(format!(
            "--domain {domain}: no public Route 53 hosted zone of this account holds it: create \
             one for the domain (aws route53 create-hosted-zone --name {parent} \
             --caller-reference $(date +%s)) and delegate it at the registrar, or leave --domain out"
        ))
    })
}

/// The record set of exactly `name` and `kind` in the zone, if there is one.
async fn find_record(
    r53: &aws_sdk_route53::Client,
    zone: &Zone,
    name: &str,
    kind: RrType,
) -> Result<Option<ResourceRecordSet>> {
    let answer = r53
        .list_resource_record_sets()
        .hosted_zone_id(&zone.id)
        .start_record_name(name)
        .start_record_type(kind.clone())
        .max_items(1)
        .send()
        .await
        .map_err(|e| failed(&format!("reading the {} record of {name}", kind.as_str()), e))?;
    Ok(answer
        .resource_record_sets()
        .iter()
        .find(|r| dotted(r.name()) == dotted(name) && r.r#type() == &kind)
        .cloned())
}

/// Whether a record set is an alias to the load balancer of `dns_name`.
fn aliases(record: &ResourceRecordSet, dns_name: &str) -> bool {
    let wanted = dotted(dns_name);
    record.alias_target().is_some_and(|a| {
        let target = dotted(a.dns_name());
        target == wanted || target == format!("dualstack.{wanted}")
    })
}

/// What the name's A and AAAA records lack of aliases to the load balancer; refuses a record
/// of the name that is something else (another's), unless `adopt`.
pub async fn alias_diff(
    r53: &aws_sdk_route53::Client,
    zone: &Zone,
    domain: &str,
    lb_dns: &str,
    adopt: bool,
) -> Result<Diff> {
    let mut diff = Diff::default();
    for kind in [RrType::A, RrType::Aaaa] {
        match find_record(r53, zone, domain, kind.clone()).await? {
            Some(record) if aliases(&record, lb_dns) => {}
            Some(_) if !adopt => {
                return Err(Error::input(format!(
                    "--domain {domain}: its {} record points elsewhere (not at this prefix's load \
                     balancer): remove it, choose another name, or pass --adopt to point it here",
                    kind.as_str()
                )));
            }
            found => diff.note(format!(
                "{} {} → alias to the load balancer",
                kind.as_str(),
                if found.is_some() { "elsewhere" } else { "none" }
            )),
        }
    }
    // A CNAME of the same name would stand in the way of both.
    if find_record(r53, zone, domain, RrType::Cname).await?.is_some() {
        return Err(Error::input(format!(
            "--domain {domain}: the name has a CNAME record, which cannot stand beside the A and \
             AAAA aliases: remove it or choose another name"
        )));
    }
    Ok(diff)
}

/// A and AAAA aliases of `domain` to the load balancer (its `dualstack.` name), written when
/// they differ; whether anything was written.
pub async fn ensure_aliases(
    r53: &aws_sdk_route53::Client,
    zone: &Zone,
    domain: &str,
    lb_dns: &str,
    lb_zone_id: &str,
    adopt: bool,
) -> Result<bool> {
    if alias_diff(r53, zone, domain, lb_dns, adopt).await?.is_empty() {
        return Ok(false);
    }
    let target = AliasTarget::builder()
        .hosted_zone_id(lb_zone_id)
        .dns_name(format!("dualstack.{lb_dns}"))
        .evaluate_target_health(true)
        .build()
        .map_err(|e| Error::failed(format!("alias target: {e}")))?;
    let changes = [RrType::A, RrType::Aaaa]
        .into_iter()
        .map(|kind| {
            let set = ResourceRecordSet::builder()
                .name(domain)
                .r#type(kind)
                .alias_target(target.clone())
                .build()
                .map_err(|e| Error::failed(format!("alias record: {e}")))?;
            Change::builder()
                .action(ChangeAction::Upsert)
                .resource_record_set(set)
                .build()
                .map_err(|e| Error::failed(format!("alias change: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    // A batch comment is at most 256 characters: the name (up to 253) is not in it.
    change(r53, zone, changes, "aws-app: aliases to the load balancer").await?;
    Ok(true)
}

/// Sends one change batch and waits until Route 53 has it on all its servers.
async fn change(
    r53: &aws_sdk_route53::Client,
    zone: &Zone,
    changes: Vec<Change>,
    comment: &str,
) -> Result<()> {
    let batch = ChangeBatch::builder()
        .set_changes(Some(changes))
        .comment(comment)
        .build()
        .map_err(|e| Error::failed(format!("change batch: {e}")))?;
    let answer = r53
        .change_resource_record_sets()
        .hosted_zone_id(&zone.id)
        .change_batch(batch)
        .send()
        .await
        .map_err(|e| failed(&format!("changing records in the Route 53 zone {}", zone.name), e))?;
    let Some(info) = answer.change_info() else {
        return Ok(());
    };
    let id = info.id().to_string();
    let started = Instant::now();
    let mut status = info.status().clone();
    while status != ChangeStatus::Insync && started.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let answer = r53.get_change().id(&id).send().await;
        let answer =
            answer.map_err(|e| failed("asking Route 53 whether the change is in sync", e))?;
        status = answer.change_info().map(|c| c.status().clone()).unwrap_or(ChangeStatus::Insync);
    }
    Ok(())
}

/// The certificate of `domain` that carries the prefix's tag, ISSUED first, else pending; none
/// when there is neither.
pub async fn find_certificate(
    acm: &aws_sdk_acm::Client,
    domain: &str,
    prefix: &str,
) -> Result<Option<Certificate>> {
    match certificates_of(acm, prefix, Some(domain)).await?.first() {
        Some((_, arn)) => describe(acm, arn).await.map(Some),
        None => Ok(None),
    }
}

/// `(domain, ARN)` of the ISSUED or pending certificates (of `domain` only, when given) that
/// carry the prefix's tag, ISSUED first. One listing of both states; the tags are asked only of
/// the certificates of the name.
pub async fn certificates_of(
    acm: &aws_sdk_acm::Client,
    prefix: &str,
    domain: Option<&str>,
) -> Result<Vec<(String, String)>> {
    let mut found = Vec::new();
    let mut token = None;
    loop {
        let answer = acm
            .list_certificates()
            .certificate_statuses(CertificateStatus::Issued)
            .certificate_statuses(CertificateStatus::PendingValidation)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| failed("listing the ACM certificates", e))?;
        for summary in answer.certificate_summary_list() {
            let (Some(arn), Some(name)) = (summary.certificate_arn(), summary.domain_name()) else {
                continue;
            };
            if domain.is_some_and(|d| d != name) {
                continue;
            }
            let tags = acm.list_tags_for_certificate().certificate_arn(arn).send().await;
            let tags = tags.map_err(|e| failed("reading a certificate's tags", e))?;
            let ours = tags
                .tags()
                .iter()
                .any(|t| t.key() == super::TAG_PREFIX && t.value() == Some(prefix));
            if ours {
                let issued = summary.status() == Some(&CertificateStatus::Issued);
                found.push((!issued, name.to_string(), arn.to_string()));
            }
        }
        token = answer.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    found.sort_by_key(|(pending, _, _)| *pending);
    Ok(found.into_iter().map(|(_, name, arn)| (name, arn)).collect())
}

/// A certificate as ACM describes it now.
pub async fn describe(acm: &aws_sdk_acm::Client, arn: &str) -> Result<Certificate> {
    let answer = acm.describe_certificate().certificate_arn(arn).send().await;
    let answer = answer.map_err(|e| failed("reading the ACM certificate", e))?;
    let detail = answer
        .certificate()
        .ok_or_else(|| Error::failed(format!("ACM describes no certificate {arn}")))?;
    let record = detail
        .domain_validation_options()
        .iter()
        .find_map(|o| o.resource_record())
        .map(|r| (r.name().to_string(), r.value().to_string()));
    Ok(Certificate {
        arn: arn.to_string(),
        status: detail.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
        record,
        not_after: detail.not_after().map(|t| t.secs()),
    })
}

/// The token that makes the SDK's retries of one request one certificate: 32 characters of
/// `\w`, new for each request. (ACM answers a token it saw within the hour with that request's
/// certificate even when it has been deleted since: a token of the name alone would give a
/// deploy with `--domain` again, soon after one without it, a deleted certificate. A rerun finds
/// its pending certificate by the prefix's tag instead.)
fn idempotency_token(prefix: &str, domain: &str) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    let nanos = now.map(|d| d.as_nanos()).unwrap_or_default();
    let seed = format!("aws-app {prefix} {domain} {nanos} {}", std::process::id());
    hex::encode(sha2::Sha256::digest(seed.as_bytes()))[..32].to_string()
}

/// The ISSUED certificate of `domain`: found (by domain and the prefix's tag) or requested,
/// its validation record written in the zone, and waited for. Its ARN.
pub async fn ensure_certificate(
    acm: &aws_sdk_acm::Client,
    r53: &aws_sdk_route53::Client,
    zone: &Zone,
    domain: &str,
    tags: &Tags,
) -> Result<Certificate> {
    let mut certificate = match find_certificate(acm, domain, &tags.prefix).await? {
        Some(found) => found,
        None => {
            let acm_tags = tags
                .pairs()
                .into_iter()
                .map(|(k, v)| AcmTag::builder().key(k).value(v).build())
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| Error::failed(format!("certificate tags: {e}")))?;
            let answer = acm
                .request_certificate()
                .domain_name(domain)
                .validation_method(ValidationMethod::Dns)
                .idempotency_token(idempotency_token(&tags.prefix, domain))
                .set_tags(Some(acm_tags))
                .send()
                .await
                .map_err(|e| failed(&format!("requesting a certificate for {domain}"), e))?;
            let arn = answer.certificate_arn().unwrap_or_default().to_string();
            crate::note(format!("requested an ACM certificate for {domain}"));
            describe(acm, &arn).await?
        }
    };
    if certificate.status == "ISSUED" {
        return Ok(certificate);
    }
    // ACM gives the validation record a few seconds after the request.
    let started = Instant::now();
    while certificate.record.is_none() && started.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_secs(2)).await;
        certificate = describe(acm, &certificate.arn).await?;
    }
    let Some((name, value)) = certificate.record.clone() else {
        return Err(Error::failed(format!(
            "ACM gave no DNS validation record for {domain} within 2 minutes; deploy again"
        )));
    };
    ensure_validation_record(r53, zone, &name, &value).await?;
    say(format!(
        "waiting for ACM to validate the certificate for {domain}: it checks the record {name} \
         in Route 53 (usually a few minutes; the deploy goes on once it is issued)"
    ));
    let started = Instant::now();
    loop {
        match certificate.status.as_str() {
            "ISSUED" => break,
            "PENDING_VALIDATION" => {}
            other => {
                return Err(Error::failed(format!(
                    "ACM did not issue the certificate for {domain}: it is {other}; check that \
                     the zone {} is the one the domain is delegated to, and that no CAA record \
                     forbids Amazon, then deploy again",
                    zone.name
                )));
            }
        }
        if started.elapsed() > VALIDATION_DEADLINE {
            return Err(Error::failed(format!(
                "ACM has not validated the certificate for {domain} after {} minutes: check that \
                 the domain is delegated to the Route 53 zone {} (its NS records at the \
                 registrar), then deploy again (the request and its record are kept)",
                VALIDATION_DEADLINE.as_secs() / 60,
                zone.name
            )));
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
        certificate = describe(acm, &certificate.arn).await?;
    }
    crate::done(format!("certificate for {domain} issued"));
    Ok(certificate)
}

/// The validation CNAME, written when the zone lacks it (it stays: ACM renews by it).
async fn ensure_validation_record(
    r53: &aws_sdk_route53::Client,
    zone: &Zone,
    name: &str,
    value: &str,
) -> Result<()> {
    let found = find_record(r53, zone, name, RrType::Cname).await?;
    let has = found
        .is_some_and(|r| r.resource_records().iter().any(|v| dotted(v.value()) == dotted(value)));
    if has {
        return Ok(());
    }
    let record = ResourceRecord::builder()
        .value(value)
        .build()
        .map_err(|e| Error::failed(format!("validation record: {e}")))?;
    let set = ResourceRecordSet::builder()
        .name(name)
        .r#type(RrType::Cname)
        .ttl(300)
        .resource_records(record)
        .build()
        .map_err(|e| Error::failed(format!("validation record: {e}")))?;
    let upsert = Change::builder()
        .action(ChangeAction::Upsert)
        .resource_record_set(set)
        .build()
        .map_err(|e| Error::failed(format!("validation change: {e}")))?;
    change(r53, zone, vec![upsert], "aws-app: ACM validation").await
}

/// What a deploy would do for `--domain`: the certificate and the alias records. Reads only.
pub async fn plan(
    acm: &aws_sdk_acm::Client,
    r53: &aws_sdk_route53::Client,
    domain: &str,
    prefix: &str,
    lb_dns: Option<&str>,
    adopt: bool,
) -> Result<(Vec<Planned>, Option<Certificate>)> {
    let zone = require_zone(r53, domain).await?;
    let certificate = find_certificate(acm, domain, prefix).await?;
    let mut changes = vec![match &certificate {
        Some(c) if c.status == "ISSUED" => {
            Planned::new(format!("ACM certificate {domain}"), Action::Unchanged)
        }
        Some(c) => Planned::new(
            format!("ACM certificate {domain}"),
            Action::Update(vec![format!("{} → ISSUED (validated by DNS)", c.status)]),
        ),
        None => {
            Planned::new(format!("ACM certificate {domain} (validated by DNS)"), Action::Create)
        }
    }];
    let what = format!("Route 53 records {domain} (A, AAAA) in {}", zone.name);
    changes.push(match lb_dns {
        Some(dns) => {
            let diff = alias_diff(r53, &zone, domain, dns, adopt).await?;
            let found = diff.0.len() < 2;
            Planned::from_diff(what, found, diff)
        }
        None => Planned::new(what, Action::Create),
    });
    Ok((changes, certificate))
}

/// Whether a record set is an alias to a load balancer of the name `lb_name` (ELB names its DNS
/// names `<name>-<id>.<region>.elb.amazonaws.com`), found without the load balancer itself (a
/// destroy that was stopped after deleting it).
fn aliases_named(record: &ResourceRecordSet, lb_name: &str) -> bool {
    record.alias_target().is_some_and(|a| {
        let target = dotted(a.dns_name());
        let target = target.trim_start_matches("dualstack.");
        // `<name>-<id>.`: the ID has no hyphen, so a longer name that starts alike is another's.
        let rest = target.strip_prefix(&format!("{}-", lb_name.to_ascii_lowercase()));
        rest.is_some_and(|r| {
            r.split('.').next().is_some_and(|id| !id.is_empty() && !id.contains('-'))
                && r.contains(".elb.")
        })
    })
}

/// Deletes the records `--domain` made for the prefix's certificate of `domain`: the aliases to
/// the load balancer named `lb_name` and the certificate's validation record. What was deleted,
/// as people name it.
pub async fn delete_records(
    acm: &aws_sdk_acm::Client,
    r53: &aws_sdk_route53::Client,
    domain: &str,
    certificate_arn: &str,
    lb_name: &str,
) -> Result<Vec<String>> {
    let certificate = describe(acm, certificate_arn).await?;
    let Some(zone) = find_zone(r53, domain).await? else {
        return Ok(Vec::new());
    };
    let mut gone = Vec::new();
    for kind in [RrType::A, RrType::Aaaa] {
        if let Some(record) = find_record(r53, &zone, domain, kind).await?
            && aliases_named(&record, lb_name)
        {
            gone.push(record);
        }
    }
    if let Some((name, value)) = &certificate.record
        && let Some(record) = find_record(r53, &zone, name, RrType::Cname).await?
        && record.resource_records().iter().any(|v| dotted(v.value()) == dotted(value))
    {
        gone.push(record);
    }
    if gone.is_empty() {
        return Ok(Vec::new());
    }
    let what: Vec<String> = gone
        .iter()
        .map(|r| format!("Route 53 record {} {}", r.r#type().as_str(), r.name()))
        .collect();
    let changes = gone
        .into_iter()
        .map(|set| {
            Change::builder()
                .action(ChangeAction::Delete)
                .resource_record_set(set)
                .build()
                .map_err(|e| Error::failed(format!("record deletion: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    change(r53, &zone, changes, "aws-app: destroy").await?;
    Ok(what)
}

/// Deletes the certificate once no listener holds it (ACM frees it some seconds after its
/// listener goes); false when it was not there.
pub async fn delete_certificate(acm: &aws_sdk_acm::Client, arn: &str) -> Result<bool> {
    let in_use = |code: Option<&str>, _: Option<&str>| code == Some("ResourceInUseException");
    let answer = super::retry_for(
        "deleting the ACM certificate",
        Duration::from_secs(180),
        Duration::from_secs(5),
        in_use,
        || acm.delete_certificate().certificate_arn(arn).send(),
    )
    .await;
    match answer {
        Ok(_) => Ok(true),
        Err(e) if e.message.contains("ResourceNotFoundException") => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_compared_as_route_53_answers_them() {
        assert_eq!(dotted("App.Example.com"), "app.example.com.");
        assert_eq!(dotted("app.example.com."), "app.example.com.");
    }

    #[test]
    fn the_idempotency_token_is_what_acm_takes() {
        let token = idempotency_token("ann", "app.example.com");
        assert_eq!(token.len(), 32);
        assert!(token.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(token, idempotency_token("ann", "app.example.com"), "one a request");
    }

    #[test]
    fn an_alias_is_the_load_balancers_by_its_name_with_or_without_dualstack() {
        let alias = |dns: &str| {
            let target = AliasTarget::builder()
                .hosted_zone_id("Z35SXDOTRQ7X7K")
                .dns_name(dns)
                .evaluate_target_health(true)
                .build()
                .expect("target");
            ResourceRecordSet::builder()
                .name("app.example.com.")
                .r#type(RrType::A)
                .alias_target(target)
                .build()
                .expect("record")
        };
        let lb = "ann-aws-app-123.us-east-1.elb.amazonaws.com";
        assert!(aliases(&alias(&format!("dualstack.{lb}.")), lb));
        assert!(aliases(&alias(&lb.to_uppercase()), lb));
        assert!(!aliases(&alias("other-1.us-east-1.elb.amazonaws.com."), lb));
        assert!(aliases_named(&alias(&format!("dualstack.{lb}.")), "ann-aws-app"));
        assert!(!aliases_named(&alias(&format!("dualstack.{lb}.")), "ann"));
        assert!(!aliases_named(&alias("ann-aws-app-1.example.com."), "ann-aws-app"));
    }
}
