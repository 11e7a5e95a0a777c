//! Two Docker engines, one registry: the containerd image store (Docker 26, API ≥ 1.44, as
//! Docker Desktop and Engine 29 keep images) and the graph-driver store (Docker 20.10). An
//! image one pushed is deployed by the other, both ways, and what the task definition names is
//! an image the registry serves, for the CPU the task runs on.

use crate::support::*;

/// The two engines tests/run.sh started.
fn engines() -> (String, String) {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run tests/run.sh"))
    };
    (var("AWS_APP_TEST_DOCKER_MAIN"), var("AWS_APP_TEST_DOCKER_COMPAT"))
}

/// The (os, architecture) of the images `repo@digest` stands for, read from the registry: the
/// config blob of a single manifest, or the platforms an index lists (attestations left out).
fn registry_platforms(registry: &str, repo: &str, digest: &str) -> Vec<(String, String)> {
    let registry = registry.split('/').next().expect("registry host");
    let (status, body) = registry_get(registry, &format!("/v2/{repo}/manifests/{digest}"));
    assert_eq!(status, 200, "the registry serves {repo}@{digest}: {body}");
    let manifest: serde_json::Value = serde_json::from_str(&body).expect("manifest JSON");
    if let Some(list) = manifest["manifests"].as_array() {
        return list
            .iter()
            .map(|m| {
                let p = &m["platform"];
                (
                    p["os"].as_str().unwrap_or("").to_string(),
                    p["architecture"].as_str().unwrap_or("").to_string(),
                )
            })
            .filter(|(os, arch)| os != "unknown" && arch != "unknown")
            .collect();
    }
    let config = manifest["config"]["digest"].as_str().expect("config digest");
    let (status, blob) = registry_get(registry, &format!("/v2/{repo}/blobs/{config}"));
    assert_eq!(status, 200, "config blob");
    let config: serde_json::Value = serde_json::from_str(&blob).expect("config JSON");
    vec![(
        config["os"].as_str().unwrap_or("").to_string(),
        config["architecture"].as_str().unwrap_or("").to_string(),
    )]
}

#[test]
fn an_image_pushed_by_one_engine_is_deployed_by_the_other_both_ways() {
    let env = aws_env();
    let moto = env.clients();
    let (containerd, graph) = engines();
    let mut fixture = Fixture::new(APP_PY);
    let prefix = Prefix::new("engines");
    let p = prefix.as_str();
    let url = fixture.url();
    let repo = format!("{p}-aws-app");
    let deploy = |host: &str, extra: &[&str]| {
        let mut args = vec!["deploy", "--json", "--repo", &url, "--prefix", p];
        args.extend_from_slice(extra);
        env.aws_app_with(&args, &[("DOCKER_HOST", host)])
    };
    let runtime_platform = || {
        moto.run(async {
            let service = moto
                .ecs
                .describe_services()
                .cluster(&repo)
                .services(&repo)
                .send()
                .await
                .expect("service");
            let td = service.services()[0].task_definition().expect("td").to_string();
            let td =
                moto.ecs.describe_task_definition().task_definition(td).send().await.expect("td");
            let td = td.task_definition().expect("td");
            let image = td.container_definitions()[0].image().expect("image").to_string();
            let arch = td
                .runtime_platform()
                .and_then(|p| p.cpu_architecture())
                .expect("arch")
                .as_str()
                .to_string();
            (image, arch)
        })
    };
    let check_served = |image: &str, arch: &str| {
        let digest = image.rsplit_once('@').expect("by digest").1;
        let platforms = registry_platforms(image, &repo, digest);
        let wanted = if arch == "ARM64" { "arm64" } else { "amd64" };
        assert!(
            platforms.iter().any(|(os, a)| os == "linux" && a == wanted),
            "{image}: {platforms:?} for {arch}"
        );
    };

    for (first, second, text) in
        [(&containerd, &graph, "Hello containerd!"), (&graph, &containerd, "Hello graph driver!")]
    {
        fixture.write("app.py", &APP_PY.replace("Hello World!", text));
        let commit = fixture.commit(text);
        let pushed = deploy(first, &[]);
        assert_eq!(pushed.code, 0, "{pushed:?}");
        assert_eq!(pushed.json()["commit"], commit);
        let (image, arch) = runtime_platform();
        assert_eq!(pushed.json()["image"], image.as_str());
        check_served(&image, &arch);

        // The other engine builds the same inputs (same key), finds the tag in the registry and
        // deploys what is there: nothing pushed, nothing registered.
        let other = deploy(second, &["--rebuild"]);
        assert_eq!(other.code, 0, "{other:?}");
        assert!(other.stderr.contains("nothing pushed"), "{other:?}");
        assert_eq!(other.json()["image"], image.as_str(), "{other:?}");
        assert_eq!(other.json()["inputs"]["key"], pushed.json()["inputs"]["key"]);
        assert_eq!(other.json()["changed"], false, "{other:?}");
        assert!(env.get(other.json()["url"].as_str().expect("url")).1.contains(text));
        // And a plain deploy from it finds the service already running that build.
        let again = deploy(second, &[]);
        assert_eq!(again.code, 0, "{again:?}");
        assert!(again.stderr.contains("nothing to build"), "{again:?}");
    }

    // destroy --local on each engine removes the prefix's image tags, as pushed
    // (`<registry>/<repo>:…`) too. (References by digest, `<registry>/<repo>:<none>` in the
    // listing, stay with the build cache on the containerd store.)
    for host in [&graph, &containerd] {
        let removed =
            aws_app(&["destroy", "--local", "--prefix", p], &[("DOCKER_HOST", host.as_str())]);
        assert_eq!(removed.code, 0, "{removed:?}");
        assert!(removed.stderr.contains("image(s) of prefix"), "{removed:?}");
        let left = std::process::Command::new("docker")
            .args(["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .env("DOCKER_HOST", host)
            .output()
            .expect("docker images");
        let left = String::from_utf8_lossy(&left.stdout).into_owned();
        let tagged = left.lines().filter(|l| l.contains(&repo) && !l.ends_with(":<none>"));
        assert_eq!(tagged.count(), 0, "{host}: {left}");
    }
}

/// tests/env/docker-tls-front.py: the main engine behind TLS on 127.0.0.1, as `dockerd
/// --tlsverify` serves it; its folder has the client's `client/` and another CA's `other/`.
struct TlsFront {
    _process: Helper,
    port: String,
    dir: tempfile::TempDir,
}

impl TlsFront {
    fn start(python: &str, socket: &str) -> TlsFront {
        let dir = tempfile::tempdir().expect("temp dir");
        let args = [dir.path().to_str().expect("utf-8"), socket];
        let (process, port) = Helper::serve(python, "tests/env/docker-tls-front.py", &args);
        TlsFront { _process: process, port, dir }
    }

    fn certs(&self, which: &str) -> String {
        self.dir.path().join(which).to_str().expect("utf-8").to_string()
    }
}

#[test]
fn an_engine_over_tls_is_reached_as_the_docker_cli_does_and_plain_tcp_elsewhere_is_refused() {
    let env = aws_env();
    let (main, _) = engines();
    let socket = main.strip_prefix("unix://").expect("the main engine is a unix socket");
    let front = TlsFront::start(&env.python, socket);
    let fixture = Fixture::new(APP_PY);
    let prefix = Prefix::new("tls");
    let p = prefix.as_str();
    let url = fixture.url();
    let host = format!("tcp://127.0.0.1:{}", front.port);
    let build = |vars: &[(&str, &str)]| {
        let mut all = vec![build_env()[0]];
        all.extend_from_slice(vars);
        aws_app(&["build", "--json", "--repo", &url, "--prefix", p], &all)
    };

    // DOCKER_TLS_VERIFY with DOCKER_CERT_PATH (an RSA key.pem as `openssl genrsa` writes it).
    let client = front.certs("client");
    let tls = [("DOCKER_HOST", host.as_str()), ("DOCKER_TLS_VERIFY", "1")];
    let built = build(&[tls[0], tls[1], ("DOCKER_CERT_PATH", &client)]);
    assert_eq!(built.code, 0, "{built:?}");
    assert!(
        built.json()["image"].as_str().is_some_and(|i| i.starts_with(&format!("{p}-aws-app:")))
    );
    // ~/.docker is where the docker CLI looks without DOCKER_CERT_PATH.
    let home = tempfile::tempdir().expect("home");
    std::fs::create_dir(home.path().join(".docker")).expect("~/.docker");
    for file in ["ca.pem", "cert.pem", "key.pem"] {
        std::fs::copy(
            front.dir.path().join("client").join(file),
            home.path().join(".docker").join(file),
        )
        .expect("copy");
    }
    let from_home = build(&[tls[0], tls[1], ("HOME", home.path().to_str().expect("utf-8"))]);
    assert_eq!(from_home.code, 0, "{from_home:?}");

    // An engine whose certificate another CA signed is not this one: exit 2 naming the host.
    let other = front.certs("other");
    let refused = build(&[tls[0], tls[1], ("DOCKER_CERT_PATH", &other)]);
    assert_eq!(refused.code, 2, "{refused:?}");
    let last = refused.last_stderr_line();
    assert!(last.contains(&format!("cannot reach the Docker engine at {host}")), "{last}");
    assert!(last.contains("ca.pem"), "{last}");

    // Certificates missing: exit 2 naming the file.
    let empty = tempfile::tempdir().expect("empty");
    let missing =
        build(&[tls[0], tls[1], ("DOCKER_CERT_PATH", empty.path().to_str().expect("utf-8"))]);
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(missing.last_stderr_line().contains("ca.pem cannot be read"), "{missing:?}");

    // Plain TCP to an engine on another machine: refused before any connection, by build and
    // by a deploy, which does not turn to an EC2 builder instead.
    let remote = [("DOCKER_HOST", "tcp://192.0.2.10:2375")];
    let plain = build(&remote);
    assert_eq!(plain.code, 2, "{plain:?}");
    assert!(plain.last_stderr_line().contains("plain TCP to another machine"), "{plain:?}");
    let deploy = env.aws_app_with(&["deploy", "--repo", &url, "--prefix", p], &remote);
    assert_eq!(deploy.code, 2, "{deploy:?}");
    assert!(deploy.last_stderr_line().contains("DOCKER_TLS_VERIFY=1"), "{deploy:?}");
    assert!(!deploy.stderr.contains("EC2 builder"), "{deploy:?}");
}
