# gunicorn settings for apps built by aws-app. Workers follow the CPUs the container may use
# (its cgroup CPU quota, as on Fargate), not the host's core count.
import math
import os


def _container_cpus():
    try:  # cgroup v2
        quota, period = open("/sys/fs/cgroup/cpu.max").read().split()
        if quota != "max":
            return max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    try:  # cgroup v1
        quota = int(open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read())
        period = int(open("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read())
        if quota > 0:
            return max(1, math.ceil(quota / period))
    except (OSError, ValueError):
        pass
    return len(os.sched_getaffinity(0))


bind = "0.0.0.0:" + os.environ.get("PORT", "8000")
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * _container_cpus() + 1))
# Behind a load balancer: trust its X-Forwarded-* headers; stop within ECS's 30 s stop timeout.
forwarded_allow_ips = "*"
graceful_timeout = 20
keepalive = 75  # longer than the ALB's 60 s idle timeout, so the ALB closes first
worker_tmp_dir = "/dev/shm"
accesslog = "-"
errorlog = "-"
