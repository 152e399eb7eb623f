//! Kubernetes audit events of the control plane, nodes, controllers and
//! people. Lease renewals and watches dominate, as in any real cluster.

use super::pick_human;
use crate::ids::Gen;
use crate::record::Emitted;
use crate::sources::k8s::{K8sEvent, K8sUser, Stage};
use crate::time::Nanos;
use crate::tools::{DEPLOYMENTS, K8sObject, NAMESPACES};
use crate::world::{Team, World};

const KUBELET_UA: &str = "kubelet/v1.31.2 (linux/amd64) kubernetes/5864a46";
const KCM_UA: &str = "kube-controller-manager/v1.31.2 (linux/amd64) kubernetes/5864a46/leader-election";
const SCHED_UA: &str = "kube-scheduler/v1.31.2 (linux/amd64) kubernetes/5864a46/scheduler";
const KUBECTL_UAS: [&str; 2] =
    ["kubectl/v1.31.3 (darwin/arm64) kubernetes/c83cbee", "kubectl/v1.30.6 (linux/amd64) kubernetes/0d7a4e4"];

fn obj(resource: &'static str, group: &'static str, namespace: Option<&str>, name: Option<String>) -> K8sObject {
    K8sObject {
        resource,
        subresource: None,
        namespace: namespace.map(str::to_owned),
        name,
        api_group: group,
        api_version: "v1",
    }
}

fn user(username: &str, groups: &[&str]) -> K8sUser {
    K8sUser {
        username: username.to_owned(),
        uid: None,
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        extra: Vec::new(),
    }
}

fn rbac_reason(binding: &str, role: &str, subject: &str) -> String {
    format!("RBAC: allowed by ClusterRoleBinding \"{binding}\" of ClusterRole \"{role}\" to {subject}")
}

/// Background audit events at `at` (one, or two stages of one request), at most `room`.
pub fn records(world: &World, g: &mut Gen, at: Nanos, human: bool, room: usize, out: &mut Vec<Emitted>) {
    let duration = g.range_i64(1, 40) * 1_000_000;
    let audit_id = g.uuid();
    let base = |user: K8sUser, verb: &'static str, object: K8sObject, ua: &str, ip: String| K8sEvent {
        audit_id: audit_id.clone(),
        stage: Stage::ResponseComplete,
        level: "Metadata",
        verb,
        request_uri: object.uri_path(),
        user,
        impersonated_user: None,
        source_ip: ip,
        user_agent: ua.to_owned(),
        object_ref: Some(object),
        status_code: 200,
        received: at,
        completed: at + duration,
        annotations: Vec::new(),
    };
    if human {
        let h = pick_human(world, g, &[Team::Platform, Team::Sre, Team::Developer, Team::Data]);
        let person = &world.humans[h];
        let group = person.team.k8s_group();
        let namespace = *g.pick(&NAMESPACES);
        let deployment = *g.pick(&DEPLOYMENTS);
        let pod = format!("{deployment}-{}-{}", g.hex(10), g.lower_alnum(5));
        let roll = g.unit();
        let (verb, object) = if roll < 0.35 {
            ("list", obj("pods", "", Some(namespace), None))
        } else if roll < 0.55 {
            ("get", obj("pods", "", Some(namespace), Some(pod.clone())))
        } else if roll < 0.70 {
            let mut o = obj("pods", "", Some(namespace), Some(pod.clone()));
            o.subresource = Some("log");
            ("get", o)
        } else if roll < 0.78 {
            ("get", obj("deployments", "apps", Some(namespace), Some(deployment.to_owned())))
        } else if roll < 0.86 {
            let mut o = obj("pods", "", Some(namespace), Some(pod.clone()));
            o.subresource = Some("exec");
            ("create", o)
        } else if roll < 0.94 {
            ("patch", obj("deployments", "apps", Some(namespace), Some(deployment.to_owned())))
        } else {
            ("delete", obj("pods", "", Some(namespace), Some(pod)))
        };
        let ip = if g.chance(0.5) { (*g.pick(&super::OFFICE_IPS)).to_owned() } else { person.home_ip.clone() };
        let groups = [format!("oidc:{group}"), "system:authenticated".to_owned()];
        let group_refs: Vec<&str> = groups.iter().map(String::as_str).collect();
        let kubectl = KUBECTL_UAS[g.below(KUBECTL_UAS.len())];
        let mut event = base(user(&person.email, &group_refs), verb, object, kubectl, ip);
        if verb == "list" {
            event.request_uri.push_str("?limit=500");
        }
        if verb == "create" {
            event.request_uri.push_str("?command=sh&container=app&stdin=true&stdout=true&tty=true");
            event.status_code = 101;
        }
        let denied = matches!(person.team, Team::Developer | Team::Data)
            && matches!(verb, "delete" | "patch")
            && namespace == "payments";
        let missing = verb == "get" && g.chance(0.05);
        if denied {
            event.status_code = 403;
            event.annotations = vec![
                ("authorization.k8s.io/decision", "forbid".to_owned()),
                ("authorization.k8s.io/reason", String::new()),
            ];
        } else {
            if missing {
                event.status_code = 404;
            }
            event.annotations = vec![
                ("authorization.k8s.io/decision", "allow".to_owned()),
                (
                    "authorization.k8s.io/reason",
                    rbac_reason(
                        &format!("oidc-{group}"),
                        if group == "platform-admins" { "cluster-admin" } else { "edit" },
                        &format!("Group \"oidc:{group}\""),
                    ),
                ),
            ];
        }
        let two_stages = matches!(verb, "create" | "patch" | "delete") && room >= 2;
        if two_stages {
            event.level = "Request";
            let mut first = event.clone();
            first.stage = Stage::RequestReceived;
            out.push(first.render());
        }
        out.push(event.render());
        return;
    }
    let roll = g.unit();
    let node_index = g.below(world.nodes.len());
    let node = world.nodes[node_index].clone();
    let node_ip = node.trim_start_matches("ip-").trim_end_matches(".ec2.internal").replace('-', ".");
    let mut event = if roll < 0.34 {
        let mut e = base(
            user(&format!("system:node:{node}"), &["system:nodes", "system:authenticated"]),
            "update",
            obj("leases", "coordination.k8s.io", Some("kube-node-lease"), Some(node.clone())),
            KUBELET_UA,
            node_ip,
        );
        e.annotations =
            vec![("authorization.k8s.io/decision", "allow".to_owned()), ("authorization.k8s.io/reason", String::new())];
        e
    } else if roll < 0.46 {
        let (verb, resource) =
            *g.pick(&[("get", "configmaps"), ("get", "secrets"), ("patch", "nodes"), ("get", "pods")]);
        let namespace = if resource == "nodes" { None } else { Some(*g.pick(&NAMESPACES)) };
        let name = if resource == "nodes" { node.clone() } else { format!("{}-config", g.pick(&DEPLOYMENTS)) };
        let mut object = obj(resource, "", namespace, Some(name));
        if resource == "nodes" {
            object.subresource = Some("status");
        }
        base(
            user(&format!("system:node:{node}"), &["system:nodes", "system:authenticated"]),
            verb,
            object,
            KUBELET_UA,
            node_ip,
        )
    } else if roll < 0.58 {
        let (name, ua, username) = *g.pick(&[
            ("kube-controller-manager", KCM_UA, "system:kube-controller-manager"),
            ("kube-scheduler", SCHED_UA, "system:kube-scheduler"),
        ]);
        let verb = if g.chance(0.8) { "update" } else { "get" };
        base(
            user(username, &["system:authenticated"]),
            verb,
            obj("leases", "coordination.k8s.io", Some("kube-system"), Some(name.to_owned())),
            ua,
            "172.16.41.8".to_owned(),
        )
    } else if roll < 0.70 {
        let controller =
            *g.pick(&["replicaset-controller", "endpointslice-controller", "deployment-controller", "job-controller"]);
        let (resource, group) = match controller {
            "replicaset-controller" => ("replicasets", "apps"),
            "endpointslice-controller" => ("endpointslices", "discovery.k8s.io"),
            "deployment-controller" => ("deployments", "apps"),
            _ => ("jobs", "batch"),
        };
        let mut object =
            obj(resource, group, Some(*g.pick(&NAMESPACES)), Some(format!("{}-{}", g.pick(&DEPLOYMENTS), g.hex(10))));
        object.subresource = if resource == "endpointslices" { None } else { Some("status") };
        let mut e = base(
            user(
                &format!("system:serviceaccount:kube-system:{controller}"),
                &["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"],
            ),
            "update",
            object,
            &format!(
                "kube-controller-manager/v1.31.2 (linux/amd64) kubernetes/5864a46/system:serviceaccount:kube-system:{controller}"
            ),
            "172.16.41.8".to_owned(),
        );
        if g.chance(0.02) {
            e.status_code = 409;
        }
        e
    } else if roll < 0.76 {
        let mut e = base(
            user("system:kube-scheduler", &["system:authenticated"]),
            "create",
            obj(
                "pods",
                "",
                Some(*g.pick(&NAMESPACES)),
                Some(format!("{}-{}-{}", g.pick(&DEPLOYMENTS), g.hex(10), g.lower_alnum(5))),
            ),
            SCHED_UA,
            "172.16.41.8".to_owned(),
        );
        if let Some(object) = e.object_ref.as_mut() {
            object.subresource = Some("binding");
        }
        e.request_uri = e.object_ref.as_ref().map_or_else(String::new, K8sObject::uri_path);
        e.status_code = 201;
        e
    } else if roll < 0.84 {
        let (username, ua, resource, group) = *g.pick(&[
            (
                "system:serviceaccount:kube-system:coredns",
                "coredns/v1.11.3 (linux/amd64) kubernetes/0d7a4e4",
                "endpointslices",
                "discovery.k8s.io",
            ),
            ("system:serviceaccount:monitoring:prometheus-k8s", "Prometheus/2.55.1", "pods", ""),
            ("system:serviceaccount:monitoring:prometheus-k8s", "Prometheus/2.55.1", "endpoints", ""),
        ]);
        let mut e = base(
            user(username, &["system:serviceaccounts", "system:authenticated"]),
            if g.chance(0.5) { "watch" } else { "list" },
            obj(resource, group, None, None),
            ua,
            format!("10.42.{}.{}", g.range_i64(0, 15), g.range_i64(2, 250)),
        );
        e.request_uri = format!(
            "{}?allowWatchBookmarks=true&resourceVersion={}&watch=true",
            e.request_uri,
            g.range_u64(80_000_000, 99_000_000)
        );
        e
    } else if roll < 0.93 {
        let verb = *g.pick(&["get", "list", "patch", "get"]);
        let namespace = *g.pick(&NAMESPACES);
        let name = (verb != "list").then(|| (*g.pick(&DEPLOYMENTS)).to_owned());
        let mut e = base(
            user(
                "system:serviceaccount:argocd:argocd-application-controller",
                &["system:serviceaccounts", "system:serviceaccounts:argocd", "system:authenticated"],
            ),
            verb,
            obj("deployments", "apps", Some(namespace), name),
            "argocd-application-controller/v2.13.1 (linux/amd64) kubernetes/$Format",
            format!("10.42.{}.{}", g.range_i64(0, 15), g.range_i64(2, 250)),
        );
        if verb == "list" {
            e.request_uri.push_str("?limit=500");
        }
        e
    } else {
        let verb = *g.pick(&["get", "update", "list"]);
        let name = (verb != "list").then(|| format!("payments-{}", g.lower_alnum(5)));
        base(
            user(
                "system:serviceaccount:payments:payments-operator",
                &["system:serviceaccounts", "system:serviceaccounts:payments", "system:authenticated"],
            ),
            verb,
            obj("configmaps", "", Some("payments"), name),
            "Go-http-client/2.0",
            format!("10.42.{}.{}", g.range_i64(0, 15), g.range_i64(2, 250)),
        )
    };
    if event.annotations.is_empty() {
        event.annotations =
            vec![("authorization.k8s.io/decision", "allow".to_owned()), ("authorization.k8s.io/reason", String::new())];
    }
    out.push(event.render());
}
