//! `--domain`: the Route 53 zone that owns the name, an ACM certificate validated by DNS, HTTPS on
//! :443 with a current TLS policy, :80 redirecting to it, A and AAAA aliases, 443 open; the URL
//! is checked over HTTPS with the certificate checked (the data plane terminates TLS with a test
//! CA the run trusts: tests/env/strict/layer.py), so an untrusted or wrong certificate fails
//! the check. Without `--domain` again, and by destroy, all of it goes.

use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};

use crate::lifecycle::leftovers;
use crate::support::*;

/// The record sets of the zone as `TYPE name → target` lines (alias DNS name or values).
fn records(moto: &Moto, zone: &str) -> Vec<String> {
    moto.run(async {
        let out = moto.route53.list_resource_record_sets().hosted_zone_id(zone).send().await;
        let mut lines: Vec<String> = out
            .expect("records")
            .resource_record_sets()
            .iter()
            .filter(|r| !matches!(r.r#type(), RrType::Ns | RrType::Soa))
            .map(|r| {
                let target = match r.alias_target() {
                    Some(a) => format!("alias {} in {}", a.dns_name(), a.hosted_zone_id()),
                    None => r.resource_records().iter().map(|v| v.value()).collect(),
                };
                format!("{} {} → {target}", r.r#type().as_str(), r.name())
            })
            .collect();
        lines.sort();
        lines
    })
}

/// The load balancer's DNS name and canonical zone, and its listeners by port.
fn load_balancer(
    moto: &Moto,
    p: &str,
) -> (String, String, Vec<aws_sdk_elasticloadbalancingv2::types::Listener>) {
    moto.run(async {
        let lbs = moto.elb.describe_load_balancers().names(format!("{p}-aws-app")).send().await;
        let lb = lbs.expect("lb").load_balancers()[0].clone();
        let arn = lb.load_balancer_arn().expect("arn");
        let listeners = moto.elb.describe_listeners().load_balancer_arn(arn).send().await;
        let mut listeners = listeners.expect("listeners").listeners().to_vec();
        listeners.sort_by_key(|l| l.port());
        (
            lb.dns_name().expect("dns").to_string(),
            lb.canonical_hosted_zone_id().expect("zone").to_string(),
            listeners,
        )
    })
}

#[test]
fn a_domain_is_served_over_https_with_a_validated_certificate_and_http_redirects_to_it() {
    let Scenario { env, moto, mut fixture, prefix, url } = Scenario::new("domain");
    let p = prefix.as_str();
    let apex = format!("{p}.example.com");
    let name = format!("app.{apex}");
    let trusted = [("SSL_CERT_FILE", env.trust.as_str())];
    let run = |extra: &[&str], with: &[(&str, &str)]| {
        let mut all = vec!["deploy", "--json", "--repo", &url, "--prefix", p];
        all.extend_from_slice(extra);
        env.aws_app_with(&all, with)
    };

    // No hosted zone holds the name: exit 2 with the remedy, nothing made.
    let orphan = run(&["--domain", &name], &trusted);
    assert_eq!(orphan.code, 2, "{orphan:?}");
    assert!(orphan.last_stderr_line().contains("no public Route 53 hosted zone"), "{orphan:?}");
    assert_eq!(leftovers(env, &moto, p), Vec::<String>::new());

    // The operator's zone, with a name already taken by another's record.
    let zone = moto.run(async {
        let made = moto
            .route53
            .create_hosted_zone()
            .name(&apex)
            .caller_reference(format!("{p}-zone"))
            .send()
            .await
            .expect("zone");
        let id = made.hosted_zone().expect("zone").id().trim_start_matches("/hostedzone/");
        let taken = ResourceRecordSet::builder()
            .name(format!("taken.{apex}"))
            .r#type(RrType::A)
            .ttl(300)
            .resource_records(ResourceRecord::builder().value("192.0.2.10").build().expect("value"))
            .build()
            .expect("record");
        let change = Change::builder().action(ChangeAction::Create).resource_record_set(taken);
        let batch = ChangeBatch::builder().changes(change.build().expect("change"));
        let put = moto.route53.change_resource_record_sets().hosted_zone_id(id);
        put.change_batch(batch.build().expect("batch")).send().await.expect("taken record");
        id.to_string()
    });
    let taken = run(&["--domain", &format!("taken.{apex}")], &trusted);
    assert_eq!(taken.code, 2, "{taken:?}");
    assert!(taken.last_stderr_line().contains("points elsewhere"), "{taken:?}");
    assert_eq!(leftovers(env, &moto, p), Vec::<String>::new());

    // The deploy: certificate requested and validated by DNS, HTTPS, aliases, redirect.
    let first = run(&["--domain", &name], &trusted);
    assert_eq!(first.code, 0, "{first:?}");
    assert_eq!(first.json()["url"], format!("https://{name}/"), "{first:?}");
    assert!(first.stderr.contains("waiting for ACM to validate the certificate"), "{first:?}");
    let (dns, lb_zone, listeners) = load_balancer(&moto, p);
    let shown = records(&moto, &zone);
    for kind in ["A", "AAAA"] {
        let alias = format!("{kind} {name}. → alias dualstack.{dns} in {lb_zone}");
        let same = |r: &String| r.replace(". in ", " in ").eq_ignore_ascii_case(&alias);
        assert!(shown.iter().any(same), "{alias}: {shown:?}");
    }
    assert!(shown.iter().any(|r| r.starts_with("CNAME _")), "the validation record: {shown:?}");
    assert_eq!(listeners.len(), 2, "{listeners:?}");
    let (http, https) = (&listeners[0], &listeners[1]);
    assert_eq!(https.port(), Some(443));
    assert_eq!(https.ssl_policy(), Some("ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09"));
    let certificate = https.certificates()[0].certificate_arn().expect("certificate").to_string();
    let redirect = http.default_actions()[0].redirect_config().expect("a redirect on :80");
    assert_eq!((redirect.protocol(), redirect.port()), (Some("HTTPS"), Some("443")));
    let described = moto.run(async {
        let out = moto.acm.describe_certificate().certificate_arn(&certificate).send().await;
        out.expect("certificate").certificate().expect("detail").clone()
    });
    assert_eq!(described.domain_name(), Some(name.as_str()));
    let groups = moto.run(async {
        let filter = aws_sdk_ec2::types::Filter::builder()
            .name("group-name")
            .values(format!("{p}-aws-app-alb"))
            .build();
        let out = moto.ec2.describe_security_groups().filters(filter).send().await;
        out.expect("groups").security_groups().to_vec()
    });
    let ports: Vec<Option<i32>> =
        groups[0].ip_permissions().iter().map(|r| r.from_port()).collect();
    assert!(ports.contains(&Some(443)) && ports.contains(&Some(80)), "{ports:?}");
    // Plain HTTP answers with the permanent redirect, as ALB writes it.
    let (code, _) = env.get(&format!("http://{name}/"));
    assert_eq!(code, 301, "http:// redirects");

    // Nothing to do: plan names everything unchanged and writes nothing; a redeploy does
    // nothing; status shows the certificate.
    let plan = env.aws_app(&["plan", "--json", "--repo", &url, "--prefix", p, "--domain", &name]);
    assert_eq!(plan.code, 0, "{plan:?}");
    assert_eq!(plan.json()["writes"], 0);
    for change in plan.json()["changes"].as_array().expect("changes") {
        // ECS's service-linked role is the account's (tests/plan.rs says why it may show).
        if change["resource"] != "IAM role AWSServiceRoleForECS" {
            assert_eq!(change["action"], "unchanged", "{change}");
        }
    }
    let same = env.aws_app_with(
        &["redeploy", "--json", "--repo", &url, "--prefix", p, "--domain", &name],
        &trusted,
    );
    assert_eq!((same.code, same.json()["changed"].clone()), (0, false.into()), "{same:?}");
    assert_eq!(same.json()["url"], format!("https://{name}/"));
    let status = env.aws_app(&["status", "--prefix", p, "--domain", &name]);
    assert!(
        status.stdout.contains(&format!("https      {name}: certificate ISSUED")),
        "{status:?}"
    );

    // A client that does not trust the certificate's CA: the check fails, exit 1.
    let empty = tempfile_with("");
    let untrusted_env = [("SSL_CERT_FILE", empty.as_str())];
    fixture.write("app.py", &APP_PY.replace("Hello World!", "Hello over TLS"));
    fixture.commit("Second commit");
    let untrusted = run(&["--domain", &name], &untrusted_env);
    assert_eq!(untrusted.code, 1, "{untrusted:?}");
    assert!(
        untrusted.last_stderr_line().contains("does not present a valid certificate"),
        "{untrusted:?}"
    );
    let again = run(&["--domain", &name], &trusted);
    assert_eq!(again.code, 0, "{again:?}");

    // A listener with a certificate for another name (changed by hand): rollback's check fails
    // on the name; the next deploy puts the right certificate back.
    let direct = env.clients_direct("us-east-1");
    direct.run(async {
        let other = direct.acm.request_certificate().domain_name(format!("other.{apex}")).send();
        let other =
            other.await.expect("another certificate").certificate_arn().expect("arn").to_string();
        let cert = aws_sdk_elasticloadbalancingv2::types::Certificate::builder()
            .certificate_arn(other)
            .build();
        let listener = https.listener_arn().expect("arn");
        let call = direct.elb.modify_listener().listener_arn(listener).certificates(cert);
        call.send().await.expect("the listener's certificate changed by hand");
    });
    let back = env.aws_app_with(&["rollback", "--prefix", p, "--domain", &name], &trusted);
    assert_eq!(back.code, 1, "{back:?}");
    assert!(back.last_stderr_line().contains("does not present a valid certificate"), "{back:?}");
    let plan = env.aws_app(&["plan", "--repo", &url, "--prefix", p, "--domain", &name]);
    assert!(plan.stdout.contains("certificate arn:"), "the plan names the certificate: {plan:?}");
    let repaired = run(&["--domain", &name], &trusted);
    assert_eq!(repaired.code, 0, "{repaired:?}");
    assert_eq!(
        load_balancer(&moto, p).2[1].certificates()[0].certificate_arn(),
        Some(certificate.as_str())
    );

    // Without --domain: HTTPS, the records and the certificate go; :80 forwards again.
    let plain = run(&[], &[]);
    assert_eq!(plain.code, 0, "{plain:?}");
    assert_eq!(plain.json()["url"], format!("http://{dns}/"));
    assert_eq!(load_balancer(&moto, p).2.len(), 1, "only :80 is left");
    assert_eq!(records(&moto, &zone), vec![format!("A taken.{apex}. → 192.0.2.10")]);
    assert!(env.get(&format!("http://{dns}/")).1.contains("Hello over TLS"));

    // With it again (a redeploy of the same commit sees HTTPS is missing), then destroy:
    // nothing of it is left, the operator's record stays.
    let last = env.aws_app_with(
        &["redeploy", "--json", "--repo", &url, "--prefix", p, "--domain", &name],
        &trusted,
    );
    assert_eq!((last.code, last.json()["changed"].clone()), (0, true.into()), "{last:?}");
    assert_eq!(last.json()["url"], format!("https://{name}/"));
    let gone = env.aws_app(&["destroy", "--yes", "--prefix", p]);
    assert_eq!(gone.code, 0, "{gone:?}");
    assert!(gone.stderr.contains(&format!("deleted ACM certificate {name}")), "{gone:?}");
    assert_eq!(leftovers(env, &moto, p), Vec::<String>::new());
    assert_eq!(records(&moto, &zone), vec![format!("A taken.{apex}. → 192.0.2.10")]);
}

/// A file with `text` that lives as long as the test process (its path).
fn tempfile_with(text: &str) -> String {
    let path = std::env::temp_dir().join(format!("aws-app-empty-{}.pem", std::process::id()));
    std::fs::write(&path, text).expect("temp file");
    path.to_string_lossy().into_owned()
}
