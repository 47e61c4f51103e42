//! py9tor parity: a py9tor `config.json` runs unchanged; rsnapshot targets are mutually
//! exclusive and the longest pending interval runs first (yearly > monthly > weekly > daily).

mod common;

use std::time::Duration;

use common::{Env, control_json, run, wait_until};

#[test]
fn py9tor_targets_run_with_rsnapshot_priority() {
    let env = Env::new();
    let order = env.path("order");
    let target = |interval: &str, pre: &str| {
        format!(
            "\"rsnap-{interval}\": {{\"class\": \"py9tor.worker.LocalExecutor\", \"handler\": \"py9tor.handlers.rsnapshot\", \"interval\": \"{interval}\", \"attrs\": {{\"args\": [\"sh\", \"-c\", \"{pre}echo {interval} >> {}\"]}}}}",
            order.display()
        )
    };
    let cfg = env.path("config.json");
    std::fs::write(
        &cfg,
        format!(
            "{{\n  \"host\": \"localhost\",\n  \"port\": 1234,\n  \"targets\": {{\n    {},\n    {},\n    {},\n    {},\n    \"dummy\": {{\"class\": \"py9tor.worker.DummyExecutor\", \"handler\": \"py9tor.handlers.cardinality\", \"instances\": 1, \"attrs\": {{\"time\": 0.1}}}}\n  }}\n}}\n",
            target("yearly", "sleep 1.5; "),
            target("daily", ""),
            target("weekly", ""),
            target("monthly", "")
        ),
    )
    .unwrap();
    let sock = env.socket();
    let sock_s = sock.to_str().unwrap().to_string();
    let port = env.port.to_string();
    let run_dir = env.path("run");
    let state = env.path("state");
    let mut d = env.spawn(
        &cfg,
        &[
            "--pid-file-dir",
            run_dir.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
            "--socket",
            &sock_s,
            "--metrics-addr",
            "127.0.0.1",
            "--metrics-port",
            &port,
        ],
    );
    d.wait_ready(&sock);
    assert!(
        run(&["trigger", "rsnap-yearly", "--socket", &sock_s])
            .status
            .success()
    );
    wait_until(Duration::from_secs(5), "yearly to run", || {
        control_json(&sock, "/api/v1/jobs/rsnap-yearly")["state"] == "running"
    });
    for t in ["rsnap-daily", "rsnap-weekly", "rsnap-monthly"] {
        let o = run(&["trigger", t, "--socket", &sock_s]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    // While yearly runs, the others wait (the group is mutually exclusive).
    let jobs = control_json(&sock, "/api/v1/jobs");
    let running = jobs
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["state"] == "running")
        .count();
    assert_eq!(running, 1, "{jobs:#}");
    wait_until(Duration::from_secs(15), "all four runs", || {
        std::fs::read_to_string(&order)
            .map(|s| s.lines().count() == 4)
            .unwrap_or(false)
    });
    assert_eq!(
        std::fs::read_to_string(&order).unwrap(),
        "yearly\nmonthly\nweekly\ndaily\n"
    );
    // `trigger --wait` returns the run's result as exit code.
    let o = run(&["trigger", "dummy", "--wait", "--socket", &sock_s]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["run"]["result"], "success");
    // The jobs table of the CLI lists every target.
    let o = run(&["jobs", "--socket", &sock_s]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.lines().next().unwrap().starts_with("JOB"), "{out}");
    assert_eq!(out.lines().count(), 6, "{out}");
    d.signal("TERM");
    assert!(
        d.wait_exit(Duration::from_secs(10))
            .expect("exit")
            .success()
    );
}
