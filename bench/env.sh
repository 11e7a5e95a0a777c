# Sourced by the bench scripts: the engines and the AWS side as the tests have them (the
# containerd engine, the strict layer over moto with a real call's latency, the account's ECR
# registry over TLS), and the tool's environment pointing at them. Stops the AWS side on exit.

tests/env/docker.sh >/dev/null
main_host=$(tests/env/docker26.sh)
export DOCKER_HOST=$main_host
base=$(tests/env/base-image.sh)
cargo build --locked --quiet --bin aws-app
bin="${CARGO_TARGET_DIR:-$PWD/target}/debug/aws-app"
bench_env_start() {
  # The README's numbers were measured with a load balancer provisioning for 20 s (the suite's
  # layer takes 35 s, so that every first deploy of a test meets it).
  export STRICT_ALB_PROVISIONING_SECS=${STRICT_ALB_PROVISIONING_SECS:-20}
  eval "$(tests/env/aws-env.sh start 2>/dev/null)"
  export AWS_ENDPOINT_URL=$AWS_APP_TEST_MOTO AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
    AWS_REGION=us-east-1 HTTP_PROXY=$AWS_APP_TEST_PROXY NO_PROXY=127.0.0.1,localhost \
    AWS_CONFIG_FILE=/nonexistent AWS_SHARED_CREDENTIALS_FILE=/nonexistent \
    AWS_EC2_METADATA_DISABLED=true AWS_APP_BASE_IMAGE=$base
  unset AWS_APP_REGISTRY
}
# The ECR registry's storage, to measure what a push really sent.
ecr_store=/var/tmp/aws-app-test-env/ecr-registry
now() { date +%s.%N; }
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.3f", m}'; }
median_int() { median "$@" | awk '{printf "%d", $1}'; }
# "<step> ... in N s" from the tool's progress lines.
step() { sed -nE "s/^aws-app: $1.* in ([0-9.]+) s.*$/\1/p" "$2" | head -n1; }
calls() { sed -nE 's/.*[ (;]([0-9]+) AWS API calls\)$/\1/p' "$1" | tail -n1; }
