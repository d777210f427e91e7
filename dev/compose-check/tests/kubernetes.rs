//! The Kubernetes manifests (`deploy/kubernetes`), rendered by `kubectl
//! kustomize` as a cluster would receive them, hold what a production
//! deployment needs: for every part a Deployment with distinct readiness and
//! liveness probes, resources, a locked-down security context, a Service, a
//! PodDisruptionBudget and (in production) an autoscaler; default-deny
//! network policies that open exactly the flows ARCHITECTURE.md draws; and
//! no secret value anywhere in the production overlay.

use serde::Deserialize;
use serde_json::Value;
use std::{collections::BTreeSet, path::PathBuf, process::Command};

/// `(Deployment, container port)` of every part.
const PARTS: [(&str, u16); 6] = [
    ("shop-gateway", 3000),
    ("shop-users", 8003),
    ("shop-products", 8001),
    ("shop-orders", 8002),
    ("shop-notifications", 8004),
    ("shop-web", 8080),
];
const SERVICES: [&str; 4] = [
    "shop-users",
    "shop-products",
    "shop-orders",
    "shop-notifications",
];
/// Variables whose values are credentials: only ever from a Secret.
const SECRET_VARS: [&str; 8] = [
    "DATABASE_URL",
    "JWT_PRIVATE_KEY",
    "JWT_PREVIOUS_PRIVATE_KEY",
    "INTERNAL_API_TOKEN",
    "SMTP_URL",
    "ADMIN_PASSWORD",
    "GOOGLE_CLIENT_SECRET",
    "AWS_SECRET_ACCESS_KEY",
];

fn overlay(name: &str) -> Vec<Value> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/kubernetes/overlays")
        .join(name);
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(&dir)
        .output()
        .expect("kubectl is installed (cargo xtask test installs it)");
    assert!(
        out.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8 manifests");
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).expect("a YAML document"))
        .filter(|v| !v.is_null())
        .collect()
}

fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

fn named<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} named {name}"))
}

/// A generated ConfigMap: kustomize appends a hash of its content.
fn generated<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| {
            o["kind"] == kind
                && o["metadata"]["name"]
                    .as_str()
                    .and_then(|n| n.strip_prefix(name))
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
        })
        .unwrap_or_else(|| panic!("no {kind} named {name}"))
}

fn labels_match(selector: &Value, labels: &Value) -> bool {
    selector["matchLabels"]
        .as_object()
        .is_some_and(|wanted| wanted.iter().all(|(k, v)| &labels[k] == v))
}

fn containers(deployment: &Value) -> &Vec<Value> {
    deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers")
}

/// Every part's Deployment, as the probes, resources and security context
/// of a production pod need it.
fn check_deployment(objects: &[Value], name: &str, port: u16, min_replicas: u64) {
    let d = named(objects, "Deployment", name);
    let replicas = d["spec"]["replicas"].as_u64().unwrap_or(1);
    assert!(
        replicas >= min_replicas,
        "{name}: {replicas} replicas, want at least {min_replicas}"
    );
    let autoscaled = of_kind(objects, "HorizontalPodAutoscaler")
        .iter()
        .any(|h| h["spec"]["scaleTargetRef"]["name"] == name);
    assert!(
        !autoscaled || d["spec"]["replicas"].is_null(),
        "{name}: an autoscaled Deployment sets no replicas, or every apply resets the autoscaler's count"
    );
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault",
        "{name}: seccomp"
    );
    assert_eq!(
        pod["securityContext"]["runAsNonRoot"], true,
        "{name}: non-root"
    );
    assert!(
        pod["securityContext"]["runAsUser"].as_u64().unwrap_or(0) > 0,
        "{name}: a non-zero user"
    );
    assert!(
        pod["topologySpreadConstraints"]
            .as_array()
            .is_some_and(|c| c
                .iter()
                .any(|c| c["topologyKey"] == "kubernetes.io/hostname")),
        "{name}: spread across nodes"
    );
    assert_eq!(
        pod["enableServiceLinks"], false,
        "{name}: service links would inject *_PORT variables the binaries read"
    );
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap_or(30);
    let annotations = &d["spec"]["template"]["metadata"]["annotations"];
    if name != "shop-web" {
        assert_eq!(
            annotations["prometheus.io/scrape"], "true",
            "{name}: scraped"
        );
        assert_eq!(
            annotations["prometheus.io/port"],
            port.to_string(),
            "{name}: scrape port"
        );
    }
    for c in containers(d) {
        let check = |probe: &str| {
            let p = &c[probe];
            p["httpGet"]
                .as_object()
                .map(|get| format!("GET {}", get["path"].as_str().unwrap_or("")))
                .or_else(|| p["tcpSocket"].is_object().then(|| "TCP".to_owned()))
                .unwrap_or_else(|| panic!("{name}: a {probe}"))
        };
        let (ready, live) = (check("readinessProbe"), check("livenessProbe"));
        assert_ne!(ready, live, "{name}: ready and live are different checks");
        if name != "shop-web" {
            assert_eq!(ready, "GET /health/ready", "{name}: readiness");
            assert_eq!(live, "GET /health/live", "{name}: liveness");
        }
        if SERVICES.contains(&name) {
            assert!(
                c["startupProbe"]["httpGet"].is_object(),
                "{name}: a startup probe while migrations run"
            );
        }
        let resources = &c["resources"];
        for (part, what) in [
            ("requests", "memory"),
            ("requests", "cpu"),
            ("limits", "memory"),
        ] {
            assert!(
                resources[part][what].is_string(),
                "{name}: resources.{part}.{what}"
            );
        }
        let sc = &c["securityContext"];
        assert_eq!(sc["readOnlyRootFilesystem"], true, "{name}: read-only root");
        assert_eq!(
            sc["allowPrivilegeEscalation"], false,
            "{name}: no escalation"
        );
        assert!(
            sc["capabilities"]["drop"]
                .as_array()
                .is_some_and(|d| d.iter().any(|c| c == "ALL")),
            "{name}: every capability dropped"
        );
        assert!(sc["privileged"] != true, "{name}: not privileged");
        let sleep = c["lifecycle"]["preStop"]["sleep"]["seconds"]
            .as_u64()
            .unwrap_or(0);
        assert!(
            sleep > 0 && grace > sleep + 15,
            "{name}: endpoints drop before SIGTERM ({sleep} s) and requests drain within the grace period ({grace} s)"
        );
        assert!(
            c["ports"]
                .as_array()
                .is_some_and(|p| p.iter().any(|p| p["containerPort"] == port)),
            "{name}: listens on {port}"
        );
    }
    // A Service and a disruption budget select its pods.
    let labels = &d["spec"]["template"]["metadata"]["labels"];
    assert!(
        of_kind(objects, "Service")
            .iter()
            .any(|s| s["spec"]["selector"]
                .as_object()
                .is_some_and(|sel| sel.iter().all(|(k, v)| &labels[k] == v))),
        "{name}: a Service"
    );
    assert!(
        of_kind(objects, "PodDisruptionBudget")
            .iter()
            .any(|p| labels_match(&p["spec"]["selector"], labels)),
        "{name}: a PodDisruptionBudget"
    );
}

/// Environment variable names and how each is set, over every container.
fn env_entries(objects: &[Value]) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for d in of_kind(objects, "Deployment")
        .into_iter()
        .chain(of_kind(objects, "StatefulSet"))
    {
        for c in containers(d) {
            for e in c["env"].as_array().into_iter().flatten() {
                out.push((e["name"].as_str().unwrap_or("").to_owned(), e.clone()));
            }
        }
    }
    out
}

/// A label selector that picks the pods of part `app`.
fn selects(selector: &Value, app: &str) -> bool {
    selector["matchLabels"]["app.kubernetes.io/name"] == app
        || selector["matchExpressions"]
            .as_array()
            .is_some_and(|exprs| {
                exprs.iter().any(|e| {
                    e["key"] == "app.kubernetes.io/name"
                        && e["operator"] == "In"
                        && e["values"]
                            .as_array()
                            .is_some_and(|v| v.iter().any(|v| v == app))
                })
            })
}

/// The NetworkPolicies that select pods labelled `app`.
fn policies_for<'a>(objects: &'a [Value], app: &str) -> Vec<&'a Value> {
    of_kind(objects, "NetworkPolicy")
        .into_iter()
        .filter(|p| selects(&p["spec"]["podSelector"], app))
        .collect()
}

/// A policy peer in this namespace that names part `app`.
fn names_app(peer: &Value, app: &str) -> bool {
    peer["namespaceSelector"].is_null() && selects(&peer["podSelector"], app)
}

/// Some policy lets `from` send to `to` on `port`, and `to` admit it.
fn flow_allowed(objects: &[Value], from: &str, to: &str, port: u16) -> bool {
    let has_port = |rule: &Value| {
        rule["ports"]
            .as_array()
            .is_some_and(|ports| ports.iter().any(|p| p["port"] == port))
    };
    let out = policies_for(objects, from).iter().any(|p| {
        p["spec"]["egress"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|rule| {
                // A rule without `to` sends anywhere.
                has_port(rule)
                    && (rule["to"].is_null()
                        || rule["to"]
                            .as_array()
                            .is_some_and(|peers| peers.iter().any(|peer| names_app(peer, to))))
            })
    });
    let into = policies_for(objects, to).iter().any(|p| {
        p["spec"]["ingress"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|rule| {
                has_port(rule)
                    && rule["from"]
                        .as_array()
                        .is_some_and(|peers| peers.iter().any(|peer| names_app(peer, from)))
            })
    });
    out && into
}

#[test]
fn the_production_overlay_is_ready_for_a_cluster() {
    let objects = overlay("production");
    for (name, port) in PARTS {
        // The autoscaled parts are held at two or more by their autoscaler.
        let fixed = if name == "shop-web" { 2 } else { 1 };
        check_deployment(&objects, name, port, fixed);
    }

    // Autoscaled between at least two replicas and more.
    for (name, _) in PARTS.iter().filter(|(n, _)| *n != "shop-web") {
        let hpa = of_kind(&objects, "HorizontalPodAutoscaler")
            .into_iter()
            .find(|h| h["spec"]["scaleTargetRef"]["name"] == *name)
            .unwrap_or_else(|| panic!("{name}: a HorizontalPodAutoscaler"));
        let min = hpa["spec"]["minReplicas"].as_u64().unwrap_or(1);
        let max = hpa["spec"]["maxReplicas"].as_u64().unwrap_or(0);
        assert!(min >= 2 && max > min, "{name}: autoscaled {min}..{max}");
    }

    // Production settings, and no secret in the repository.
    assert!(
        of_kind(&objects, "Secret").is_empty(),
        "production carries no Secret: the operator creates them"
    );
    let config = generated(&objects, "ConfigMap", "shop-config");
    assert_eq!(config["data"]["SHOP_ENV"], "production");
    assert!(
        config["data"].get("AWS_ENDPOINT_URL").is_none(),
        "real AWS: no endpoint override"
    );
    for key in SECRET_VARS {
        assert!(
            config["data"].get(key).is_none(),
            "{key} is a credential: not in a ConfigMap"
        );
    }
    let entries = env_entries(&objects);
    for (name, entry) in &entries {
        if SECRET_VARS.contains(&name.as_str()) {
            assert!(
                entry["valueFrom"]["secretKeyRef"].is_object(),
                "{name} comes from a Secret, not a value: {entry}"
            );
        }
    }
    for name in [
        "DATABASE_URL",
        "JWT_PRIVATE_KEY",
        "INTERNAL_API_TOKEN",
        "SMTP_URL",
    ] {
        assert!(
            entries.iter().any(|(n, _)| n == name),
            "production sets {name} (from a Secret)"
        );
    }
    // Real SNS/SQS through the pods' IAM role.
    for name in ["shop-orders", "shop-notifications"] {
        let account = named(&objects, "ServiceAccount", name);
        assert!(
            account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].is_string(),
            "{name}: an IAM role for SNS/SQS"
        );
    }

    // Default deny, then exactly the drawn flows.
    assert!(
        of_kind(&objects, "NetworkPolicy").iter().any(|p| {
            p["spec"]["podSelector"]
                .as_object()
                .is_some_and(serde_json::Map::is_empty)
                && p["spec"]["policyTypes"]
                    .as_array()
                    .is_some_and(|t| t.len() == 2)
                && p["spec"]["ingress"].is_null()
                && p["spec"]["egress"].is_null()
        }),
        "a default-deny policy for every pod"
    );
    for (service, port) in &PARTS[1..5] {
        assert!(
            flow_allowed(&objects, "shop-gateway", service, *port),
            "gateway → {service}:{port}"
        );
    }
    assert!(
        flow_allowed(&objects, "shop-orders", "shop-products", 8001),
        "orders → products"
    );
    // Every service verifies tokens with the users service's keys and
    // follows its revocation feed.
    for service in ["shop-products", "shop-orders", "shop-notifications"] {
        assert!(
            flow_allowed(&objects, service, "shop-users", 8003),
            "{service} → users (JWKS, revocations)"
        );
    }
    for (from, to, port) in [
        ("shop-products", "shop-orders", 8002),
        ("shop-notifications", "shop-orders", 8002),
        ("shop-web", "shop-gateway", 3000),
        ("shop-products", "shop-notifications", 8004),
    ] {
        assert!(
            !flow_allowed(&objects, from, to, port),
            "{from} → {to} is not a flow the architecture has"
        );
    }
    // Traces go to the operator's collector over OTLP/HTTP, sampled.
    assert!(
        config["data"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
            .as_str()
            .is_some_and(|url| url.ends_with(":4318")),
        "an OTLP/HTTP endpoint: {}",
        config["data"]
    );
    for (part, _) in &PARTS[..5] {
        assert!(
            may_send_anywhere(&objects, part, 4318),
            "{part} may export spans"
        );
    }
    assert!(!may_send_anywhere(&objects, "shop-web", 4318));
    // The ingress controller reaches only the web front and the gateway.
    let from_ingress = |app: &str| {
        policies_for(&objects, app).iter().any(|p| {
            p["spec"]["ingress"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|rule| {
                    rule["from"].as_array().into_iter().flatten().any(|peer| {
                        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                            == "ingress-nginx"
                    })
                })
        })
    };
    assert!(from_ingress("shop-web") && from_ingress("shop-gateway"));
    for service in SERVICES {
        assert!(!from_ingress(service), "{service} is not public");
    }

    // One public entry, WebSocket upgrades included.
    let ingresses = of_kind(&objects, "Ingress");
    let backends: BTreeSet<String> = ingresses
        .iter()
        .flat_map(|i| i["spec"]["rules"].as_array().cloned().unwrap_or_default())
        .flat_map(|r| r["http"]["paths"].as_array().cloned().unwrap_or_default())
        .map(|p| {
            format!(
                "{} {}",
                p["path"].as_str().unwrap_or(""),
                p["backend"]["service"]["name"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert!(
        backends.iter().any(|b| b.ends_with(" shop-web")),
        "the web app: {backends:?}"
    );
    assert!(
        backends
            .iter()
            .any(|b| b.starts_with("/ws") && b.ends_with(" shop-gateway")),
        "the WebSocket through the gateway: {backends:?}"
    );
    assert!(
        ingresses.iter().all(|i| i["spec"]["tls"].is_array()),
        "TLS on every public host"
    );
}

#[test]
fn the_dev_overlay_runs_one_of_each_with_its_own_dependencies() {
    let objects = overlay("dev");
    for (name, port) in PARTS {
        check_deployment(&objects, name, port, 1);
    }
    let config = generated(&objects, "ConfigMap", "shop-config");
    assert_eq!(config["data"]["SHOP_ENV"], "development");
    for stand_in in ["postgres", "localstack", "mailhog", "jaeger"] {
        assert!(
            objects.iter().any(|o| o["metadata"]["name"] == stand_in
                && (o["kind"] == "Deployment" || o["kind"] == "StatefulSet")),
            "dev runs {stand_in} in the cluster"
        );
    }
    // Every part's spans reach the in-cluster Jaeger; the web front has none.
    assert_eq!(
        config["data"]["OTEL_EXPORTER_OTLP_ENDPOINT"],
        "http://jaeger:4318"
    );
    for (part, _) in &PARTS[..5] {
        assert!(
            flow_allowed(&objects, part, "jaeger", 4318),
            "{part} → jaeger (OTLP)"
        );
    }
    assert!(!flow_allowed(&objects, "shop-web", "jaeger", 4318));
}

/// Whether `app`'s pods may send to `port` anywhere (a rule without `to`).
fn may_send_anywhere(objects: &[Value], app: &str, port: u16) -> bool {
    policies_for(objects, app).iter().any(|p| {
        p["spec"]["egress"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|rule| {
                rule["to"].is_null()
                    && rule["ports"]
                        .as_array()
                        .is_some_and(|ports| ports.iter().any(|p| p["port"] == port))
            })
    })
}

#[test]
fn the_dev_overlay_runs_compose_s_localstack_init_script() {
    // kustomize reads no file outside the overlay, so the script is a copy.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let read = |p: &str| std::fs::read_to_string(root.join(p)).expect(p);
    assert_eq!(
        read("deploy/kubernetes/overlays/dev/localstack/init-aws.sh"),
        read("localstack/init/ready.d/init-aws.sh"),
        "deploy/kubernetes/overlays/dev/localstack/init-aws.sh is a copy of localstack/init/ready.d/init-aws.sh"
    );
}
