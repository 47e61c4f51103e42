//! Daemon tests: the real binary, real signals, real rsync, real HTTP and Unix sockets.

mod common;

use std::time::{Duration, Instant};

use common::{
    Env, control, control_json, http_get, metric, pids_with_cmdline, require_rsync, run,
    wait_until, write_random,
};

fn history(env: &Env, job: &str) -> Vec<serde_json::Value> {
    control_json(&env.socket(), &format!("/api/v1/runs?job={job}&limit=100"))
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn job_state(env: &Env, job: &str) -> String {
    let s = control_json(&env.socket(), &format!("/api/v1/jobs/{job}"));
    s["state"].as_str().unwrap_or("").to_string()
}

#[test]
fn sighup_while_busy_queues_exactly_one_run() {
    let env = Env::new();
    let cfg = env.write_config(
        "jobs:\n  - id: slow\n    actions:\n      - {action: command, id: nap, command: sleep, args: [\"2.5\"]}\n",
    );
    let mut d = env.start(&cfg);
    d.signal("HUP");
    wait_until(Duration::from_secs(10), "the first run to start", || {
        job_state(&env, "slow") == "running"
    });
    for _ in 0..3 {
        d.signal("HUP");
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_until(Duration::from_secs(5), "the queued run", || {
        let s = control_json(&env.socket(), "/api/v1/jobs/slow");
        s["state"] == "running" && s["queued_requests"] == 3
    });
    let (_, m) = http_get(env.metrics_port(), "/metrics");
    assert_eq!(
        metric(&m, "rdsync_director_job_running", &["job=\"slow\""]),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        metric(&m, "rdsync_director_job_queued", &["job=\"slow\""]),
        Some(1.0),
        "{m}"
    );
    wait_until(Duration::from_secs(15), "two finished runs", || {
        history(&env, "slow").len() >= 2
    });
    // Nothing else may start: give a would-be third run time to appear.
    std::thread::sleep(Duration::from_millis(1200));
    let h = history(&env, "slow");
    assert_eq!(h.len(), 2, "expected exactly 2 runs, got {h:#?}");
    assert!(
        h.iter()
            .all(|r| r["trigger"] == "signal" && r["result"] == "success"),
        "{h:#?}"
    );
    assert_eq!(h[0]["coalesced"], 0);
    assert_eq!(
        h[1]["coalesced"], 2,
        "the 3 SIGHUPs while busy are one queued run: {h:#?}"
    );
    assert_eq!(job_state(&env, "slow"), "idle");
    let (_, m) = http_get(env.metrics_port(), "/metrics");
    assert_eq!(
        metric(
            &m,
            "rdsync_director_job_runs_total",
            &["job=\"slow\"", "trigger=\"signal\"", "result=\"success\""]
        ),
        Some(2.0),
        "{m}"
    );
    assert_eq!(
        metric(
            &m,
            "rdsync_director_missed_runs_total",
            &["job=\"slow\"", "reason=\"overlap\""]
        ),
        Some(2.0)
    );
    // rsyncdirector's counter: one per instance run (the queued run follows directly).
    assert!(
        metric(&m, "runs_completed_total", &["rsync_id=\"t\""]).unwrap_or(0.0) >= 1.0,
        "{m}"
    );
    d.signal("TERM");
    let st = d
        .wait_exit(Duration::from_secs(10))
        .expect("daemon did not exit on SIGTERM");
    assert!(st.success(), "exit status {st:?}; log:\n{}", d.log_text());
}

#[test]
fn sigterm_during_slow_sync_stops_rsync_releases_lock_and_exits_zero() {
    require_rsync();
    let env = Env::new();
    let src = env.path("src");
    std::fs::create_dir_all(&src).unwrap();
    write_random(&src.join("big.bin"), 8 << 20);
    let dst = env.path("dst-slow");
    let lock = env.path("job.lock");
    let cfg = env.write_config(&format!(
        "jobs:\n  - id: slow_sync\n    lock_files:\n      - {{type: local, path: {lock}}}\n    actions:\n      - action: sync\n        id: big\n        source: {src}/\n        dest: {dst}/\n        opts: [\"-a\", \"--bwlimit=64\"]\n",
        lock = lock.display(),
        src = src.display(),
        dst = dst.display()
    ));
    let mut d = env.start(&cfg);
    let (st, body) = control(
        &env.socket(),
        "POST",
        "/api/v1/jobs/slow_sync/run",
        Some("{}"),
    )
    .unwrap();
    assert_eq!(st, 202, "{body}");
    let needle = dst.display().to_string();
    wait_until(Duration::from_secs(10), "rsync to start", || {
        !pids_with_cmdline(&needle).is_empty()
    });
    assert!(lock.exists(), "the lock file must exist while the job runs");
    assert_eq!(
        std::fs::read_to_string(&lock).unwrap(),
        d.pid().to_string(),
        "lock content = our pid (upstream format)"
    );
    let locks = control_json(&env.socket(), "/api/v1/locks");
    assert_eq!(locks[0]["job"], "slow_sync", "{locks}");
    assert_eq!(locks[0]["lock"], lock.display().to_string(), "{locks}");
    let (_, m) = http_get(env.metrics_port(), "/metrics");
    assert_eq!(
        metric(&m, "rdsync_director_lock_held", &["job=\"slow_sync\""]),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        metric(&m, "lock_files", &["job_id=\"slow_sync\""]),
        Some(1.0)
    );
    // Let the transfer really start.
    std::thread::sleep(Duration::from_millis(700));
    let t0 = Instant::now();
    d.signal("TERM");
    // stop_grace is 3s; allow startup slack but far less than the transfer would take (~2 min).
    let st = d
        .wait_exit(Duration::from_secs(8))
        .expect("daemon did not exit within the grace period");
    let took = t0.elapsed();
    assert!(st.success(), "exit status {st:?}; log:\n{}", d.log_text());
    assert!(took < Duration::from_secs(6), "took {took:?}");
    wait_until(Duration::from_secs(3), "rsync to be gone", || {
        pids_with_cmdline(&needle).is_empty()
    });
    assert!(!lock.exists(), "lock file left behind");
    assert!(!env.pid_file().exists(), "pid file left behind");
    assert!(!env.socket().exists(), "control socket left behind");
    // The run was recorded as cancelled, and rsync got SIGTERM first.
    let h = std::fs::read_to_string(env.path("state/history.jsonl")).unwrap();
    assert!(h.contains("\"result\":\"cancelled\""), "{h}");
    let log = d.log_text();
    assert!(
        log.contains("system rsync"),
        "the daemon must say it uses the system rsync: {log}"
    );
}

#[test]
fn metrics_show_counts_and_transfer_bytes() {
    require_rsync();
    let env = Env::new();
    let src = env.path("src");
    std::fs::create_dir_all(&src).unwrap();
    write_random(&src.join("a.bin"), 300_000);
    std::fs::write(src.join("b.txt"), "hello\n").unwrap();
    let dst = env.path("dst");
    let cfg = env.write_config(&format!(
        "jobs:\n  - id: copy\n    actions:\n      - {{action: sync, id: files, source: {src}/, dest: {dst}/, opts: [\"-a\"]}}\n      - {{action: command, id: partial, command: sh, args: [\"-c\", \"'exit 24'\"], ok_exit_codes: [0, 24]}}\n",
        src = src.display(),
        dst = dst.display()
    ));
    let mut d = env.start(&cfg);
    let sock = env.socket();
    let sock = sock.to_str().unwrap();
    for _ in 0..2 {
        let o = run(&["trigger", "copy", "--wait", "--socket", sock]);
        assert!(
            o.status.success(),
            "trigger --wait failed: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    assert_eq!(
        std::fs::read(dst.join("a.bin")).unwrap(),
        std::fs::read(src.join("a.bin")).unwrap()
    );
    let (st, m) = http_get(env.metrics_port(), "/metrics");
    assert_eq!(st, 200);
    let l = ["job=\"copy\"", "action=\"files\"", "director=\"t\""];
    assert_eq!(
        metric(
            &m,
            "rdsync_director_job_runs_total",
            &["job=\"copy\"", "trigger=\"api\"", "result=\"success\""]
        ),
        Some(2.0),
        "{m}"
    );
    let sent = metric(&m, "rdsync_director_sync_bytes_sent_total", &l).expect("bytes sent");
    assert!(sent >= 300_000.0, "sent {sent}");
    assert!(metric(&m, "rdsync_director_sync_bytes_received_total", &l).unwrap() > 0.0);
    // The first run copies both files, the second nothing.
    assert_eq!(
        metric(&m, "rdsync_director_sync_files_transferred_total", &l),
        Some(2.0),
        "{m}"
    );
    assert!(metric(&m, "rdsync_director_sync_literal_bytes_total", &l).unwrap() >= 300_000.0);
    assert_eq!(
        metric(&m, "rdsync_director_sync_last_total_file_size_bytes", &l),
        Some(300_006.0)
    );
    assert!(
        metric(
            &m,
            "rdsync_director_job_last_success_timestamp_seconds",
            &["job=\"copy\""]
        )
        .unwrap()
            > 1.7e9
    );
    assert_eq!(
        metric(&m, "rdsync_director_job_last_exit_code", &["job=\"copy\""]),
        Some(24.0)
    );
    assert_eq!(
        metric(&m, "rdsync_director_job_running", &["job=\"copy\""]),
        Some(0.0)
    );
    // rsyncdirector-compatible names.
    assert_eq!(
        metric(&m, "job_duration_seconds_count", &["job_id=\"copy\""]),
        Some(2.0),
        "{m}"
    );
    assert_eq!(metric(&m, "lock_files", &["job_id=\"copy\""]), Some(0.0));
    assert!(m.contains("rdsync_director_build_info{"), "{m}");
    // History and logs through the CLI.
    let o = run(&["history", "--job", "copy", "--socket", sock]);
    let h: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let runs = h.as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["actions"][0]["stats"]["files_transferred"], 2);
    let run_id = runs[0]["run_id"].as_str().unwrap();
    let o = run(&["logs", run_id, "--socket", sock]);
    let log = String::from_utf8_lossy(&o.stdout);
    assert!(log.contains("Total bytes sent:"), "{log}");
    assert!(log.contains("accepted by ok_exit_codes"), "{log}");
    d.signal("INT");
    assert!(
        d.wait_exit(Duration::from_secs(10))
            .expect("exit")
            .success()
    );
}

#[test]
fn two_daemons_with_the_same_id_cannot_both_run() {
    let env = Env::new();
    let cfg = env.write_config(
        "jobs:\n  - id: j\n    actions:\n      - {action: command, command: /bin/true}\n",
    );
    let mut a = env.start(&cfg);
    let pid_before = std::fs::read_to_string(env.pid_file()).unwrap();
    assert_eq!(pid_before, a.pid().to_string());
    // Same id and pid dir; a different metrics port so the pid file is what stops it.
    let other = "0".to_string();
    let mut b = env.spawn(
        &cfg,
        &[
            "--metrics-port",
            &other,
            "--socket",
            env.path("run/other.sock").to_str().unwrap(),
        ],
    );
    let st = b
        .wait_exit(Duration::from_secs(10))
        .expect("second daemon kept running");
    assert_eq!(st.code(), Some(1));
    let log = b.log_text();
    assert!(log.contains("already running"), "{log}");
    assert!(
        log.contains(&a.pid().to_string()),
        "the message names the holder: {log}"
    );
    // The refused start must not have touched the first daemon's pid file (upstream bug B2).
    assert_eq!(std::fs::read_to_string(env.pid_file()).unwrap(), pid_before);
    assert!(a.child.try_wait().unwrap().is_none(), "first daemon died");
    control_json(&env.socket(), "/api/v1/status");
    a.signal("TERM");
    assert!(a.wait_exit(Duration::from_secs(10)).unwrap().success());
    assert!(!env.pid_file().exists());
}

#[test]
fn metrics_port_in_use_is_fatal() {
    let env = Env::new();
    let hold = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = hold.local_addr().unwrap().port().to_string();
    let cfg = env.write_config("jobs: []\n");
    let mut d = env.spawn(&cfg, &["--metrics-port", &busy]);
    let st = d
        .wait_exit(Duration::from_secs(10))
        .expect("daemon hung on a busy metrics port");
    assert_eq!(st.code(), Some(1));
    let log = d.log_text();
    assert!(log.contains("cannot bind the metrics endpoint"), "{log}");
    assert!(
        !env.pid_file().exists(),
        "pid file left behind after a failed start"
    );
}

#[test]
fn dry_run_changes_nothing() {
    require_rsync();
    let env = Env::new();
    let src = env.path("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), "x").unwrap();
    let dst = env.path("dst");
    std::fs::create_dir_all(&dst).unwrap();
    let marker = env.path("marker");
    let lock = env.path("dry.lock");
    let cfg = env.write_config(&format!(
        "jobs:\n  - id: j\n    lock_files: [{{type: local, path: {lock}}}]\n    actions:\n      - {{action: sync, source: {src}/, dest: {dst}/, opts: [\"-a\"]}}\n      - {{action: command, command: touch, args: [{marker}]}}\n",
        lock = lock.display(),
        src = src.display(),
        dst = dst.display(),
        marker = marker.display()
    ));
    let o = run(&[
        "run",
        "--config",
        cfg.to_str().unwrap(),
        "--once",
        "--dry-run",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("DRY RUN"), "{err}");
    assert!(err.contains("dry-run: would run action"), "{err}");
    assert_eq!(
        std::fs::read_dir(&dst).unwrap().count(),
        0,
        "rsync wrote despite --dry-run"
    );
    assert!(!marker.exists(), "the command ran despite --dry-run");
    assert!(!lock.exists());
    assert!(
        !env.path("state").exists(),
        "state written despite --dry-run"
    );
}

#[test]
fn once_reports_failures_timeouts_retries_and_block_timeouts() {
    let env = Env::new();
    let block = env.path("block");
    std::fs::write(&block, "1").unwrap();
    let cfg = env.write_config(&format!(
        "jobs:\n  - id: fails\n    actions:\n      - {{action: command, command: \"false\"}}\n      - {{action: command, id: never, command: touch, args: [{never}]}}\n  - id: times_out\n    kill_grace: 1s\n    actions:\n      - {{action: command, id: nap, command: sleep, args: [\"30\"], timeout: 0.5, retries: 1, retry_wait: 0.1}}\n  - id: job_timeout\n    timeout: 1\n    kill_grace: 1s\n    actions:\n      - {{action: command, command: sleep, args: [\"30\"], retries: 3, retry_wait: 0.1}}\n  - id: blocked\n    blocks_on: [{{type: local, path: {block}, wait_time: 0.2, timeout: 1}}]\n    actions:\n      - {{action: command, command: /bin/true}}\n",
        never = env.path("never").display(),
        block = block.display()
    ));
    let c = cfg.to_str().unwrap();
    let t0 = Instant::now();
    let o = run(&["run", "--config", c, "--once", "--job", "fails"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        !env.path("never").exists(),
        "actions after a failure must not run"
    );

    let o = run(&["run", "--config", c, "--once", "--job", "times_out"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = run(&["run", "--config", c, "--once", "--job", "job_timeout"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = run(&["run", "--config", c, "--once", "--job", "blocked"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "a block timeout skips the job: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(t0.elapsed() < Duration::from_secs(15));

    let h = std::fs::read_to_string(env.path("state/history.jsonl")).unwrap();
    let runs: Vec<serde_json::Value> = h
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let t = runs.iter().find(|r| r["job"] == "times_out").unwrap();
    assert_eq!(t["result"], "timeout");
    assert_eq!(
        t["actions"][0]["attempts"], 2,
        "one retry after the timeout"
    );
    assert!(
        t["actions"][0]["duration_seconds"].as_f64().unwrap() < 5.0,
        "{t}"
    );
    let jt = runs.iter().find(|r| r["job"] == "job_timeout").unwrap();
    assert_eq!(jt["result"], "timeout");
    assert_eq!(
        jt["actions"][0]["attempts"], 1,
        "no retry once the job is out of time: {jt}"
    );
    let secs = chrono_secs(&jt["finished_at"]) - chrono_secs(&jt["started_at"]);
    assert!((0.9..3.0).contains(&secs), "job timeout took {secs}s");
    let b = runs.iter().find(|r| r["job"] == "blocked").unwrap();
    assert_eq!(b["result"], "skipped_blocked");
    // The timeout is exact (upstream waited twice as long).
    let secs = (chrono_secs(&b["finished_at"]) - chrono_secs(&b["started_at"])).abs();
    assert!(
        (0.9..1.95).contains(&secs),
        "block wait took {secs}s (must be ~1s; upstream waited 2x)"
    );
    let f = runs.iter().find(|r| r["job"] == "fails").unwrap();
    assert_eq!(f["result"], "failure");
    assert_eq!(f["exit_code"], 1);
}

fn chrono_secs(v: &serde_json::Value) -> f64 {
    let s = v.as_str().unwrap();
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .timestamp_millis() as f64
        / 1000.0
}

#[test]
fn held_local_lock_skips_the_job_and_is_never_deleted() {
    let env = Env::new();
    let lock = env.path("held.lock");
    // Held by a live process (this test).
    std::fs::write(&lock, std::process::id().to_string()).unwrap();
    let ran = env.path("ran");
    let cfg = env.write_config(&format!(
        "jobs:\n  - id: j\n    lock_files: [{{type: local, path: {lock}}}]\n    actions:\n      - {{action: command, command: touch, args: [{ran}]}}\n",
        lock = lock.display(),
        ran = ran.display()
    ));
    let o = run(&["run", "--config", cfg.to_str().unwrap(), "--once"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!ran.exists());
    assert_eq!(
        std::fs::read_to_string(&lock).unwrap(),
        std::process::id().to_string(),
        "foreign lock modified"
    );
}

#[test]
fn cron_with_seconds_fires_and_control_api_works() {
    let env = Env::new();
    let cfg = env.write_config(
        "jobs:\n  - id: tick\n    schedule: \"* * * * * *\"\n    actions:\n      - {action: command, command: /bin/true}\n  - id: manual\n    actions:\n      - {action: command, command: sleep, args: [\"20\"]}\n",
    );
    let mut d = env.start(&cfg);
    wait_until(Duration::from_secs(10), "two cron runs", || {
        history(&env, "tick")
            .iter()
            .filter(|r| r["trigger"] == "cron")
            .count()
            >= 2
    });
    let s = control_json(&env.socket(), "/api/v1/status");
    assert_eq!(s["instance"], "t");
    let tick = s["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"] == "tick")
        .unwrap()
        .clone();
    assert!(tick["next_run"].is_string(), "{tick}");
    let (_, m) = http_get(env.metrics_port(), "/metrics");
    assert!(
        metric(
            &m,
            "rdsync_director_job_next_run_timestamp_seconds",
            &["job=\"tick\""]
        )
        .unwrap()
            > 1.7e9
    );

    // Pause stops cron runs; resume restarts them.
    let sock = env.socket();
    let sock_s = sock.to_str().unwrap();
    assert!(run(&["pause", "--socket", sock_s]).status.success());
    std::thread::sleep(Duration::from_millis(300));
    let n = history(&env, "tick").len();
    std::thread::sleep(Duration::from_millis(2200));
    let after = history(&env, "tick").len();
    assert!(
        after <= n + 1,
        "cron kept running while paused ({n} -> {after})"
    );
    assert!(run(&["resume", "--socket", sock_s]).status.success());
    wait_until(Duration::from_secs(5), "cron after resume", || {
        history(&env, "tick").len() > after
    });

    // Trigger and cancel a long manual run.
    let (st, body) = control(&sock, "POST", "/api/v1/jobs/manual/run", Some("{}")).unwrap();
    assert_eq!(st, 202, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let run_id = v["run_id"].as_str().unwrap().to_string();
    wait_until(Duration::from_secs(5), "manual run to start", || {
        job_state(&env, "manual") == "running"
    });
    let o = run(&["cancel", &run_id, "--socket", sock_s]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    wait_until(Duration::from_secs(10), "cancelled run", || {
        history(&env, "manual")
            .iter()
            .any(|r| r["run_id"] == run_id.as_str() && r["result"] == "cancelled")
    });
    // Unknown job: a clear error.
    let o = run(&["trigger", "nope", "--socket", sock_s]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown job"));

    // Reload: a broken file is refused and the old config kept; a good one is taken.
    let good = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, "version: 1\njobs: [\n").unwrap();
    let o = run(&["reload", "--socket", sock_s]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("old configuration kept"));
    std::fs::write(&cfg, good.replace("id: manual", "id: manual2")).unwrap();
    d.signal("USR1");
    wait_until(Duration::from_secs(5), "reloaded job list", || {
        control_json(&env.socket(), "/api/v1/jobs")
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["id"] == "manual2")
    });
    d.signal("TERM");
    assert!(
        d.wait_exit(Duration::from_secs(10))
            .expect("exit")
            .success()
    );
}

#[test]
fn catch_up_runs_a_missed_fire_from_persisted_state() {
    let env = Env::new();
    let cfg = env.write_config(
        "jobs:\n  - id: hourly\n    schedule: \"0 * * * *\"\n    catch_up: latest\n    actions:\n      - {action: command, command: /bin/true}\n",
    );
    // Pretend the last dispatched fire was two hours ago: the top of the last hour was missed.
    std::fs::create_dir_all(env.path("state")).unwrap();
    let two_h_ago = chrono::Utc::now() - chrono::Duration::hours(2);
    std::fs::write(
        env.path("state/state.json"),
        format!(
            "{{\"jobs\": {{\"hourly\": {{\"last_fire\": \"{}\"}}}}}}",
            two_h_ago.to_rfc3339()
        ),
    )
    .unwrap();
    let mut d = env.start(&cfg);
    wait_until(Duration::from_secs(10), "the catch-up run", || {
        history(&env, "hourly")
            .iter()
            .any(|r| r["trigger"] == "catchup" && r["result"] == "success")
    });
    assert_eq!(history(&env, "hourly").len(), 1, "exactly one catch-up run");
    d.signal("TERM");
    assert!(
        d.wait_exit(Duration::from_secs(10))
            .expect("exit")
            .success()
    );
}

#[test]
fn systemd_notify_ready_and_stopping_and_unit_file() {
    let env = Env::new();
    let nsock = env.path("notify.sock");
    let rx = std::os::unix::net::UnixDatagram::bind(&nsock).unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let cfg = env.write_config(
        "jobs:\n  - id: boot\n    run_on_start: true\n    actions:\n      - {action: command, command: /bin/true}\n  - id: yearly\n    schedule: \"0 0 1 1 *\"\n    jitter: 1h\n    actions:\n      - {action: command, command: /bin/true}\n",
    );
    let mut d = env.spawn_env(
        &cfg,
        &[],
        &[
            ("NOTIFY_SOCKET", nsock.to_str().unwrap()),
            ("WATCHDOG_USEC", "200000"),
        ],
    );
    let mut buf = [0u8; 512];
    let n = rx.recv(&mut buf).expect("no READY=1 from the daemon");
    let msg = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(msg.lines().any(|l| l == "READY=1"), "{msg}");
    // run_on_start ran once; the yearly job's next run carries its jitter (within 1h).
    wait_until(Duration::from_secs(10), "the run_on_start run", || {
        history(&env, "boot")
            .iter()
            .any(|r| r["trigger"] == "start" && r["result"] == "success")
    });
    let j = control_json(&env.socket(), "/api/v1/jobs/yearly");
    let next = chrono::DateTime::parse_from_rfc3339(j["next_run"].as_str().unwrap()).unwrap();
    let next_year = chrono::Datelike::year(&chrono::Utc::now()) + 1;
    let base =
        chrono::DateTime::parse_from_rfc3339(&format!("{next_year}-01-01T00:00:00Z")).unwrap();
    let off = next - base;
    assert!(
        off >= chrono::Duration::zero() && off < chrono::Duration::hours(1),
        "next {next} base {base}"
    );
    let n = rx.recv(&mut buf).expect("no watchdog ping");
    assert_eq!(String::from_utf8_lossy(&buf[..n]), "WATCHDOG=1");
    d.signal("TERM");
    loop {
        let n = rx.recv(&mut buf).expect("no STOPPING=1 from the daemon");
        let msg = String::from_utf8_lossy(&buf[..n]).to_string();
        if msg == "STOPPING=1" {
            break;
        }
        assert_eq!(msg, "WATCHDOG=1");
    }
    assert!(
        d.wait_exit(Duration::from_secs(10))
            .expect("exit")
            .success()
    );

    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/systemd/rdsync-director@.service"
    ))
    .unwrap();
    for line in [
        "Type=notify",
        "KillMode=mixed",
        "ExecReload=/bin/kill -USR1 $MAINPID",
        "EnvironmentFile=-/etc/rsyncdirector/rsyncdirector-%i.env",
    ] {
        assert!(unit.lines().any(|l| l == line), "unit lacks {line}");
    }
}

#[test]
fn rsync_stopped_by_an_outside_signal_is_recorded_as_cancelled() {
    require_rsync();
    let env = Env::new();
    let src = env.path("src");
    std::fs::create_dir_all(&src).unwrap();
    write_random(&src.join("big.bin"), 4 << 20);
    let dst = env.path("dst-hup");
    let cfg = env.write_config(&format!(
        "jobs:\n  - id: hup\n    actions:\n      - {{action: sync, id: s, source: {src}/, dest: {dst}/, opts: [\"-a\", \"--bwlimit=64\"], retries: 2}}\n",
        src = src.display(),
        dst = dst.display()
    ));
    let mut d = env.spawn(&cfg, &["--once"]);
    let needle = dst.display().to_string();
    wait_until(Duration::from_secs(10), "rsync to start", || {
        !pids_with_cmdline(&needle).is_empty()
    });
    std::thread::sleep(Duration::from_millis(500));
    // What `systemctl kill -s HUP` (without --kill-whom=main) does to the children.
    for pid in pids_with_cmdline(&needle) {
        let _ = std::process::Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status();
    }
    let st = d
        .wait_exit(Duration::from_secs(15))
        .expect("run --once did not finish");
    assert_eq!(st.code(), Some(1), "{}", d.log_text());
    let h = std::fs::read_to_string(env.path("state/history.jsonl")).unwrap();
    let r: serde_json::Value = serde_json::from_str(h.lines().last().unwrap()).unwrap();
    assert_eq!(r["result"], "cancelled", "{r:#}");
    assert_eq!(r["actions"][0]["outcome"], "signal", "{r:#}");
    assert_eq!(
        r["actions"][0]["attempts"], 1,
        "no retry after an outside signal: {r:#}"
    );
}

#[test]
fn rsync_path_selects_the_rsync_compatible_program() {
    require_rsync();
    let env = Env::new();
    let src = env.path("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), "data").unwrap();
    let dst = env.path("dst");
    let marker = env.path("wrapper-called");
    let wrapper = env.path("my-rsync");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$@\" >> {}\nexec rsync \"$@\"\n",
            marker.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let cfg = env.write_config(&format!(
        "rsync_path: {w}\njobs:\n  - id: j\n    actions:\n      - {{action: sync, id: s, source: {src}/, dest: {dst}/, opts: [\"-a\"]}}\n",
        w = wrapper.display(),
        src = src.display(),
        dst = dst.display()
    ));
    let o = run(&["check-config", cfg.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(&format!(
            "[sync ({})]: {} --stats -a",
            wrapper.display(),
            wrapper.display()
        )),
        "{out}"
    );
    let o = run(&["run", "--config", cfg.to_str().unwrap(), "--once"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(dst.join("f")).unwrap(), "data");
    let called = std::fs::read_to_string(&marker).unwrap();
    assert!(called.starts_with("--stats -a "), "{called}");
}

#[test]
fn sigterm_escalates_to_sigkill_after_the_grace() {
    let env = Env::new();
    // A child that ignores SIGTERM (stop_grace is 3s in the test header).
    let cfg = env.write_config(
        r#"jobs:
  - id: stubborn
    actions:
      - {action: command, command: sh, args: ["-c", "'trap \"\" TERM; exec sleep 37.25'"]}
"#,
    );
    let o = run(&["check-config", cfg.to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("[command (argv)]: sh -c"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let mut d = env.start(&cfg);
    assert!(
        run(&[
            "trigger",
            "stubborn",
            "--socket",
            env.socket().to_str().unwrap()
        ])
        .status
        .success()
    );
    wait_until(Duration::from_secs(10), "the stubborn child", || {
        !pids_with_cmdline("sleep 37.25").is_empty()
    });
    std::thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    d.signal("TERM");
    let st = d
        .wait_exit(Duration::from_secs(10))
        .expect("daemon did not exit");
    let took = t0.elapsed();
    assert!(st.success(), "{st:?}: {}", d.log_text());
    assert!(
        took >= Duration::from_millis(2800) && took < Duration::from_secs(7),
        "exit after {took:?}: SIGKILL must come after the 3s grace, not before"
    );
    assert!(
        pids_with_cmdline("sleep 37.25").is_empty(),
        "the child survived"
    );
    let runlog = std::fs::read_dir(env.path("state/runs"))
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect::<String>();
    assert!(runlog.contains("sending SIGKILL"), "{runlog}");
}

#[test]
fn notifiers_run_on_start_success_and_failure() {
    let env = Env::new();
    let out = env.path("notified");
    let cfg = env.write_config(&format!(
        r#"notify:
  rec:
    command: [sh, -c, 'echo "$RDSYNC_DIRECTOR_STATE $RDSYNC_DIRECTOR_JOB $RDSYNC_DIRECTOR_RESULT $RDSYNC_DIRECTOR_TRIGGER" >> {out}']
    states: [start, success, failure]
  broken:
    command: ["false"]
    states: [failure]
defaults:
  notify: [rec]
jobs:
  - id: good
    actions:
      - {{action: command, command: /bin/true}}
  - id: bad
    notify: [rec, broken]
    actions:
      - {{action: command, command: "false"}}
"#,
        out = out.display()
    ));
    let c = cfg.to_str().unwrap();
    let o = run(&["check-config", c]);
    let plan = String::from_utf8_lossy(&o.stdout);
    assert!(
        plan.contains("notify: rec on start,success,failure: sh -c"),
        "{plan}"
    );
    assert!(plan.contains("notify: broken on failure: false"), "{plan}");
    assert_eq!(
        run(&["run", "--config", c, "--once", "--job", "good"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        run(&["run", "--config", c, "--once", "--job", "bad"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "start good running api\nsuccess good success api\nstart bad running api\nfailure bad failure api\n"
    );
    // A failing notifier is logged, never fatal; nothing runs in dry-run mode.
    let logs: String = std::fs::read_dir(env.path("state/runs"))
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert!(logs.contains("notifier broken failed (failure)"), "{logs}");
    assert!(
        run(&["run", "--config", c, "--once", "--job", "good", "--dry-run"])
            .status
            .success()
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 4);
    // An unknown notifier name is a located config error.
    std::fs::write(
        &cfg,
        std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("notify: [rec, broken]", "notify: [nope]"),
    )
    .unwrap();
    let o = run(&["check-config", c]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("unknown notifier \"nope\""),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
