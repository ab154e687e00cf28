//! Dependencies point down only (docs/design.md): the device-runner must build for Android,
//! so nothing host-only may reach it; the search engine must build without libtorch.
//! Read from Cargo.lock, so a new dependency edge that pulls tch, libtorch or adb in
//! (even transitively) fails here, not on a user's NDK build or a machine without
//! libtorch.

use std::collections::{BTreeMap, BTreeSet};

/// package name → names of its dependencies, from Cargo.lock.
fn lock_graph() -> BTreeMap<String, Vec<String>> {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock")).unwrap();
    let mut graph = BTreeMap::new();
    for block in lock.split("[[package]]").skip(1) {
        let name = block
            .lines()
            .find_map(|l| l.strip_prefix("name = "))
            .map(|n| n.trim_matches('"').to_string())
            .unwrap();
        let deps = match block.split_once("dependencies = [") {
            Some((_, rest)) => rest
                .split(']')
                .next()
                .unwrap()
                .split(',')
                .filter_map(|d| {
                    d.trim()
                        .trim_matches('"')
                        .split(' ')
                        .next()
                        .map(str::to_string)
                })
                .filter(|d| !d.is_empty())
                .collect(),
            None => Vec::new(),
        };
        graph.entry(name).or_insert_with(Vec::new).extend(deps);
    }
    graph
}

/// Everything `package` depends on, transitively, itself included.
fn closure(graph: &BTreeMap<String, Vec<String>>, package: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![package.to_string()];
    while let Some(p) = stack.pop() {
        if seen.insert(p.clone()) {
            stack.extend(graph.get(&p).cloned().unwrap_or_default());
        }
    }
    seen
}

#[test]
fn device_runner_pulls_in_nothing_host_only() {
    let seen = closure(&lock_graph(), "device-runner");
    assert!(
        seen.contains("wgpu") && seen.contains("ort"),
        "the graph was not read: {seen:?}"
    );
    for host_only in ["tch", "torch-sys", "adb_client", "profiler", "search"] {
        assert!(
            !seen.contains(host_only),
            "device-runner depends on {host_only}"
        );
    }
}

#[test]
fn the_search_engine_builds_without_libtorch() {
    let graph = lock_graph();
    let search = closure(&graph, "search");
    assert!(
        search.contains("lookup-tables"),
        "the graph was not read: {search:?}"
    );
    for heavy in [
        "tch",
        "torch-sys",
        "supernet",
        "device-runner",
        "profiler",
        "ort",
        "wgpu",
    ] {
        assert!(!search.contains(heavy), "search depends on {heavy}");
    }
    let lut = closure(&graph, "lookup-tables");
    for other in ["search", "device-runner", "profiler", "supernet", "tch"] {
        assert!(!lut.contains(other), "lookup-tables depends on {other}");
    }
    assert!(closure(&graph, "supernet").contains("tch"));
}

/// Issue 30: libtorch only where something trains. The `moga` binary starts in
/// milliseconds because its package reaches no libtorch; the `moga-torch` helper, which
/// `moga` hands the training commands to, is the one package that does (besides the
/// supernet crate itself).
#[test]
fn only_the_helper_links_libtorch() {
    let graph = lock_graph();
    let moga = closure(&graph, "moga");
    assert!(
        moga.contains("profiler"),
        "the graph was not read: {moga:?}"
    );
    for heavy in ["tch", "torch-sys", "supernet", "moga-torch"] {
        assert!(!moga.contains(heavy), "moga depends on {heavy}");
    }
    let users: BTreeSet<&String> = graph
        .iter()
        .filter(|(_, deps)| deps.iter().any(|d| d == "tch"))
        .map(|(name, _)| name)
        .collect();
    assert_eq!(
        users.into_iter().map(String::as_str).collect::<Vec<_>>(),
        ["moga-torch", "supernet"],
        "packages that use tch"
    );
}
