//! `--secret`: values from SSM Parameter Store and Secrets Manager reach the running container
//! the way ECS puts them there (the data plane reads them with the task execution role's rights,
//! tests/env/strict/layer.py `task_secrets`), the role's inline policy names exactly those
//! resources, and aws-app itself never reads, prints or stores a value.

use crate::lifecycle::leftovers;
use crate::support::*;

/// The app shows each variable it is given, so the page tells what reached the container.
fn app() -> String {
    APP_PY.replace(
        "\"<h1>Hello World!</h1>",
        "\"<h1>\" + \"|\".join(os.environ.get(k, \"unset\") for k in (\"PLAIN\", \"GREETING\", \
         \"DB_PASSWORD\", \"API_KEY\")) + \"</h1>",
    )
}

/// The values, which must never show in what aws-app prints or writes.
const VALUES: [&str; 3] = ["greeting-from-ssm", "db-s3cret-in-a-cmk", "api-key-123"];

/// The execution role's inline secrets policy, as a JSON document (None: the role has none).
fn secrets_policy(moto: &Moto, p: &str) -> Option<serde_json::Value> {
    moto.run(async {
        let out = moto
            .iam
            .get_role_policy()
            .role_name(format!("{p}-aws-app-task-execution"))
            .policy_name("aws-app-secrets")
            .send()
            .await
            .ok()?;
        let text = out.policy_document();
        let text = if text.starts_with('{') {
            text.to_string()
        } else {
            aws_app::config::percent_decode(text)
        };
        serde_json::from_str(&text).ok()
    })
}

/// The policy's statements as `action → resources`.
fn allowed(policy: &serde_json::Value) -> Vec<(String, Vec<String>)> {
    let mut found: Vec<(String, Vec<String>)> = policy["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .map(|s| {
            assert_eq!(s["Effect"], "Allow", "{s}");
            let resources = match &s["Resource"] {
                serde_json::Value::String(r) => vec![r.clone()],
                other => other
                    .as_array()
                    .expect("resources")
                    .iter()
                    .map(|r| r.as_str().expect("arn").to_string())
                    .collect(),
            };
            (s["Action"].as_str().expect("one action a statement").to_string(), resources)
        })
        .collect();
    found.sort();
    found
}

#[test]
fn secrets_reach_the_container_through_an_execution_role_allowed_exactly_those() {
    let Scenario { env, moto, mut fixture, prefix, url } = Scenario::with_app("secrets", &app());
    let p = prefix.as_str();

    // The operator's secrets: a plain parameter, a SecureString under a customer managed key,
    // and a JSON secret in Secrets Manager (its default key) of which one key is used.
    let greeting = format!("/{p}/greeting");
    let db = format!("/{p}/db/password");
    let api = format!("{p}/api");
    let (key_arn, db_arn, api_arn) = moto.run(async {
        let key = moto.kms.create_key().description("the app's").send().await.expect("key");
        let key_arn = key.key_metadata().expect("metadata").arn().expect("arn").to_string();
        let put = moto.ssm.put_parameter().name(&greeting).value(VALUES[0]);
        put.r#type(aws_sdk_ssm::types::ParameterType::String).send().await.expect("greeting");
        let put = moto.ssm.put_parameter().name(&db).value(VALUES[1]).key_id(&key_arn);
        put.r#type(aws_sdk_ssm::types::ParameterType::SecureString).send().await.expect("db");
        let secret = moto
            .secretsmanager
            .create_secret()
            .name(&api)
            .secret_string(format!("{{\"key\":\"{}\",\"other\":\"x\"}}", VALUES[2]))
            .send()
            .await
            .expect("secret");
        let db_arn = format!("arn:aws:ssm:us-east-1:123456789012:parameter{db}");
        (key_arn, db_arn, secret.arn().expect("secret arn").to_string())
    });
    let greeting_arn = format!("arn:aws:ssm:us-east-1:123456789012:parameter{greeting}");
    let with_secrets = [
        "--env".to_string(),
        "PLAIN=plain".to_string(),
        "--secret".to_string(),
        format!("GREETING={greeting}"),
        "--secret".to_string(),
        format!("DB_PASSWORD={db_arn}"),
        "--secret".to_string(),
        format!("API_KEY={api}:key"),
    ];
    let args = |command: &str, extra: &[String]| {
        let mut all: Vec<String> =
            [command, "--json", "--repo", &url, "--prefix", p].map(String::from).to_vec();
        all.extend_from_slice(extra);
        all
    };
    let run = |all: Vec<String>| {
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        env.aws_app(&refs)
    };
    let page = |run: &Run| env.get(run.json()["url"].as_str().expect("url")).1;
    let no_values = |run: &Run, what: &str| {
        for value in VALUES {
            let shown = format!("{}{}", run.stdout, run.stderr);
            assert!(!shown.contains(value), "{what} shows a secret value: {run:?}");
        }
    };

    // A secret that is not there: exit 2 naming it, before anything is made.
    let mut missing = with_secrets.to_vec();
    missing.extend(["--secret".to_string(), format!("NOPE=/{p}/missing")]);
    let refused = run(args("deploy", &missing));
    assert_eq!(refused.code, 2, "{refused:?}");
    let last = refused.last_stderr_line();
    assert!(last.contains("--secret NOPE") && last.contains("no SSM parameter"), "{last}");
    assert_eq!(leftovers(env, &moto, p), Vec::<String>::new(), "nothing made");
    let bad_arn = run(args("deploy", &["--secret".into(), "X=arn:aws:s3:::bucket".into()]));
    assert_eq!(bad_arn.code, 2, "{bad_arn:?}");

    // The deploy: the running container has the values; the tool showed none of them.
    let first = run(args("deploy", &with_secrets));
    assert_eq!(first.code, 0, "{first:?}");
    no_values(&first, "deploy");
    assert!(first.stderr.contains("the smoke test runs without them"), "{first:?}");
    let shown = page(&first);
    assert!(
        shown.contains("<h1>plain|greeting-from-ssm|db-s3cret-in-a-cmk|api-key-123</h1>"),
        "{shown}"
    );

    // The task definition names where ECS reads them, never a value.
    let td = moto.service_task_definition(p);
    let td = moto.run(async {
        let out = moto.ecs.describe_task_definition().task_definition(&td).send().await;
        out.expect("td").task_definition.expect("td")
    });
    let secrets = aws_app::aws::secrets::secrets_of(&td);
    let wanted = [
        ("API_KEY", format!("{api_arn}:key::")),
        ("DB_PASSWORD", db_arn.clone()),
        ("GREETING", greeting_arn.clone()),
    ]
    .map(|(k, v)| (k.to_string(), v));
    assert_eq!(secrets, wanted.to_vec());
    let described = format!("{td:?}");
    assert!(VALUES.iter().all(|v| !described.contains(v)), "{described}");

    // The role may read exactly these, and decrypt with the parameter's key only (the
    // secret's default key needs no grant).
    let policy = secrets_policy(&moto, p).expect("the secrets policy");
    let mut parameters = vec![db_arn.clone(), greeting_arn.clone()];
    parameters.sort();
    assert_eq!(
        allowed(&policy),
        vec![
            ("kms:Decrypt".to_string(), vec![key_arn.clone()]),
            ("secretsmanager:GetSecretValue".to_string(), vec![api_arn.clone()]),
            ("ssm:GetParameters".to_string(), parameters),
        ],
        "{policy}"
    );

    // status names them; it shows no value.
    let status = env.aws_app(&["status", "--prefix", p]);
    assert_eq!(status.code, 0, "{status:?}");
    assert!(status.stdout.contains("secrets    API_KEY, DB_PASSWORD, GREETING"), "{status:?}");
    no_values(&status, "status");
    let json = env.aws_app(&["status", "--json", "--prefix", p]);
    assert_eq!(json.json()["secrets"]["GREETING"], greeting_arn.as_str(), "{json:?}");
    no_values(&json, "status --json");

    // Unchanged secrets: redeploy has nothing to do.
    let same = run(args("redeploy", &with_secrets));
    assert_eq!(same.code, 0, "{same:?}");
    assert_eq!(same.json()["changed"], false, "{same:?}");

    // A new commit without secrets: plan names what goes, and the deploy removes the policy.
    fixture.write("app.py", &app().replace("<h1>", "<h1>v2 "));
    fixture.commit("Second commit");
    let plain = ["--env".to_string(), "PLAIN=plain".to_string()];
    let plan = run(args("plan", &plain));
    assert_eq!(plan.code, 0, "{plan:?}");
    let differences = plan.json()["changes"].to_string();
    for expected in [
        "inline policy aws-app-secrets → removed",
        "secret API_KEY removed",
        "secret GREETING removed",
    ] {
        assert!(differences.contains(expected), "{expected}: {differences}");
    }
    let second = run(args("deploy", &plain));
    assert_eq!(second.code, 0, "{second:?}");
    assert!(page(&second).contains("<h1>v2 plain|unset|unset|unset</h1>"), "{}", page(&second));
    assert_eq!(secrets_policy(&moto, p), None, "the policy goes with the secrets");

    // rollback returns to the revision with secrets, and gives the role their policy again.
    let back = env.aws_app(&["rollback", "--json", "--prefix", p]);
    assert_eq!(back.code, 0, "{back:?}");
    no_values(&back, "rollback");
    let shown = page(&back);
    assert!(
        shown.contains("<h1>plain|greeting-from-ssm|db-s3cret-in-a-cmk|api-key-123</h1>"),
        "{shown}"
    );
    assert_eq!(secrets_policy(&moto, p), Some(policy), "rollback grants the revision's secrets");

    // Without the policy, a new task cannot start: ECS's ResourceInitializationError.
    moto.run(async {
        let role = format!("{p}-aws-app-task-execution");
        let delete = moto.iam.delete_role_policy().role_name(&role).policy_name("aws-app-secrets");
        delete.send().await.expect("delete the policy");
        let name = format!("{p}-aws-app");
        let force = moto.ecs.update_service().cluster(&name).service(&name);
        force.force_new_deployment(true).send().await.expect("a new deployment");
    });
    let refused_task = || {
        moto.run(async {
            let name = format!("{p}-aws-app");
            let out = moto.ecs.describe_services().cluster(&name).services(&name).send().await;
            out.expect("service").services()[0]
                .events()
                .iter()
                .any(|e| e.message().is_some_and(|m| m.contains("ResourceInitializationError")))
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !refused_task() {
        assert!(std::time::Instant::now() < deadline, "no task refused its secrets in 60 s");
        std::thread::sleep(std::time::Duration::from_millis(500));
    }

    assert_eq!(env.aws_app(&["destroy", "--yes", "--prefix", p]).code, 0);
    assert_eq!(leftovers(env, &moto, p), Vec::<String>::new());
    moto.run(async {
        moto.ssm.delete_parameters().names(&greeting).names(&db).send().await.expect("params");
        let delete = moto.secretsmanager.delete_secret().secret_id(&api);
        delete.force_delete_without_recovery(true).send().await.expect("secret");
    });
}
