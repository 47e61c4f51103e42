//! Configuration and schedule tests against the real binary: the seed configs load unchanged and
//! plan, errors are located, cron tables give the right fire times.

mod common;

use common::{Env, run};

const SEEDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata");

fn seed(rel: &str) -> String {
    // The workspace sits next to shared/ (…/main and …/shared).
    let p = std::path::Path::new(SEEDS).join(rel);
    let alt = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/testdata")
        .join(rel);
    for c in [p, alt] {
        if c.exists() {
            return c.to_string_lossy().into_owned();
        }
    }
    panic!("seed config {rel} not found next to the workspace (expected shared/testdata)");
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Job 2 action 1: all its options are native, so the rdsync binary runs it (same arguments).
fn job2_action1() -> String {
    format!(
        "action sync-of-source-path [sync (native rdsync)]: {} --stats -av --delete --exclude .cache --exclude Downloads -e 'ssh -p 22000 -i /var/tmp/some-private-ssh-key' /source/path root@backup_a.example.com:/path/on/remote/host\n    engine: native rdsync\n",
        common::rdsync_bin().display()
    )
}

#[test]
fn rsyncdirector_seed_config_loads_and_plans() {
    let f = seed("rsyncdirector/rsyncdirector.yaml");
    let o = run(&[
        "check-config",
        &f,
        "--plan",
        "3",
        "--from",
        "2026-11-23T10:00:30Z",
    ]);
    let out = stdout(&o);
    assert!(
        o.status.success(),
        "check-config failed: {}{}",
        out,
        stderr(&o)
    );
    assert!(out.contains("rsyncdirector dialect"), "{out}");
    assert!(
        out.contains("instance \"my_rsyncdirector_instance\", 2 job(s)"),
        "{out}"
    );
    // "* * * * *": every minute, in the host zone; three fire times per job.
    assert_eq!(out.matches("  next: ").count(), 6, "{out}");
    // The documented private_ssh_key is honoured (upstream ignored it).
    assert!(
        out.contains(&job2_action1()),
        "job 2 action 1 resolved wrongly:\n{out}"
    );
    assert!(out.contains(
        "action command.sh [command (argv)]: /path/to/some/command.sh --arg1 arg1_val --arg2 arg2_val"
    ), "{out}");
    // -i over a remote shell is native (rsync's itemized lines, tests/remote_output.rs).
    assert!(out.contains(&format!(
        "action sync-some-other-path [sync (native rdsync)]: {} --stats -avi --delete -e 'ssh -p 22000 -i /var/tmp/some-private-ssh-key' /source/some/other/path root@backup_a.example.com:/some/other/path/on/remote/host\n    engine: native rdsync\n",
        common::rdsync_bin().display()
    )), "{out}");
    assert!(
        out.contains(
            "lock_file: backup_a.example.com:/var/run/rsyncdirector/local_desktop_to_backup_a"
        ),
        "{out}"
    );
    assert!(out.contains("blocks_on: backup_a.example.com:/var/run/some-block-file (poll every 300s, timeout 3600s)"), "{out}");
    assert!(
        out.contains("blocks_on: /lockfile/on/localhost (poll every 300s, timeout none)"),
        "{out}"
    );
    assert!(
        out.contains("pid file /var/run/rsyncdirector/rsyncdirector-my_rsyncdirector_instance.pid"),
        "{out}"
    );
}

#[test]
fn legacy_syncs_seed_config_loads_and_plans() {
    let f = seed("rsyncdirector/rsyncdirector-v0-syncs.yaml");
    let o = run(&["check-config", &f, "--plan", "1"]);
    let out = stdout(&o);
    assert!(o.status.success(), "{}{}", out, stderr(&o));
    let rdsync = common::rdsync_bin();
    assert!(out.contains(&format!(
        "action sync-1 [sync (native rdsync)]: {} --stats -av --delete --exclude .cache --exclude Downloads /source/path /path/on/local/host\n    engine: native rdsync\n", rdsync.display()
    )), "{out}");
    assert!(out.contains(&format!(
        "action sync-1 [sync (native rdsync)]: {} --stats -av --delete --exclude .cache --exclude Downloads -e 'ssh -p 22000 -i /var/tmp/some-private-ssh-key' /source/path root@backup_a.example.com:/path/on/remote/host\n    engine: native rdsync\n", rdsync.display()
    )), "{out}");
}

#[test]
fn py9tor_seed_config_loads_and_plans() {
    let f = seed("py9tor/config.json");
    let o = run(&["check-config", &f]);
    let out = stdout(&o);
    assert!(o.status.success(), "{}{}", out, stderr(&o));
    assert!(out.contains("py9tor dialect"), "{out}");
    assert!(out.contains("8 job(s)"), "{out}");
    assert!(
        out.contains("action rsnap-daily [command (argv)]: /usr/bin/rsnapshot daily"),
        "{out}"
    );
    assert!(
        out.contains("action dummyTarget [command (argv)]: sleep 10"),
        "{out}"
    );
    assert!(
        out.contains("action aLocal [command (argv)]: ls -l"),
        "{out}"
    );
    // aRemote has no port: ssh's default applies (no -p).
    assert!(out.contains(
        "action aRemote [command (argv)]: ssh -o BatchMode=yes -o ConnectTimeout=10 -i keyfile username@host-fqdn sh -s"
    ), "{out}");
    assert!(out.contains("group: rsnapshot"), "{out}");
}

#[test]
fn bad_configs_give_located_errors() {
    let env = Env::new();
    let p = env.path("bad.yaml");
    std::fs::write(
        &p,
        "rsync_id: x\ncron_schedule: \"* * * * *\"\njobs:\n  - id: a\n    type: local\n    actions:\n      - action: frobnicate\n        command: true\n",
    )
    .unwrap();
    let o = run(&["check-config", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("{}:7:", p.display())),
        "error not located at line 7: {err}"
    );
    assert!(err.contains("frobnicate"), "{err}");

    std::fs::write(&p, "rsync_id: x\ncron_schedule: \"61 * * * *\"\njobs: []\n").unwrap();
    let o = run(&["check-config", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("{}:2:", p.display())),
        "cron error not located at line 2: {err}"
    );

    // Missing required key: located at the job.
    std::fs::write(
        &p,
        "rsync_id: x\ncron_schedule: \"* * * * *\"\njobs:\n  - type: local\n    actions: []\n",
    )
    .unwrap();
    let o = run(&["check-config", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("missing field `id`") && err.contains(&format!("{}:4:", p.display())),
        "{err}"
    );

    // A duplicate job id points at the second definition.
    std::fs::write(
        &p,
        "rsync_id: x\ncron_schedule: \"* * * * *\"\njobs:\n  - id: dup\n    type: local\n    actions: [{action: command, command: /bin/true}]\n  - id: dup\n    type: local\n    actions: [{action: command, command: /bin/true}]\n",
    )
    .unwrap();
    let o = run(&["check-config", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("{}:7:", p.display())) && err.contains("duplicate job id"),
        "{err}"
    );

    // JSON: the syntax error is located too.
    let j = env.path("bad.json");
    std::fs::write(
        &j,
        "{\n  \"targets\": {\n    \"a\": {\"class\": 3}\n  }\n}\n",
    )
    .unwrap();
    let o = run(&["check-config", j.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains(&format!("{}:3:", j.display())), "{err}");
}

#[test]
fn unknown_keys_warn_and_fail_when_strict() {
    let env = Env::new();
    let p = env.path("c.yaml");
    std::fs::write(
        &p,
        "rsync_id: x\ncron_schedule: \"0 3 * * *\"\njobs:\n  - id: a\n    type: local\n    bogus_key: 1\n    actions:\n      - action: command\n        command: /bin/true\n",
    )
    .unwrap();
    let o = run(&["check-config", p.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "{}:6:5: warning: unknown key `jobs.0.bogus_key`",
            p.display()
        )),
        "{err}"
    );

    let o = run(&["check-config", p.to_str().unwrap(), "--strict"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "{}:6:5: unknown key `jobs.0.bogus_key`",
            p.display()
        )),
        "{err}"
    );
}

fn cron_next(expr: &str, tz: &str, from: &str, n: usize) -> Vec<String> {
    let o = run(&[
        "cron-next",
        expr,
        "--tz",
        tz,
        "--from",
        from,
        "-n",
        &n.to_string(),
    ]);
    assert!(o.status.success(), "cron-next {expr}: {}", stderr(&o));
    stdout(&o).lines().map(str::to_string).collect()
}

#[test]
fn cron_sunday_is_zero_and_seven() {
    // 2026-11-23 is a Monday; APScheduler (upstream) would have fired "0" on Monday.
    let want = vec!["2026-11-29T03:00:00+00:00", "2026-12-06T03:00:00+00:00"];
    assert_eq!(
        cron_next("0 3 * * 0", "UTC", "2026-11-23T00:00:00Z", 2),
        want
    );
    assert_eq!(
        cron_next("0 3 * * 7", "UTC", "2026-11-23T00:00:00Z", 2),
        want
    );
    assert_eq!(
        cron_next("0 3 * * sun", "UTC", "2026-11-23T00:00:00Z", 2),
        want
    );
}

#[test]
fn cron_day_of_month_or_day_of_week() {
    // Vixie: the 13th OR any Friday. December 2026: Fridays 4, 11, 18, 25; the 13th is a Sunday.
    assert_eq!(
        cron_next("0 0 13 * 5", "UTC", "2026-12-01T00:00:00Z", 5),
        vec![
            "2026-12-04T00:00:00+00:00",
            "2026-12-11T00:00:00+00:00",
            "2026-12-13T00:00:00+00:00",
            "2026-12-18T00:00:00+00:00",
            "2026-12-25T00:00:00+00:00",
        ]
    );
    // A day field starting with '*' is unrestricted: '*/2' keeps AND (odd days that are Mondays).
    let v = cron_next("0 0 */2 * 1", "UTC", "2026-11-24T00:00:00Z", 3);
    assert_eq!(
        v,
        vec![
            "2026-12-07T00:00:00+00:00",
            "2026-12-21T00:00:00+00:00",
            "2027-01-11T00:00:00+00:00",
        ]
    );
}

#[test]
fn cron_macros_and_zones() {
    assert_eq!(
        cron_next("@daily", "Europe/Rome", "2026-11-23T00:00:00Z", 2),
        vec!["2026-11-24T00:00:00+01:00", "2026-11-25T00:00:00+01:00"]
    );
    assert_eq!(
        cron_next("@hourly", "UTC", "2026-11-23T00:10:00Z", 1),
        vec!["2026-11-23T01:00:00+00:00"]
    );
    let o = run(&["cron-next", "0 0 3 * * *", "--tz", "UTC"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "6 fields must be rejected in the standard dialect"
    );
}

#[test]
fn cron_dst_transitions() {
    // Spring forward in New York on 2026-03-08: 02:30 does not exist, so it runs once at 03:00.
    assert_eq!(
        cron_next("30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", 3),
        vec![
            "2026-03-08T03:00:00-04:00",
            "2026-03-09T02:30:00-04:00",
            "2026-03-10T02:30:00-04:00",
        ]
    );
    // Fall back on 2026-11-01: 01:30 happens twice, the daily job runs once.
    assert_eq!(
        cron_next("30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z", 2),
        vec!["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"]
    );
}

#[test]
fn native_config_plans_per_job_schedules_in_their_zone() {
    let env = Env::new();
    let p = env.write_config(
        "defaults:\n  jitter: 0\njobs:\n  - id: rome\n    schedule: \"30 2 * * *\"\n    timezone: Europe/Rome\n    actions:\n      - {action: command, command: /bin/true}\n  - id: secs\n    schedule: \"*/10 * * * * *\"\n    actions:\n      - {action: command, command: \"echo $HOME\"}\n",
    );
    let o = run(&[
        "check-config",
        p.to_str().unwrap(),
        "--plan",
        "2",
        "--from",
        "2026-03-28T12:00:00Z",
    ]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    // Rome switches to summer time on 2026-03-29 (02:30 does not exist that night).
    assert!(out.contains("next: 2026-03-29T03:00:00+02:00"), "{out}");
    assert!(out.contains("next: 2026-03-30T02:30:00+02:00"), "{out}");
    assert!(out.contains("next: 2026-03-28T12:00:10+00:00"), "{out}");
    // `$HOME` needs a shell: that action runs through bash -c.
    assert!(
        out.contains("[command (bash -c)]: bash -c 'echo $HOME'"),
        "{out}"
    );
}

#[test]
fn apscheduler_dialect_keeps_upstream_reading_and_vixie_warns() {
    // APScheduler: 0 = Monday, and DOM AND DOW (Friday the 13th only).
    let o = run(&[
        "cron-next",
        "0 3 * * 0",
        "--apscheduler",
        "--tz",
        "UTC",
        "--from",
        "2026-11-23T00:00:00Z",
        "-n",
        "1",
    ]);
    assert_eq!(
        stdout(&o).trim(),
        "2026-11-23T03:00:00+00:00",
        "{}",
        stderr(&o)
    );
    let o = run(&[
        "cron-next",
        "0 0 13 * 4",
        "--apscheduler",
        "--tz",
        "UTC",
        "--from",
        "2026-01-01T00:00:00Z",
        "-n",
        "3",
    ]);
    assert_eq!(
        stdout(&o).lines().collect::<Vec<_>>(),
        vec![
            "2026-02-13T00:00:00+00:00",
            "2026-03-13T00:00:00+00:00",
            "2026-11-13T00:00:00+00:00"
        ],
        "{}",
        stderr(&o)
    );
    let o = run(&["cron-next", "0 0 * * 7", "--apscheduler", "--tz", "UTC"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "APScheduler rejects day of week 7"
    );

    let env = Env::new();
    let p = env.path("u.yaml");
    let body = "cron_schedule: \"0 3 * * 0\"\njobs:\n  - id: a\n    type: local\n    actions:\n      - {action: command, command: /bin/true}\n";
    std::fs::write(&p, format!("rsync_id: x\n{body}")).unwrap();
    let o = run(&[
        "check-config",
        p.to_str().unwrap(),
        "--plan",
        "1",
        "--from",
        "2026-11-23T00:00:00Z",
    ]);
    assert!(o.status.success());
    assert!(stderr(&o).contains("read 0 as Monday"), "{}", stderr(&o));
    std::fs::write(
        &p,
        format!("rsync_id: x\ntimezone: UTC\ncron_dialect: apscheduler\n{body}"),
    )
    .unwrap();
    let o = run(&[
        "check-config",
        p.to_str().unwrap(),
        "--plan",
        "1",
        "--from",
        "2026-11-23T00:00:00Z",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("Monday"), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("next: 2026-11-23T03:00:00+00:00"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn config_path_from_upstream_environment_variable() {
    let f = seed("rsyncdirector/rsyncdirector.yaml");
    let o = std::process::Command::new(common::bin())
        .args(["check-config", "--plan", "1"])
        .env_remove("RDSYNC_DIRECTOR_CONFIG")
        .env("RSYNCMANANGER_CONFIG", &f)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains(&f), "{}", stdout(&o));
    let o = std::process::Command::new(common::bin())
        .args(["check-config"])
        .env_remove("RDSYNC_DIRECTOR_CONFIG")
        .env_remove("RSYNCMANANGER_CONFIG")
        .env_remove("RSYNCMANAGER_CONFIG")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no configuration"), "{}", stderr(&o));
}
