//! The EC2 builder (`--builder ec2`, or no Docker engine here) against the AWS test side: moto
//! runs the instance, and the strict layer answers for the instance's address with a TLS
//! endpoint in front of the machine's engine that requires this run's client certificate and
//! admits only the addresses the instance's security group admits (tests/env/strict/layer.py).

use aws_sdk_ec2::types::{Filter, Instance, InstanceAttributeName, InstanceStateName};

use crate::support::*;

/// The address the test side's checkip answers: the operator's public address.
const OPERATOR: &str = "203.0.113.10/32";

/// The builder instances moto knows for a prefix (any state).
pub fn builders(moto: &Moto, p: &str) -> Vec<Instance> {
    moto.run(async {
        moto.ec2
            .describe_instances()
            .filters(Filter::builder().name("tag:aws-app:prefix").values(p).build())
            .filters(Filter::builder().name("tag:aws-app:role").values("builder").build())
            .send()
            .await
            .expect("describe instances")
            .reservations()
            .iter()
            .flat_map(|r| r.instances().to_vec())
            .collect()
    })
}

fn state(instance: &Instance) -> InstanceStateName {
    instance.state().and_then(|s| s.name()).cloned().expect("state")
}

fn builder_groups(moto: &Moto, p: &str) -> Vec<String> {
    moto.run(async {
        moto.ec2
            .describe_security_groups()
            .filters(
                Filter::builder().name("group-name").values(format!("{p}-aws-app-builder")).build(),
            )
            .send()
            .await
            .expect("describe security groups")
            .security_groups()
            .iter()
            .filter_map(|g| g.group_id().map(str::to_string))
            .collect()
    })
}

/// Every builder of the prefix terminated, and its security group gone.
fn assert_builders_gone(moto: &Moto, p: &str, context: &dyn std::fmt::Debug) {
    let instances = builders(moto, p);
    assert!(!instances.is_empty(), "no builder was started: {context:?}");
    for instance in &instances {
        assert_eq!(state(instance), InstanceStateName::Terminated, "{instance:?} {context:?}");
    }
    assert_eq!(builder_groups(moto, p), Vec::<String>::new(), "{context:?}");
}

fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An app of the builder tests' own: no intermediate image shared with a build running beside
/// it (two classic builds of identical steps on the containerd store can lose one's cached step).
fn own_fixture() -> Fixture {
    Fixture::new(&format!("{APP_PY}\n# built by the builder tests\n"))
}

fn checkip(env: &AwsEnv) -> String {
    format!("{}/-/checkip", env.moto)
}

#[test]
fn without_a_local_engine_deploy_builds_on_an_ec2_builder_that_is_gone_afterwards() {
    let Scenario { env, moto, fixture: _fixture, prefix, url } =
        Scenario::of("ec2-builder", own_fixture());
    let p = prefix.as_str();
    let checkip = checkip(env);
    let no_engine = [
        ("DOCKER_HOST", "unix:///nonexistent/docker.sock"),
        ("AWS_APP_CHECKIP_URL", checkip.as_str()),
    ];
    let run = env.aws_app_with(&["deploy", "--repo", &url, "--prefix", p], &no_engine);
    assert_eq!(run.code, 0, "{run:?}");
    for said in [
        "a build runs on an EC2 builder instead",
        "Docker API open to 203.0.113.10/32 only",
        // The first zone does not offer t3.medium (the layer says so as EC2 would): the next.
        "Unsupported: Your requested instance type (t3.medium) is not supported",
        "trying the next zone",
        "waiting for its Docker engine",
        "builder engine ready",
        "smoke test passed",
        "terminated in",
    ] {
        assert!(run.stderr.contains(said), "{said}: {run:?}");
    }
    let (status, page) = env.get(run.last_stdout_line());
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Hello"), "{page}");
    assert_builders_gone(&moto, p, &run);

    // The instance as launched: IMDSv2 only, hop limit 1, terminate on shutdown, the dead-man switch and the server's certificate (not the CA's key) in user data.
    let instances = builders(&moto, p);
    assert_eq!(instances.len(), 1, "{instances:?}");
    let instance = &instances[0];
    let metadata = instance.metadata_options().expect("metadata options");
    assert_eq!(metadata.http_tokens().map(|t| t.as_str()), Some("required"), "{instance:?}");
    assert_eq!(metadata.http_put_response_hop_limit(), Some(1), "{instance:?}");
    assert!(instance.image_id().unwrap_or_default().starts_with("ami-"), "{instance:?}");
    let id = instance.instance_id().expect("id").to_string();
    let attribute = |name: InstanceAttributeName| {
        moto.run(moto.ec2.describe_instance_attribute().instance_id(&id).attribute(name).send())
            .expect("describe instance attribute")
    };
    let shutdown = attribute(InstanceAttributeName::InstanceInitiatedShutdownBehavior);
    assert_eq!(
        shutdown.instance_initiated_shutdown_behavior().and_then(|v| v.value()),
        Some("terminate")
    );
    let user_data = attribute(InstanceAttributeName::UserData);
    let encoded = user_data.user_data().and_then(|v| v.value()).expect("user data");
    let script =
        String::from_utf8(aws_smithy_types::base64::decode(encoded).expect("base64 user data"))
            .expect("utf-8 user data");
    assert!(script.contains("shutdown -h +60\n"), "{script}");
    assert!(script.contains("--tlsverify"), "{script}");
    assert_eq!(script.matches("PRIVATE KEY-----").count(), 2, "one key, the server's: {script}");

    // The role may push to this prefix's repository, nothing else.
    let policy = moto
        .run(
            moto.iam
                .get_role_policy()
                .role_name(format!("{p}-aws-app-builder"))
                .policy_name("push-to-the-app-repository")
                .send(),
        )
        .expect("role policy");
    let document = percent_decoded(policy.policy_document());
    let document: serde_json::Value = serde_json::from_str(&document).expect("policy JSON");
    let statements = document["Statement"].as_array().expect("statements");
    assert_eq!(statements.len(), 2, "{document}");
    assert_eq!(statements[0]["Resource"], "*");
    assert_eq!(statements[0]["Action"], "ecr:GetAuthorizationToken");
    assert_eq!(
        statements[1]["Resource"],
        format!("arn:aws:ecr:us-east-1:123456789012:repository/{p}-aws-app"),
        "{document}"
    );
    let actions: Vec<&str> = statements[1]["Action"]
        .as_array()
        .expect("actions")
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert!(
        actions.iter().all(|a| !a.contains('*') && !a.starts_with("ecr:Delete")),
        "{actions:?}"
    );

    // Nothing new on the branch: nothing built, no builder started.
    let again = env.aws_app_with(&["deploy", "--repo", &url, "--prefix", p], &no_engine);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stderr.contains("nothing to build"), "{again:?}");
    assert!(!again.stderr.contains("starting builder"), "{again:?}");
    assert_eq!(builders(&moto, p).len(), 1);

    // destroy removes the builder's role and instance profile with the rest.
    let destroyed = env.aws_app(&["destroy", "--yes", "--prefix", p]);
    assert_eq!(destroyed.code, 0, "{destroyed:?}");
    assert!(
        destroyed.stderr.contains(&format!("instance profile {p}-aws-app-builder")),
        "{destroyed:?}"
    );
    assert!(
        moto.run(moto.iam.get_role().role_name(format!("{p}-aws-app-builder")).send()).is_err()
    );
}

#[test]
fn a_failed_build_on_the_builder_terminates_it() {
    let Scenario { env, moto, fixture: _fixture, prefix, url } =
        Scenario::with_app("ec2-fail", "raise SystemExit('this app does not start')\n");
    let p = prefix.as_str();
    let run = env.aws_app(&[
        "deploy",
        "--builder",
        "ec2",
        "--builder-cidr",
        OPERATOR,
        "--repo",
        &url,
        "--prefix",
        p,
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("this app does not start"), "{run:?}");
    assert!(run.stderr.contains("terminated in"), "{run:?}");
    assert_builders_gone(&moto, p, &run);
    let destroyed = env.aws_app(&["destroy", "--yes", "--prefix", p]);
    assert_eq!(destroyed.code, 0, "{destroyed:?}");
}

/// curl to the builder's engine with a client certificate of another CA, or none: refused.
fn foreign_clients_are_refused(address: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |f: &str| dir.path().join(f).to_string_lossy().into_owned();
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl").args(args).output().expect("openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &path("ca.key"),
        "-out",
        &path("ca.pem"),
        "-days",
        "1",
        "-subj",
        "/CN=other CA",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &path("client.key"),
        "-out",
        &path("client.csr"),
        "-subj",
        "/CN=mallory",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        &path("client.csr"),
        "-CA",
        &path("ca.pem"),
        "-CAkey",
        &path("ca.key"),
        "-CAcreateserial",
        "-out",
        &path("client.pem"),
        "-days",
        "1",
    ]);
    let url = "https://builder.aws-app.invalid:2376/_ping".to_string();
    let resolve = format!("builder.aws-app.invalid:2376:{address}");
    let curl = |extra: &[&str]| {
        let mut args = vec!["-sS", "-k", "--max-time", "10", "--resolve", &resolve];
        args.extend_from_slice(extra);
        args.push(&url);
        std::process::Command::new("curl").args(&args).output().expect("curl")
    };
    let foreign = curl(&["--cert", &path("client.pem"), "--key", &path("client.key")]);
    assert!(!foreign.status.success(), "a foreign certificate got in: {foreign:?}");
    assert!(!String::from_utf8_lossy(&foreign.stdout).contains("OK"), "{foreign:?}");
    let anonymous = curl(&[]);
    assert!(!anonymous.status.success(), "no certificate got in: {anonymous:?}");
}

#[test]
fn a_builder_goes_on_ctrl_c_and_one_left_by_a_kill_is_removed_by_the_next_run_or_destroy() {
    let Scenario { env, moto, fixture: _fixture, prefix, url } =
        Scenario::of("ec2-kill", own_fixture());
    let p = prefix.as_str();
    let args =
        ["deploy", "--builder", "ec2", "--builder-cidr", OPERATOR, "--repo", &url, "--prefix", p];

    // Ctrl-C while the builder builds: the run terminates it before it exits.
    let (code, stderr) = env.signal_at(&args, "aws-app: builder engine ready", "-INT");
    assert_eq!(code, 130, "{stderr}");
    assert!(stderr.contains(", terminated builder i-"), "{stderr}");
    assert_builders_gone(&moto, p, &stderr);

    // SIGKILL: no chance to clean up. The builder runs on (its dead-man switch would end it),
    // and answers nobody without this run's client certificate.
    let seen = env.kill_at(&args, "aws-app: builder engine ready");
    let left: Vec<Instance> =
        builders(&moto, p).into_iter().filter(|i| state(i) == InstanceStateName::Running).collect();
    assert_eq!(left.len(), 1, "{seen}");
    // While it runs, it has the push-only instance profile (EC2 disassociates it on termination).
    let profile = left[0].iam_instance_profile().and_then(|i| i.arn()).unwrap_or_default();
    assert!(profile.ends_with(&format!("/{p}-aws-app-builder")), "{:?}", left[0]);
    let address = left[0].public_ip_address().expect("public address").to_string();
    foreign_clients_are_refused(&address);
    assert_eq!(builder_groups(&moto, p).len(), 1);

    // The next deploy terminates it first (it holds the prefix's lock: no run uses that one),
    // then builds on one of its own, and leaves none.
    let next = env.aws_app(&args);
    assert_eq!(next.code, 0, "{next:?}");
    assert!(
        next.stderr.contains("terminating builder instance(s) left by an earlier run"),
        "{next:?}"
    );
    assert_builders_gone(&moto, p, &next);

    // Killed again (a rebuild: the service runs this commit now): destroy removes that one.
    let mut rebuild = args.to_vec();
    rebuild.insert(1, "--rebuild");
    let seen = env.kill_at(&rebuild, "aws-app: builder engine ready");
    let running =
        builders(&moto, p).into_iter().filter(|i| state(i) == InstanceStateName::Running).count();
    assert_eq!(running, 1, "{seen}");
    let destroyed = env.aws_app(&["destroy", "--yes", "--prefix", p]);
    assert_eq!(destroyed.code, 0, "{destroyed:?}");
    assert!(
        destroyed.stderr.contains("terminating builder instance(s) left by an earlier run"),
        "{destroyed:?}"
    );
    assert_builders_gone(&moto, p, &destroyed);
}
