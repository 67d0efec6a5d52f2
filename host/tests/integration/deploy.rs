//! What can be checked of the docker-compose stack without a Docker engine: the compose file is
//! valid YAML with the services the stack needs, the host is built from the repo's Dockerfile
//! and runs the checked-in config, and that config names the compose services it talks to.

use crate::common::repo_root;
use live_shopper::config::{Overrides, Settings, SourceSettings};
use std::process::Command;

/// The compose file as JSON, parsed by Python's YAML loader.
fn compose() -> serde_json::Value {
    let path = repo_root().join("docker-compose.yaml");
    let out = Command::new("python3")
        .args(["-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))"])
        .arg(&path)
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_compose_stack_has_kafka_redis_the_host_and_a_redis_ui() {
    let c = compose();
    let services = c["services"].as_object().unwrap();
    for name in ["kafka", "kafka-topics", "redis", "live-shopper", "redis-ui"] {
        assert!(services.contains_key(name), "service {name} missing");
    }
    let kafka = &services["kafka"]["environment"];
    assert_eq!(kafka["KAFKA_PROCESS_ROLES"], "broker,controller", "KRaft, no ZooKeeper");
    let host = &services["live-shopper"];
    assert_eq!(host["build"], ".");
    let mount = host["volumes"][0].as_str().unwrap();
    let (from, to) = mount.split_once(':').unwrap();
    assert_eq!(from, "./deploy/live-shopper.toml");
    let to = to.trim_end_matches(":ro");
    let dockerfile = std::fs::read_to_string(repo_root().join("Dockerfile")).unwrap();
    assert!(dockerfile.contains(&format!("\"--config\", \"{to}\"")), "the image runs the mounted config");
    let topics = services["kafka-topics"]["command"][0].as_str().unwrap();

    let settings =
        Settings::load(Some(&repo_root().join("deploy/live-shopper.toml")), Overrides::default()).unwrap();
    let SourceSettings::Kafka(k) = settings.source else { panic!("the stack consumes Kafka") };
    assert_eq!(k.brokers, "kafka:9092", "the compose broker's internal listener");
    assert!(kafka["KAFKA_LISTENERS"].as_str().unwrap().contains("INTERNAL://:9092"));
    for topic in k.topics.iter().chain([&k.dead_letter_topic, &k.plugin_dead_letter_topic]) {
        assert!(topics.contains(&format!("--topic {topic} ")), "topic {topic} is created");
    }
    assert_eq!(settings.redis_url.as_deref(), Some("redis://redis:6379"));
    assert_eq!(settings.http_addr.port(), 8080);
    assert!(host["ports"][0].as_str().unwrap().ends_with(":8080"));
}
