"""Constraints the AWS API reference documents that the botocore models do not carry (see docs/aws-contract.md)."""

# Character sets, spelled out (Python `re`, applied with fullmatch).
# EC2 security group names/descriptions and rule descriptions (API reference, CreateSecurityGroup,
# IpRange, Ipv6Range): a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{}!$*
_SG_TEXT = r"[a-zA-Z0-9 ._\-:/()#,@\[\]+=&;{}!$*]*"
# UserIdGroupPair.Description lists the same set without "&".
_SG_PAIR_TEXT = r"[a-zA-Z0-9 ._\-:/()#,@\[\]+=;{}!$*]*"
_ASCII = r"[\x00-\x7f]*"
# ECS names (cluster, service, family, container): up to 255 letters, numbers, underscores, hyphens.
_ECS_NAME = r"[A-Za-z0-9_-]+"
# ELBv2 names: alphanumeric or hyphens, not beginning or ending with a hyphen.
_ELB_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
# The generally allowed tag characters (letters, numbers, spaces, + - = . _ : / @).
# ascii approximation of AWS's [\p{L}\p{Z}\p{N}_.:/=+\-@]: non-ASCII letters are refused here.
_TAG_TEXT = r"[A-Za-z0-9 _.:/=+\-@]*"
_AWS_PREFIX = ["aws:"]

_EC2_SG = "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateSecurityGroup.html"
_EC2_RULE = "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_IpRange.html"
_EC2_TAG = "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Tag.html"
_ELB_LB = "https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateLoadBalancer.html"
_ELB_TG = "https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateTargetGroup.html"
_ELB_MATCHER = "https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_Matcher.html"
_ELB_ATTR = "https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_TargetGroupAttribute.html"
_ELB_TAGS = "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-tags.html"
_ECS_TAG = "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Tag.html"
_ECS_TD = "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RegisterTaskDefinition.html"
_ECS_CD = "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ContainerDefinition.html"
_ECR_TAG = "https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_Tag.html"
_IAM_TAGS = "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_tags.html"
_LOGS_LG = "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html"
_LOGS_RET = "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html"
_EC2_USER_DATA = "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-add-user-data.html"
_EC2_RUN = "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_RunInstances.html"
_EC2_IMDS = "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_InstanceMetadataOptionsRequest.html"
_AAS = "https://docs.aws.amazon.com/autoscaling/application/APIReference/"
_IAM_QUOTAS = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"
_ACM_REQUEST = "https://docs.aws.amazon.com/acm/latest/APIReference/API_RequestCertificate.html"

_SG_DESC_MSG = ("Invalid security group description. Valid descriptions are strings less than 256 "
                "characters from the following set:  a-zA-Z0-9. _-:/()#,@[]+=&;{{}}!$*")
_RULE_DESC_MSG = ("Invalid rule description. Valid descriptions are strings less than 256 characters "
                  "from the following set:  a-zA-Z0-9. _-:/()#,@[]+=&;{{}}!$*")

# BatchGetImage's acceptedMediaTypes: exactly these, says its API reference.
_ECR_ACCEPTED_TYPES = [
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
]
# What ECR stores and PutImage takes ("Container image manifest format support").
_ECR_MEDIA_TYPES = [
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
]

# Target group attribute keys the API reference lists (TargetGroupAttribute.Key).
_TG_ATTRIBUTE_KEYS = [
    "deregistration_delay.timeout_seconds",
    "deregistration_delay.connection_termination.enabled",
    "stickiness.enabled",
    "stickiness.type",
    "stickiness.app_cookie.cookie_name",
    "stickiness.app_cookie.duration_seconds",
    "stickiness.lb_cookie.duration_seconds",
    "load_balancing.algorithm.type",
    "load_balancing.algorithm.anomaly_mitigation",
    "load_balancing.cross_zone.enabled",
    "slow_start.duration_seconds",
    "lambda.multi_value_headers.enabled",
    "preserve_client_ip.enabled",
    "proxy_protocol_v2.enabled",
    "routing.http2.rst_stream_error_forwarding.enabled",
    "send_tcp_reset.on_deregistration.enabled",
    "send_tcp_reset.on_unhealthy.enabled",
    "target_failover.on_deregistration",
    "target_failover.on_unhealthy",
    "target_group_health.dns_failover.minimum_healthy_targets.count",
    "target_group_health.dns_failover.minimum_healthy_targets.percentage",
    "target_group_health.unhealthy_state_routing.minimum_healthy_targets.count",
    "target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage",
    "target_health_state.unhealthy.connection_termination.enabled",
    "target_health_state.unhealthy.draining_interval_seconds",
    "waf.http2.traffic_inspection_behavior",
]

RULES = [
    # (service, operation or "*", member path, rule)
    # service: "ecs" "ecr" "ec2" "elasticloadbalancing" "iam" "logs" "sts" "acm" "route53" (SigV4 signing names)
    # member path: botocore member names from the operation's input shape, "[]" for each list element
    #   and "{}" for map values, e.g. "TagSpecifications[].Tags[].Value", "containerDefinitions[].dockerLabels{}"
    # rule keys: "max_len", "min_len", "pattern", "not_prefix", "not_suffix", "enum", "code",
    #   "message", "doc"; "min_value"/"max_value" (numbers); "base64" (the text must be base64)
    #   and "max_decoded_len" (bytes once decoded), for text that goes base64-encoded

    # ---------------------------------------------------------------- EC2 (model: no constraints)
    # CreateSecurityGroup: GroupName (wire) is member "GroupName"; GroupDescription (wire) is
    # member "Description".
    ("ec2", "CreateSecurityGroup", "GroupName", {
        "not_prefix": ["sg-"],
        "code": "InvalidParameterValue",
        "message": "Value ({value}) for parameter GroupName is invalid. Group names may not be in the format sg-*.",
        "doc": _EC2_SG}),
    ("ec2", "CreateSecurityGroup", "GroupName", {
        "pattern": _ASCII,
        "code": "InvalidParameterValue",
        "message": "Value ({value}) for parameter GroupName is invalid. Character sets beyond ASCII are not supported.",
        "doc": _EC2_SG}),
    ("ec2", "CreateSecurityGroup", "GroupName", {
        "min_len": 1, "max_len": 255, "pattern": _SG_TEXT,
        "code": "InvalidParameterValue",
        "message": ("Invalid security group name. Valid names are strings less than 256 characters "
                    "from the following set:  a-zA-Z0-9. _-:/()#,@[]+=&;{{}}!$*"),
        "doc": _EC2_SG}),
    ("ec2", "CreateSecurityGroup", "Description", {
        "pattern": _ASCII,
        "code": "InvalidParameterValue",
        "message": "Value ({value}) for parameter GroupDescription is invalid. Character sets beyond ASCII are not supported.",
        "doc": _EC2_SG}),
    ("ec2", "CreateSecurityGroup", "Description", {
        "min_len": 1, "max_len": 255, "pattern": _SG_TEXT,
        "code": "InvalidParameterValue",
        "message": _SG_DESC_MSG,
        "doc": _EC2_SG}),
    ("ec2", "AuthorizeSecurityGroupIngress", "IpPermissions[].IpRanges[].Description", {
        "max_len": 255, "pattern": _SG_TEXT,
        "code": "InvalidParameterValue", "message": _RULE_DESC_MSG,
        "doc": _EC2_RULE}),
    ("ec2", "AuthorizeSecurityGroupIngress", "IpPermissions[].Ipv6Ranges[].Description", {
        "max_len": 255, "pattern": _SG_TEXT,
        "code": "InvalidParameterValue", "message": _RULE_DESC_MSG,
        "doc": "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Ipv6Range.html"}),
    ("ec2", "AuthorizeSecurityGroupIngress", "IpPermissions[].UserIdGroupPairs[].Description", {
        "max_len": 255, "pattern": _SG_PAIR_TEXT,
        "code": "InvalidParameterValue", "message": _RULE_DESC_MSG,
        "doc": "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_UserIdGroupPair.html"}),
    # Tags on create (CreateVpc, CreateSubnet, CreateInternetGateway, CreateRouteTable,
    # CreateSecurityGroup, ...). EC2 allows any character in values; keys: no "aws:", 1-127 (the
    # API reference's Tag; the EC2 user guide's tag restrictions say 128: the stricter is kept).
    ("ec2", "*", "TagSpecifications[].Tags[].Key", {
        "not_prefix": _AWS_PREFIX,
        "code": "InvalidParameterValue",
        "message": "Tag keys starting with 'aws:' are reserved for internal use",
        "doc": _EC2_TAG}),
    ("ec2", "*", "TagSpecifications[].Tags[].Key", {
        "min_len": 1, "max_len": 127,
        "code": "InvalidParameterValue",
        "message": "Tag key exceeds the maximum length of 127 characters: {value}",
        "doc": _EC2_TAG}),
    ("ec2", "*", "TagSpecifications[].Tags[].Value", {
        "max_len": 256,
        "code": "InvalidParameterValue",
        "message": "Tag value exceeds the maximum length of 256 characters: {value}",
        "doc": _EC2_TAG}),

    # RunInstances (the EC2 builder, src/builder.rs). User data: base64 text on the wire, "limited
    # to 16 KB, in raw form, before it is base64-encoded" (EC2 answers "User data is limited to
    # 16384 bytes"; text that is not base64: "Invalid BASE64 encoding of user data").
    ("ec2", "RunInstances", "UserData", {
        "base64": True,
        "code": "InvalidParameterValue",
        "message": "Invalid BASE64 encoding of user data",
        "doc": _EC2_RUN}),
    ("ec2", "RunInstances", "UserData", {
        "max_decoded_len": 16384,
        "code": "InvalidParameterValue",
        "message": "User data is limited to 16384 bytes",
        "doc": _EC2_USER_DATA}),
    # "You can specify tags for the following resources only: Instances, Volumes, Spot Instance
    # requests, Network interfaces."
    ("ec2", "RunInstances", "TagSpecifications[].ResourceType", {
        "enum": ["instance", "volume", "spot-instances-request", "network-interface"],
        "code": "InvalidParameterValue",
        "message": "'{value}' is not a valid taggable resource type for this operation.",
        "doc": _EC2_RUN}),
    ("ec2", "RunInstances", "MetadataOptions.HttpPutResponseHopLimit", {
        "min_value": 1, "max_value": 64,
        "code": "InvalidParameterValue",
        "message": "Value ({value}) for parameter HttpPutResponseHopLimit is invalid. Possible values: integers from 1 to 64.",
        "doc": _EC2_IMDS}),
    ("ec2", "RunInstances", "MinCount", {
        "min_value": 1,
        "code": "InvalidParameterValue",
        "message": "Value ({value}) for parameter minCount is invalid. Expected a positive integer.",
        "doc": _EC2_RUN}),
    ("ec2", "RunInstances", "MaxCount", {
        "min_value": 1,
        "code": "InvalidParameterValue",
        "message": "Value ({value}) for parameter maxCount is invalid. Expected a positive integer.",
        "doc": _EC2_RUN}),
    # "Constraints: Up to 1000 instance IDs."
    ("ec2", "TerminateInstances", "InstanceIds", {
        "max_len": 1000,
        "code": "InvalidParameterValue",
        "message": "Up to 1000 instance IDs can be terminated in one request.",
        "doc": "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_TerminateInstances.html"}),

    # ------------------------------------------------------- ELBv2 (model: tags, ranges, enums)
    ("elasticloadbalancing", "CreateLoadBalancer", "Name", {
        "max_len": 32,
        "code": "ValidationError",
        "message": "Load balancer name '{value}' cannot be longer than '32' characters",
        "doc": _ELB_LB}),
    ("elasticloadbalancing", "CreateLoadBalancer", "Name", {
        "min_len": 1, "pattern": _ELB_NAME,
        "code": "ValidationError",
        "message": ("Load balancer name '{value}' can only contain characters that are alphanumeric "
                    "characters or hyphens(-), and cannot begin or end with a hyphen"),
        "doc": _ELB_LB}),
    ("elasticloadbalancing", "CreateLoadBalancer", "Name", {
        "not_prefix": ["internal-"],
        "code": "ValidationError",
        "message": "Load balancer name '{value}' cannot begin with 'internal-'",
        "doc": _ELB_LB}),
    ("elasticloadbalancing", "CreateTargetGroup", "Name", {
        "max_len": 32,
        "code": "ValidationError",
        "message": "Target group name '{value}' cannot be longer than '32' characters",
        "doc": _ELB_TG}),
    ("elasticloadbalancing", "CreateTargetGroup", "Name", {
        "min_len": 1, "pattern": _ELB_NAME,
        "code": "ValidationError",
        "message": ("Target group name '{value}' can only contain characters that are alphanumeric "
                    "characters or hyphens(-), and cannot begin or end with '-'"),
        "doc": _ELB_TG}),
    # Application Load Balancers: HTTP codes 200-499, a list ("200,202") or a range ("200-299").
    # (Network Load Balancers allow 200-599; aws-app has only HTTP target groups behind an ALB.)
    ("elasticloadbalancing", "CreateTargetGroup", "Matcher.HttpCode", {
        "pattern": r"[2-4][0-9][0-9](?:-[2-4][0-9][0-9])?(?:,[2-4][0-9][0-9](?:-[2-4][0-9][0-9])?)*",
        "code": "ValidationError",
        "message": "Invalid HTTP code '{value}': ALB health check success codes are 200-499, as a list or a range",
        "doc": _ELB_MATCHER}),
    ("elasticloadbalancing", "ModifyTargetGroup", "Matcher.HttpCode", {
        "pattern": r"[2-4][0-9][0-9](?:-[2-4][0-9][0-9])?(?:,[2-4][0-9][0-9](?:-[2-4][0-9][0-9])?)*",
        "code": "ValidationError",
        "message": "Invalid HTTP code '{value}': ALB health check success codes are 200-499, as a list or a range",
        "doc": _ELB_MATCHER}),
    # The health check path is a ping path: it starts with "/".
    ("elasticloadbalancing", "CreateTargetGroup", "HealthCheckPath", {
        "pattern": r"/[\x21-\x7e]*",
        "code": "ValidationError",
        "message": "Health check path '{value}' must begin with a '/' character",
        "doc": _ELB_TG}),
    ("elasticloadbalancing", "ModifyTargetGroup", "HealthCheckPath", {
        "pattern": r"/[\x21-\x7e]*",
        "code": "ValidationError",
        "message": "Health check path '{value}' must begin with a '/' character",
        "doc": _ELB_TG}),
    ("elasticloadbalancing", "ModifyTargetGroupAttributes", "Attributes[].Key", {
        "enum": _TG_ATTRIBUTE_KEYS,
        "code": "ValidationError",
        "message": "Target group attribute key '{value}' is not recognized",
        "doc": _ELB_ATTR}),
    # Tags on CreateLoadBalancer, CreateTargetGroup, CreateListener, AddTags.
    ("elasticloadbalancing", "*", "Tags[].Key", {
        "not_prefix": _AWS_PREFIX,
        "code": "ValidationError",
        "message": "Tag key '{value}' cannot start with 'aws:'; the prefix is reserved for AWS use",
        "doc": _ELB_TAGS}),

    # DescribeLoadBalancers by ARN (alb::state / wait_active): "You can specify up to 20 load
    # balancers in a single call." (the model has no list bound).
    ("elasticloadbalancing", "DescribeLoadBalancers", "LoadBalancerArns", {
        "max_len": 20,
        "code": "ValidationError",
        "message": "You can specify up to 20 load balancer ARNs in a single call",
        "doc": "https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_DescribeLoadBalancers.html"}),

    # ---------------------------------------------------------- ECS (model: tags only, enums)
    ("ecs", "CreateCluster", "clusterName", {
        "max_len": 255, "pattern": _ECS_NAME,
        "code": "InvalidParameterException",
        "message": ("Cluster name '{value}' is invalid: up to 255 letters (uppercase and lowercase), "
                    "numbers, underscores, and hyphens are allowed"),
        "doc": "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateCluster.html"}),
    ("ecs", "CreateService", "serviceName", {
        "max_len": 255, "pattern": _ECS_NAME,
        "code": "InvalidParameterException",
        "message": ("Service name '{value}' is invalid: up to 255 letters (uppercase and lowercase), "
                    "numbers, underscores, and hyphens are allowed"),
        "doc": "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateService.html"}),
    ("ecs", "RegisterTaskDefinition", "family", {
        "max_len": 255, "pattern": _ECS_NAME,
        "code": "ClientException",
        "message": "Family contains invalid characters.",
        "doc": _ECS_TD}),
    ("ecs", "RegisterTaskDefinition", "containerDefinitions[].name", {
        "max_len": 255, "pattern": _ECS_NAME,
        "code": "ClientException",
        "message": "Container.name contains invalid characters.",
        "doc": _ECS_CD}),
    # image: repository-url/image:tag (<= 255 letters, digits, - _ : . / #) or
    # repository-url/image@sha256:<64 hex> (the 255 limit applies before the "@").
    ("ecs", "RegisterTaskDefinition", "containerDefinitions[].image", {
        "pattern": r"[A-Za-z0-9_:./#-]{1,255}(?:@sha256:[A-Fa-f0-9]{64})?",
        "code": "ClientException",
        "message": "Container.image contains invalid characters.",
        "doc": _ECS_CD}),
    # Batch sizes the API reference states and the model does not bound.
    ("ecs", "DescribeServices", "services", {
        "max_len": 10,
        "code": "InvalidParameterException",
        "message": "services can have at most 10 items.",
        "doc": "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeServices.html"}),
    ("ecs", "DescribeTasks", "tasks", {
        "max_len": 100,
        "code": "InvalidParameterException",
        "message": "tasks can have at most 100 items.",
        "doc": "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeTasks.html"}),
    ("ecs", "DescribeClusters", "clusters", {
        "max_len": 100,
        "code": "InvalidParameterException",
        "message": "clusters can have at most 100 items.",
        "doc": "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeClusters.html"}),
    ("ecs", "*", "tags[].key", {
        "not_prefix": _AWS_PREFIX,
        "code": "InvalidParameterException",
        "message": "Tag keys and values may not begin with 'aws:' (reserved for AWS use): {value}",
        "doc": _ECS_TAG}),
    ("ecs", "*", "tags[].value", {
        "not_prefix": _AWS_PREFIX,
        "code": "InvalidParameterException",
        "message": "Tag keys and values may not begin with 'aws:' (reserved for AWS use): {value}",
        "doc": _ECS_TAG}),

    # -------------------------------------------------- ECR (model: names; tags unconstrained)
    # CreateRepository and TagResource carry tags (members "Key"/"Value").
    ("ecr", "*", "tags[].Key", {
        "min_len": 1, "max_len": 128,
        "code": "InvalidTagParameterException",
        "message": ("An invalid parameter has been specified. Tag keys can have a maximum character "
                    "length of 128 characters, and tag values can have a maximum length of 256 characters."),
        "doc": _ECR_TAG}),
    ("ecr", "*", "tags[].Value", {
        "max_len": 256,
        "code": "InvalidTagParameterException",
        "message": ("An invalid parameter has been specified. Tag keys can have a maximum character "
                    "length of 128 characters, and tag values can have a maximum length of 256 characters."),
        "doc": _ECR_TAG}),
    ("ecr", "*", "tags[].Key", {
        "not_prefix": _AWS_PREFIX,
        "code": "InvalidTagParameterException",
        "message": "Tag key '{value}' is invalid: the aws: prefix is reserved for AWS use",
        "doc": "https://docs.aws.amazon.com/AmazonECR/latest/userguide/ecr-using-tags.html"}),
    # The generally allowed tag characters (general AWS tagging rule; ECR's reference states only
    # the lengths). ascii approximation.
    ("ecr", "*", "tags[].Key", {
        "pattern": _TAG_TEXT,
        "code": "InvalidTagParameterException",
        "message": "Tag key '{value}' contains characters that are not allowed (letters, numbers, spaces, + - = . _ : / @)",
        "doc": "https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html"}),
    ("ecr", "*", "tags[].Value", {
        "pattern": _TAG_TEXT,
        "code": "InvalidTagParameterException",
        "message": "Tag value '{value}' contains characters that are not allowed (letters, numbers, spaces, + - = . _ : / @)",
        "doc": "https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html"}),

    # Manifest media types: the API reference lists docker v1, docker v2 and OCI manifest; ECR's
    # "Container image manifest format support" adds the docker manifest list and the OCI index.
    ("ecr", "BatchGetImage", "acceptedMediaTypes[]", {
        "enum": _ECR_ACCEPTED_TYPES,
        "code": "InvalidParameterException",
        "message": "Invalid parameter at 'acceptedMediaTypes' failed to satisfy constraint: unsupported media type '{value}'",
        "doc": "https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_BatchGetImage.html"}),
    ("ecr", "PutImage", "imageManifestMediaType", {
        "enum": _ECR_MEDIA_TYPES,
        "code": "InvalidParameterException",
        "message": "Invalid parameter at 'imageManifestMediaType' failed to satisfy constraint: unsupported media type '{value}'",
        "doc": "https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-manifest-formats.html"}),

    # ------------------------------------------------------- ACM (model: DomainName 1-253, pattern)
    # RequestCertificate: "The first domain name you enter cannot exceed 64 octets, including periods.
    # Each subsequent Subject Alternative Name (SAN), however, can be up to 253 octets in length." (the
    # certificate's common name: RFC 5280's ub-common-name, 64). The answer's wording is ACM's model-style
    # one (ValidationException, "Member must have length less than or equal to 64"): unverified.
    ("acm", "RequestCertificate", "DomainName", {
        "max_len": 64,
        "doc": _ACM_REQUEST}),
    # Route 53: ChangeBatch.Comment (max 256), ResourceRecordSet.Name (max 1024), ResourceRecord.Value
    # (max 4000), HostedZoneId (max 32) and the Change actions are in the model.

    # ---------------------------------------------- IAM (model: names, description, tag charset)
    ("iam", "*", "Tags[].Key", {
        "not_prefix": _AWS_PREFIX,
        "code": "InvalidInput",
        "message": "User-defined tag keys can't start with 'aws:'; the prefix is reserved for AWS use: {value}",
        "doc": _IAM_TAGS}),
    # A role's inline policies: 10,240 characters in all (IAM quotas; IAM does not count white
    # space, this rule does: stricter by the policy's white space). One policy here.
    ("iam", "PutRolePolicy", "PolicyDocument", {
        "max_len": 10240,
        "code": "LimitExceeded", "status": 409,
        "message": "Maximum policy size of 10240 bytes exceeded for the role's inline policies",
        "doc": _IAM_QUOTAS}),

    # ------------------------------------------------- CloudWatch Logs (model: names, tags)
    ("logs", "CreateLogGroup", "logGroupName", {
        "not_prefix": ["aws/"],
        "code": "InvalidParameterException",
        "message": "Log groups starting with AWS/ are reserved for AWS.",
        "doc": _LOGS_LG}),
    ("logs", "PutRetentionPolicy", "retentionInDays", {
        "enum": [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                 2192, 2557, 2922, 3288, 3653],
        "code": "InvalidParameterException",
        "message": ("1 validation error detected: Value '{value}' at 'retentionInDays' failed to satisfy "
                    "constraint: Member must satisfy enum value set: [1, 3, 5, 7, 14, 30, 60, 90, 120, "
                    "150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]"),
        "doc": _LOGS_RET}),

    # STS (GetCallerIdentity, AssumeRole of the builder's role) and SSM (GetParameter of the AMI's
    # public parameter): the models carry their documented constraints (RoleSessionName,
    # DurationSeconds 900-43200, parameter names). AssumeRole's DurationSeconds may not exceed the
    # role's MaxSessionDuration: a cross-field rule, checked by the layer (layer.py).

    # ------------------------------------------ Application Auto Scaling (model: enums, lengths)
    # The model's PolicyName pattern is Java's \p{Print} (printable ASCII), which the model
    # reader cannot translate: kept here. MinCapacity: "the minimum value allowed is 0" for ECS.
    ("application-autoscaling", "PutScalingPolicy", "PolicyName", {
        "min_len": 1, "max_len": 256, "pattern": r"[\x20-\x7e]+",
        "code": "ValidationException",
        "message": ("1 validation error detected: Value '{value}' at 'policyName' failed to satisfy "
                    "constraint: Member must satisfy regular expression pattern: \\p{{Print}}+"),
        "doc": _AAS + "API_PutScalingPolicy.html"}),
    ("application-autoscaling", "RegisterScalableTarget", "MinCapacity", {
        "min_value": 0,
        "code": "ValidationException",
        "message": "Minimum capacity cannot be less than 0",
        "doc": _AAS + "API_RegisterScalableTarget.html"}),
    ("application-autoscaling", "RegisterScalableTarget", "MaxCapacity", {
        "min_value": 0,
        "code": "ValidationException",
        "message": "Maximum capacity cannot be less than 0",
        "doc": _AAS + "API_RegisterScalableTarget.html"}),
    ("application-autoscaling", "PutScalingPolicy",
     "TargetTrackingScalingPolicyConfiguration.PredefinedMetricSpecification.ResourceLabel", {
        "min_len": 1, "max_len": 1023, "pattern": r"app/[^/]+/[^/]+/targetgroup/[^/]+/[^/]+",
        "code": "ValidationException",
        "message": "The resource label {value} is not app/<load-balancer-name>/<load-balancer-id>/targetgroup/<target-group-name>/<target-group-id>",
        "doc": _AAS + "API_PredefinedMetricSpecification.html"}),
    # "Valid range: Minimum value of 1. Maximum value of 50." (DescribeScalingPolicies: 10.)
    ("application-autoscaling", "DescribeScalableTargets", "MaxResults", {
        "min_value": 1, "max_value": 50,
        "code": "ValidationException", "message": "MaxResults must be between 1 and 50",
        "doc": _AAS + "API_DescribeScalableTargets.html"}),
    ("application-autoscaling", "DescribeScalingActivities", "MaxResults", {
        "min_value": 1, "max_value": 50,
        "code": "ValidationException", "message": "MaxResults must be between 1 and 50",
        "doc": _AAS + "API_DescribeScalingActivities.html"}),
    ("application-autoscaling", "DescribeScalingPolicies", "MaxResults", {
        "min_value": 1, "max_value": 10,
        "code": "ValidationException", "message": "MaxResults must be between 1 and 10",
        "doc": _AAS + "API_DescribeScalingPolicies.html"}),
]
