//! A monthly cost estimate of what a deploy runs, from a dated table of AWS's published
//! on-demand prices (USD) for the regions it lists. A region not in the table gets no estimate
//! (it says so) rather than a guess. What the estimate assumes is part of its output.

/// The date of the figures below: AWS's public on-demand prices (aws.amazon.com/fargate/pricing,
/// /elasticloadbalancing/pricing, /cloudwatch/pricing, /ecr/pricing, /vpc/pricing for public
/// IPv4), as published through 2026 and cross-checked against third-party summaries of March
/// and May 2026 (Vantage, CloudBurn). Check them against the pages when they are updated.
pub const PRICES_AS_OF: &str = "2026-12-05";

/// Hours in AWS's billing month.
pub const HOURS_PER_MONTH: f64 = 730.0;

/// Load balancer capacity units a small app uses per hour, assumed: one LCU is 25 new
/// connections/s, 3,000 active connections/min, 1 GB/h processed or 1,000 rule evaluations/s,
/// whichever is highest; a small app stays well below one.
pub const ASSUMED_LCU: f64 = 1.0;

/// Log data the app writes per month, assumed (it is ingested once and kept 30 days).
pub const ASSUMED_LOG_GB: f64 = 1.0;

/// The size of an image when no image is in the repository yet, assumed (Python slim base and
/// one Flask app: about 60 MB compressed, as ECR counts it).
pub const ASSUMED_IMAGE_GB: f64 = 0.06;

/// One region's on-demand prices, USD.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prices {
    pub region: &'static str,
    /// Fargate Linux, x86_64: per vCPU-hour and per GB-hour.
    pub fargate_x86: (f64, f64),
    /// Fargate Linux, ARM64 (Graviton): per vCPU-hour and per GB-hour.
    pub fargate_arm: (f64, f64),
    /// Application Load Balancer: per hour and per LCU-hour.
    pub alb: (f64, f64),
    /// CloudWatch Logs (standard class): per GB ingested and per GB-month stored.
    pub logs: (f64, f64),
    /// ECR: per GB-month stored.
    pub ecr_gb_month: f64,
    /// A public IPv4 address (each task's, each load balancer zone's): per hour.
    pub ipv4_hour: f64,
}

/// The US regions' prices (the same in us-east-1, us-east-2 and us-west-2).
const US: Prices = Prices {
    region: "us-east-1",
    fargate_x86: (0.04048, 0.004445),
    fargate_arm: (0.03238, 0.00356),
    alb: (0.0225, 0.008),
    logs: (0.50, 0.03),
    ecr_gb_month: 0.10,
    ipv4_hour: 0.005,
};

pub const PRICES: &[Prices] =
    &[US, Prices { region: "us-east-2", ..US }, Prices { region: "us-west-2", ..US }];

/// The prices of a region, when the table has them.
pub fn prices(region: &str) -> Option<&'static Prices> {
    PRICES.iter().find(|p| p.region == region)
}

/// What a deploy runs, for the estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct Usage {
    pub region: String,
    /// Task CPU units (1024 = 1 vCPU) and memory MiB, and the number of tasks.
    pub cpu: u32,
    pub memory: u32,
    pub count: u32,
    pub arm64: bool,
    /// Bytes of images in the repository (0: none yet, `ASSUMED_IMAGE_GB` each is counted).
    pub image_bytes: u64,
    /// The zones (subnets) the load balancer is in: a public IPv4 address each.
    pub load_balancer_zones: u32,
}

/// One line of the estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub what: String,
    pub usd: f64,
}

/// The monthly estimate, or why there is none.
#[derive(Debug, Clone, PartialEq)]
pub enum Estimate {
    Priced {
        items: Vec<Item>,
        total: f64,
    },
    /// The table has no prices for the region.
    Unpriced {
        region: String,
    },
}

pub fn estimate(usage: &Usage) -> Estimate {
    let Some(p) = prices(&usage.region) else {
        return Estimate::Unpriced { region: usage.region.clone() };
    };
    let vcpu = f64::from(usage.cpu) / 1024.0;
    let gb = f64::from(usage.memory) / 1024.0;
    let (per_vcpu, per_gb) = if usage.arm64 { p.fargate_arm } else { p.fargate_x86 };
    let tasks = f64::from(usage.count);
    let image_gb = match usage.image_bytes {
        0 => ASSUMED_IMAGE_GB,
        bytes => bytes as f64 / 1e9,
    };
    let items = vec![
        Item {
            what: format!(
                "Fargate: {} × {vcpu} vCPU, {gb} GB ({}), {HOURS_PER_MONTH} h",
                usage.count,
                if usage.arm64 { "ARM64" } else { "X86_64" }
            ),
            usd: tasks * (vcpu * per_vcpu + gb * per_gb) * HOURS_PER_MONTH,
        },
        Item {
            what: format!("load balancer: {HOURS_PER_MONTH} h and {ASSUMED_LCU} LCU assumed"),
            usd: (p.alb.0 + ASSUMED_LCU * p.alb.1) * HOURS_PER_MONTH,
        },
        Item {
            what: format!(
                "public IPv4: {} address(es) (1 per task, 1 per load balancer zone), {HOURS_PER_MONTH} h",
                usage.count + usage.load_balancer_zones
            ),
            usd: f64::from(usage.count + usage.load_balancer_zones) * p.ipv4_hour * HOURS_PER_MONTH,
        },
        Item {
            what: format!("CloudWatch Logs: {ASSUMED_LOG_GB} GB a month assumed"),
            usd: ASSUMED_LOG_GB * (p.logs.0 + p.logs.1),
        },
        Item {
            what: match usage.image_bytes {
                0 => format!("ECR storage: {image_gb} GB (one image, assumed)"),
                bytes => format!("ECR storage: {} of images", crate::progress::bytes(bytes)),
            },
            usd: image_gb * p.ecr_gb_month,
        },
    ];
    let total = items.iter().map(|i| i.usd).sum();
    Estimate::Priced { items, total }
}

impl Estimate {
    /// The monthly total, when the region is priced.
    pub fn total(&self) -> Option<f64> {
        match self {
            Estimate::Priced { total, .. } => Some(*total),
            Estimate::Unpriced { .. } => None,
        }
    }

    pub fn lines(&self) -> Vec<String> {
        match self {
            Estimate::Unpriced { region } => vec![format!(
                "no cost estimate: the price table (of {PRICES_AS_OF}) has no prices for \
                 {region}; see aws.amazon.com/fargate/pricing"
            )],
            Estimate::Priced { items, total } => {
                let mut lines = vec![format!(
                    "estimated monthly cost (on-demand prices of {PRICES_AS_OF}, USD):"
                )];
                for item in items {
                    lines.push(format!("  {:>8.2}  {}", item.usd, item.what));
                }
                lines.push(format!("  {total:>8.2}  total"));
                lines
            }
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Estimate::Unpriced { region } => serde_json::json!({
                "prices_as_of": PRICES_AS_OF, "region": region, "monthly_usd": null,
                "why": "no prices for this region in the table",
            }),
            Estimate::Priced { items, total } => serde_json::json!({
                "prices_as_of": PRICES_AS_OF,
                "monthly_usd": (total * 100.0).round() / 100.0,
                "items": items.iter().map(|i| serde_json::json!({
                    "what": i.what, "monthly_usd": (i.usd * 100.0).round() / 100.0,
                })).collect::<Vec<_>>(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(region: &str, cpu: u32, memory: u32, count: u32, arm64: bool) -> Usage {
        Usage {
            region: region.into(),
            cpu,
            memory,
            count,
            arm64,
            image_bytes: 0,
            load_balancer_zones: 2,
        }
    }

    fn total(e: &Estimate) -> f64 {
        match e {
            Estimate::Priced { total, .. } => *total,
            Estimate::Unpriced { .. } => f64::NAN,
        }
    }

    #[test]
    fn the_default_size_costs_what_the_price_pages_say() {
        // 0.25 vCPU × 0.04048 + 0.5 GB × 0.004445 = 0.0123425 $/h → 9.01 $ a month; the ALB
        // 0.0225 + 0.008 $/h → 22.27; 3 public IPv4 addresses × 0.005 $/h → 10.95; logs 0.53;
        // ECR 0.006.
        let e = estimate(&usage("us-east-1", 256, 512, 1, false));
        let Estimate::Priced { items, .. } = &e else { panic!("{e:?}") };
        let usd: Vec<f64> = items.iter().map(|i| (i.usd * 1000.0).round() / 1000.0).collect();
        assert_eq!(usd, [9.01, 22.265, 10.95, 0.53, 0.006], "{items:?}");
        assert!((total(&e) - 42.761).abs() < 0.001, "{e:?}");
        // A second task: its Fargate hours and its address.
        let two = estimate(&usage("us-east-1", 256, 512, 2, false));
        assert!((total(&two) - total(&e) - items[0].usd - 3.65).abs() < 0.001);
        assert!(total(&estimate(&usage("us-east-1", 256, 512, 1, true))) < total(&e));
    }

    #[test]
    fn a_region_without_prices_says_so() {
        let e = estimate(&usage("mars-north-1", 256, 512, 1, false));
        assert_eq!(e, Estimate::Unpriced { region: "mars-north-1".into() });
        assert!(e.lines()[0].contains("no prices for mars-north-1"), "{:?}", e.lines());
        assert!(e.to_json()["monthly_usd"].is_null());
    }
}
